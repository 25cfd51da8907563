// The one interface every labeling tool (mode) has: the editor arms one at a time, the keymap and the mode
// bar read their names and keys from here, and each tool removes what it added to the map on deactivate.
import type OlMap from "ol/Map";
import type Feature from "ol/Feature";
import type MultiPolygon from "ol/geom/MultiPolygon";
import type Polygon from "ol/geom/Polygon";
import type { Coordinate } from "ol/coordinate";

export type Mode = "select" | "draw" | "hole" | "comment" | "sam";

export interface Tool {
  readonly id: Mode;
  /** On its mode bar button. */
  readonly label: string;
  /** The key shown for it (mode bar, shortcuts help). */
  readonly key: string;
  /** `KeyboardEvent.key` values that arm it. */
  readonly keys: readonly string[];
  /** What it does, for the shortcuts help. */
  readonly help: string;
  /** Whether it changes the regions: refused, and not in the mode bar, while they are read-only. */
  readonly edits: boolean;
  /** Why it cannot be armed now (null: it can). */
  refuse?(): string | null;
  activate(): void;
  deactivate(): void;
  /** The view is closing: remove everything for good. */
  dispose(): void;
  /** Enter: finish what is being made. */
  finish?(): void;
  /** Esc: drop what is being made; false when there was nothing (Esc then goes back to Select). */
  abort?(): boolean;
  /** Backspace: take the last step back; false when there was none (Backspace then deletes the selection). */
  removeLast?(): boolean;
}

/** What the editor lends its tools. */
export interface ToolHost {
  readonly map: OlMap;
  readonly editable: boolean;
  readonly currentClass: string;
  selected(): Feature | null;
  /** Select on or off; vertex editing and moving on or off (only where the regions are editable). */
  setInteractions(select: boolean, edit: boolean): void;
  /** Snap must come after the interactions it serves: called after a tool adds one. */
  refreshSnap(): void;
  /** A polygon made by a tool becomes a region of the current class (one undo step, autosaved). */
  addPolygon(geometry: Polygon | MultiPolygon, properties?: { source?: "human" | "sam"; score?: number | null }): void;
  /** Cuts a hole into the selected region (false when the ring is not wholly inside it). */
  cutHole(ring: Coordinate[]): boolean;
  commit(): void;
  message(text: string): void;
  setMode(mode: Mode): void;
}
