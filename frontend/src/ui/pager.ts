// Previous / Page N of M / Next, for the paged lists (tasks, jobs).
import { h } from "./dom";

/** Fill ``pager`` with buttons for ``pages`` pages (nothing when there is one); ``go`` is told the page. */
export function showPager(pager: HTMLElement, page: number, pages: number, go: (page: number) => void): void {
  pager.replaceChildren();
  if (pages <= 1) return;
  const turn = (label: string, to: number): HTMLButtonElement =>
    h("button", { type: "button", disabled: to < 1 || to > pages, onclick: () => go(to) }, label);
  pager.append(turn("Previous", page - 1), h("span", {}, `Page ${page} of ${pages}`), turn("Next", page + 1));
}
