// What floats over the map: the tools (mode bar), the time series bar, the save badge and a banner.
import { h } from "../ui/dom";
import type { Observation } from "../api/client";
import { keymap } from "./tools/keymap";
import type { Tool } from "./tools/tool";
import type { SaveStatus } from "./saver";
import { shortcutsHelp } from "./shortcuts";
import type { Workbench } from "./workbench";

export class MapBars {
  readonly modeBar = h("div", { class: "mode-bar", role: "toolbar", "aria-label": "Tools" });
  readonly seriesBar = h("div", { class: "series-bar" });
  readonly saveBadge = h("div", { class: "save-state", role: "status", "aria-live": "polite", "data-state": "saved" });
  readonly banner = h("div", { class: "banner", hidden: true, role: "alert" });

  constructor(private readonly wb: Workbench) {}

  get elements(): HTMLElement[] {
    return [this.modeBar, this.seriesBar, this.saveBadge, this.banner];
  }

  render(): void {
    this.renderModeBar();
    this.renderSeriesBar();
  }

  /** `kind` "approved": the note of a finished task (not a warning). */
  showBanner(text: string, kind: "warning" | "approved" = "warning"): void {
    this.banner.textContent = text;
    this.banner.hidden = !text;
    this.banner.dataset["kind"] = kind;
    this.banner.setAttribute("role", kind === "approved" ? "status" : "alert");
  }

  /** The save badge. `resolve` adds a button that reopens an undecided conflict; `repair` one that saves
   * again letting the server repair a self-intersecting polygon. */
  renderSaveState(status: SaveStatus, buttons: { resolve?: (() => void) | undefined; repair?: () => void } = {}): void {
    this.saveBadge.dataset["state"] = status.state;
    const edits = status.pendingEdits;
    const pending = edits > 0 ? ` · ${edits} edit${edits > 1 ? "s" : ""} pending` : "";
    // A polygon the server can repair gets the client's own words and a Repair button (from the error's
    // reason, not from its message); other refusals show the server's message as it is.
    const repairable = status.state === "error" && status.code === "region_geometry_invalid" && status.refused?.reason === "invalid_polygon";
    const message = repairable ? "The selected region is not a valid polygon (its edges cross): fix it, or press Repair" : status.message;
    this.saveBadge.replaceChildren(h("span", { class: "dot" }), `${message}${pending}`);
    const button = (label: string, action: string, onClick: () => void): void => {
      const element = h("button", { class: "small", "data-action": action }, label);
      element.addEventListener("click", onClick);
      this.saveBadge.append(element);
    };
    if (status.state === "conflict" && buttons.resolve) button("Resolve…", "resolve-conflict", buttons.resolve);
    if (repairable && buttons.repair) button("Repair", "repair", buttons.repair);
  }

  renderModeBar(): void {
    const { editor } = this.wb;
    const button = (tool: Tool): HTMLElement => {
      const active = editor.mode === tool.id;
      const element = h(
        "button",
        { class: active ? "active" : "", "data-mode": tool.id, title: `${tool.label} (${tool.key})`, "aria-pressed": String(active) },
        tool.label,
        h("kbd", {}, tool.key),
      );
      element.addEventListener("click", () => editor.setMode(tool.id));
      return element;
    };
    const undo = h("button", { disabled: !editor.history.canUndo || !editor.editable, "data-action": "undo", title: "Undo (Ctrl+Z)" }, "Undo");
    undo.addEventListener("click", () => editor.undo());
    const redo = h("button", { disabled: !editor.history.canRedo || !editor.editable, "data-action": "redo", title: "Redo (Ctrl+Shift+Z)" }, "Redo");
    redo.addEventListener("click", () => editor.redo());
    const help = h("button", { title: "Keyboard shortcuts (?)", "data-action": "help" }, "?");
    help.addEventListener("click", () => shortcutsHelp(keymap(editor.tools), editor.editable ? "" : this.wb.readOnly));
    // Read-only (an approved task, someone else's): no drawing or editing tools at all.
    const tools = editor.tools.filter((tool) => editor.editable || !tool.edits).map(button);
    this.modeBar.replaceChildren(...tools, ...(editor.editable ? [undo, redo] : []), help);
  }

  renderSeriesBar(): void {
    const { series, observation, swipe, editor, actions } = this.wb;
    const link = (target: Observation | null, text: "Previous" | "Next", key: string): HTMLElement => {
      const button = h(
        "button",
        { disabled: !target, title: `${text} observation (${key})`, "data-action": text.toLowerCase() },
        text === "Previous" ? `◀ ${key}` : `${key} ▶`,
      );
      button.addEventListener("click", () => target && actions.goTo(target));
      return button;
    };
    const compare = h(
      "button",
      { disabled: !series.previous, class: swipe.active ? "active" : "", "data-action": "compare", title: "Swipe against the previous observation (C)" },
      "Compare",
    );
    compare.addEventListener("click", () => actions.toggleCompare());
    const copy = h(
      "button",
      { disabled: !series.previous || !editor.editable, "data-action": "copy-previous", title: "Copy the previous observation's approved regions" },
      "Copy previous",
    );
    copy.addEventListener("click", () => void actions.copyPrevious());
    const where = `${observation.site_name} · ${observation.acquired_on ?? "no date"} · ${series.position}/${series.total}`;
    this.seriesBar.replaceChildren(
      link(series.previous, "Previous", "["),
      h("span", { class: "series-label" }, where),
      link(series.next, "Next", "]"),
      compare,
      copy,
    );
  }
}
