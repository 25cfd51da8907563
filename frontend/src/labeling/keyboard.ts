// The labeling view's keys, from the one keymap (tools/keymap.ts). Ignored while typing or in a dialog; the
// keys that edit do nothing while the regions are read-only (an approved task, someone else's task).
import { bindingFor, keymap } from "./tools/keymap";
import type { Workbench } from "./workbench";

export function bindKeys(wb: Workbench, onClassKey: () => void): () => void {
  const onKey = (event: KeyboardEvent): void => {
    const target = event.target as HTMLElement | null;
    if (target?.closest("input, textarea, select, dialog") || document.querySelector("dialog[open]")) return;
    // Built on each press: the tools can change (the SAM tool is registered once SAM answers).
    const binding = bindingFor(keymap(wb.editor.tools, onClassKey), wb, event);
    if (!binding) return;
    binding.run(wb, event);
    event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
