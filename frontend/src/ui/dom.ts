// A tiny element builder. Text always goes in as text nodes (never HTML), so a file name or a comment
// cannot become markup on the page.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, "").toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element: Element): void {
  while (element.firstChild) element.removeChild(element.firstChild);
}

/** Marks which screen is showing and that its data has loaded: end-to-end tests wait on this. */
export function markView(name: string): void {
  document.documentElement.dataset["view"] = name;
}

export function formatDate(value: string | null | undefined): string {
  return value ?? "no date";
}

export function formatHectares(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return `${value.toLocaleString("en", { maximumFractionDigits: value < 10 ? 2 : 1 })} ha`;
}

/** Children without the null/false placeholders of conditional parts (for replaceChildren). */
export function compact(children: (Node | string | null | undefined | false)[]): (Node | string)[] {
  return children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false);
}
