// The shortcuts dialog (`?`), listing the one keymap (tools/keymap.ts).
import { compact, h } from "../ui/dom";
import type { KeyBinding } from "./tools/keymap";

/** The shortcuts dialog (`?`). `readOnly`: why the regions cannot be edited now; the keys that edit are
 * then marked off. */
export function shortcutsHelp(table: readonly KeyBinding[], readOnly = ""): void {
  if (document.getElementById("shortcuts")) return;
  const close = h("button", { class: "primary" }, "Close");
  const rows = table.map(({ label: keys, what, edits }) => {
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
