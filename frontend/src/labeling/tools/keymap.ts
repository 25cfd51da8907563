// The labeling view's one keymap: the keyboard handler (keyboard.ts), the shortcuts help (shortcuts.ts) and
// the mode bar (bars.ts) all read it, so a key is defined once. The tools' keys come from the tools.
import type { Workbench } from "../workbench";
import { shortcutsHelp } from "../shortcuts";
import type { Tool } from "./tool";

export interface KeyBinding {
  /** As shown in the help. */
  readonly label: string;
  readonly what: string;
  /** Whether it changes the regions (marked off in the help where they are read-only). */
  readonly edits: boolean;
  /** `KeyboardEvent.key` values (compared lower-cased when `ctrl`). */
  readonly keys: readonly string[];
  /** Ctrl (or Cmd) held; bindings without it do not fire while Ctrl, Cmd or Alt is held. */
  readonly ctrl?: boolean;
  /** Only when this holds (e.g. there are several annotations to switch between). */
  readonly when?: (wb: Workbench) => boolean;
  readonly run: (wb: Workbench, event: KeyboardEvent) => void;
}

export function toolBinding(tool: Tool): KeyBinding {
  return { label: tool.key, what: tool.help, edits: tool.edits, keys: tool.keys, run: (wb) => wb.editor.setMode(tool.id) };
}

/** Enter, Esc and Backspace go to the armed tool first. */
const EDITING: KeyBinding[] = [
  {
    label: "Enter / double-click",
    what: "Finish the polygon (Draw, Hole); make SAM's mask a region (SAM)",
    edits: true,
    keys: ["Enter"],
    run: (wb) => wb.editor.tool.finish?.(),
  },
  {
    label: "Backspace",
    what: "Remove the last vertex (while drawing) or SAM prompt; delete the selection otherwise",
    edits: true,
    keys: ["Backspace"],
    run: (wb) => {
      if (!wb.editor.tool.removeLast?.()) wb.editor.deleteSelected();
    },
  },
  {
    label: "Esc",
    what: "Cancel the polygon or SAM's prompts; back to Select; clear the selection",
    edits: false,
    keys: ["Escape"],
    run: ({ editor }) => {
      if (editor.tool.abort?.()) return;
      if (editor.mode === "select") editor.clearSelection();
      else editor.setMode("select");
    },
  },
  { label: "Delete", what: "Delete the selected polygon", edits: true, keys: ["Delete"], run: (wb) => wb.editor.deleteSelected() },
  {
    label: "Ctrl+Z / Ctrl+Shift+Z",
    what: "Undo / redo",
    edits: true,
    keys: ["z", "y"],
    ctrl: true,
    run: ({ editor }, event) => {
      if (event.key.toLowerCase() === "y" || event.shiftKey) editor.redo();
      else editor.undo();
    },
  },
];

const VIEW: KeyBinding[] = [
  {
    label: "A",
    what: "Review with several annotations: the next annotation",
    edits: false,
    keys: ["a"],
    when: (wb) => wb.annotations !== null,
    run: (wb) => wb.annotations?.next(),
  },
  {
    label: "O",
    what: "Review with several annotations: the others, dashed, on or off",
    edits: false,
    keys: ["o"],
    when: (wb) => wb.annotations !== null,
    run: (wb) => wb.annotations?.toggleOverlay(),
  },
  {
    label: "[ / ]",
    what: "Previous / next observation of the site",
    edits: false,
    keys: ["[", "]"],
    when: (wb) => wb.series.previous !== null || wb.series.next !== null,
    run: (wb, event) => {
      const target = event.key === "[" ? wb.series.previous : wb.series.next;
      if (target) wb.actions.goTo(target);
    },
  },
  { label: "C", what: "Compare with the previous observation (swipe)", edits: false, keys: ["c"], run: (wb) => wb.actions.toggleCompare() },
  {
    label: "P",
    what:
      "Show or hide predictions (their panel: Accept, Accept all; project admins with SAM: Pre-label with SAM, " +
      "Carry forward with SAM, Changed more than N %, Accept unchanged)",
    edits: false,
    keys: ["p"],
    run: (wb) => wb.actions.togglePredictions(),
  },
  { label: "G", what: "What changed since the previous date: gained (green) and lost (red, dashed)", edits: false, keys: ["g"], run: (wb) => wb.actions.toggleChange() },
  {
    label: "B",
    what: "Basemap under a georeferenced image",
    edits: false,
    keys: ["b"],
    run: (wb) => wb.actions.setBasemap(!(wb.basemap?.getVisible() ?? false)),
  },
  { label: "F", what: "Fit the image to the window", edits: false, keys: ["f"], run: (wb) => wb.actions.fit() },
  {
    label: "?",
    what: "This help",
    edits: false,
    keys: ["?"],
    run: (wb) => shortcutsHelp(keymap(wb.editor.tools), wb.editor.editable ? "" : wb.readOnly),
  },
];

/** Number keys pick the class; the key that was pressed says which. */
export function classBinding(onClassKey: () => void): KeyBinding {
  return {
    label: "1 2 3 …",
    what: "Class for new polygons (and of the selected one)",
    edits: true,
    keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9"],
    run: ({ editor, project }, event) => {
      const cls = project.label_classes[Number(event.key) - 1];
      if (cls) {
        editor.setClass(cls.name);
        onClassKey();
      }
    },
  };
}

/** The whole table, in the order the help lists it. */
export function keymap(tools: readonly Tool[], onClassKey: () => void = () => undefined): KeyBinding[] {
  return [classBinding(onClassKey), ...tools.map(toolBinding), ...EDITING, ...VIEW];
}

/** The binding for a key press (undefined: not ours). */
export function bindingFor(table: readonly KeyBinding[], wb: Workbench, event: KeyboardEvent): KeyBinding | undefined {
  const ctrl = event.ctrlKey || event.metaKey;
  return table.find((binding) => {
    if (binding.ctrl) return ctrl && binding.keys.includes(event.key.toLowerCase());
    if (ctrl || event.altKey || !binding.keys.includes(event.key)) return false;
    return binding.when ? binding.when(wb) : true;
  });
}
