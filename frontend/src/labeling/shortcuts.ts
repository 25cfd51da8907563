import { h } from "../ui/dom";

export const SHORTCUTS: [string, string][] = [
  ["1 2 3 …", "Class for new polygons (and of the selected one)"],
  ["D", "Draw polygons: click vertices"],
  ["Enter / double-click", "Finish the polygon"],
  ["Backspace", "Remove the last vertex (while drawing); delete the selection otherwise"],
  ["Esc", "Cancel the polygon; back to Select; clear the selection"],
  ["H", "Draw a hole in the selected polygon"],
  ["V", "Select, move (drag), edit vertices (drag; Alt+click removes one)"],
  ["Delete", "Delete the selected polygon"],
  ["Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"],
  ["M", "Pin a comment: click the map"],
  ["[ / ]", "Previous / next observation of the site"],
  ["C", "Compare with the previous observation (swipe)"],
  ["P", "Show or hide predictions"],
  ["B", "Basemap under a georeferenced image"],
  ["F", "Fit the image to the window"],
  ["?", "This help"],
];

/** The shortcuts dialog (`?`). */
export function shortcutsHelp(): void {
  if (document.getElementById("shortcuts")) return;
  const close = h("button", { class: "primary" }, "Close");
  const dialog = h(
    "dialog",
    { id: "shortcuts", class: "modal", "aria-labelledby": "shortcuts-title" },
    h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
    h("table", { class: "shortcuts" }, h("tbody", {}, SHORTCUTS.map(([keys, what]) => h("tr", {}, h("td", {}, h("kbd", {}, keys)), h("td", {}, what))))),
    h("div", { class: "modal-actions" }, close),
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
