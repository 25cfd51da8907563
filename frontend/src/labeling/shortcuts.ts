import { compact, h } from "../ui/dom";

/** [keys, what they do, whether they change the regions (off where the task is read-only)]. */
export const SHORTCUTS: [string, string, boolean][] = [
  ["1 2 3 …", "Class for new polygons (and of the selected one)", true],
  ["D", "Draw polygons: click vertices", true],
  ["Enter / double-click", "Finish the polygon", true],
  ["Backspace", "Remove the last vertex (while drawing); delete the selection otherwise", true],
  ["Esc", "Cancel the polygon; back to Select; clear the selection", false],
  ["H", "Draw a hole in the selected polygon", true],
  ["V", "Select, move (drag), edit vertices (drag; Alt+click removes one)", false],
  ["Delete", "Delete the selected polygon", true],
  ["Ctrl+Z / Ctrl+Shift+Z", "Undo / redo", true],
  ["M", "Pin a comment: click the map", false],
  ["A", "Review with several annotations: the next annotation", false],
  ["O", "Review with several annotations: the others, dashed, on or off", false],
  ["[ / ]", "Previous / next observation of the site", false],
  ["C", "Compare with the previous observation (swipe)", false],
  ["P", "Show or hide predictions", false],
  ["G", "What changed since the previous date: gained (green) and lost (red, dashed)", false],
  ["B", "Basemap under a georeferenced image", false],
  ["F", "Fit the image to the window", false],
  ["?", "This help", false],
];

/** The shortcuts dialog (`?`). `readOnly`: why the regions cannot be edited now; the keys that edit are
 * then marked off. */
export function shortcutsHelp(readOnly = ""): void {
  if (document.getElementById("shortcuts")) return;
  const close = h("button", { class: "primary" }, "Close");
  const rows = SHORTCUTS.map(([keys, what, edits]) => {
    const off = edits && readOnly !== "";
    return h(
      "tr",
      { class: off ? "off" : null, "data-off": off ? "1" : null },
      h("td", {}, h("kbd", {}, keys)),
      h("td", {}, what, off ? h("span", { class: "muted" }, " (off: read-only)") : null),
    );
  });
  const dialog = h(
    "dialog",
    { id: "shortcuts", class: "modal", "aria-labelledby": "shortcuts-title" },
    ...compact([
      h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
      readOnly ? h("p", { class: "shortcuts-note", "data-testid": "shortcuts-read-only" }, `${readOnly} The keys that edit do nothing here.`) : null,
      h("table", { class: "shortcuts" }, h("tbody", {}, rows)),
      h("div", { class: "modal-actions" }, close),
    ]),
  );
  const done = (): void => {
    dialog.close();
    dialog.remove();
  };
  close.addEventListener("click", done);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
