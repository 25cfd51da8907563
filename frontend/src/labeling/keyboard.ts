// The labeling view's keys (listed for users in shortcuts.ts). Ignored while typing or in a dialog; the keys
// that edit do nothing while the regions are read-only (an approved task, someone else's task).
import { shortcutsHelp } from "./shortcuts";
import type { Workbench } from "./workbench";

export function bindKeys(wb: Workbench, onClassKey: () => void): () => void {
  const { editor, project, series, actions } = wb;
  const onKey = (event: KeyboardEvent): void => {
    const target = event.target as HTMLElement | null;
    if (target?.closest("input, textarea, select, dialog") || document.querySelector("dialog[open]")) return;
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    let handled = true;
    if (ctrl && key.toLowerCase() === "z") {
      if (event.shiftKey) editor.redo();
      else editor.undo();
    } else if (ctrl && key.toLowerCase() === "y") editor.redo();
    else if (ctrl || event.altKey) handled = false;
    else if (/^[1-9]$/.test(key)) {
      const cls = project.label_classes[Number(key) - 1];
      if (cls) {
        editor.setClass(cls.name);
        onClassKey();
      }
    } else if (key === "d" || key === "n") editor.setMode("draw");
    else if (key === "h") editor.setMode("hole");
    else if (key === "v") editor.setMode("select");
    else if (key === "m") editor.setMode("comment");
    else if (key === "a" && wb.annotations) wb.annotations.next();
    else if (key === "o" && wb.annotations) wb.annotations.toggleOverlay();
    else if (key === "Enter") editor.finishDrawing();
    else if (key === "Escape") {
      if (!editor.abortDrawing()) {
        if (editor.mode === "select") editor.clearSelection();
        else editor.setMode("select");
      }
    } else if (key === "Backspace") {
      if (!editor.removeLastPoint()) editor.deleteSelected();
    } else if (key === "Delete") editor.deleteSelected();
    else if (key === "[" && series.previous) actions.goTo(series.previous);
    else if (key === "]" && series.next) actions.goTo(series.next);
    else if (key === "c") actions.toggleCompare();
    else if (key === "b") actions.setBasemap(!(wb.basemap?.getVisible() ?? false));
    else if (key === "p") actions.togglePredictions();
    else if (key === "g") actions.toggleChange();
    else if (key === "f") actions.fit();
    else if (key === "?") shortcutsHelp(editor.editable ? "" : wb.readOnly);
    else handled = false;
    if (handled) event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
