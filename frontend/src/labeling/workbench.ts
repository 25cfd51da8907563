// Everything the labeling view's parts share: the task, the map and its layers, the editor, autosave,
// comments, predictions, the swipe; and the view-level actions the panels and keys trigger.
import type OlMap from "ol/Map";
import type TileLayer from "ol/layer/Tile";
import type XYZ from "ol/source/XYZ";
import type { Observation, Project, Task } from "../api/client";
import type { Comments } from "./comments";
import type { Editor } from "./editor";
import type { Predictions } from "./predictions";
import type { Saver } from "./saver";
import type { LayerSettings } from "./styles";
import type { Series, Swipe } from "./timeSeries";

export interface Workbench {
  readonly project: Project;
  readonly observation: Observation;
  readonly series: Series;
  readonly review: boolean;
  readonly role: string | null;
  task: Task;
  readonly map: OlMap;
  readonly base: TileLayer<XYZ>;
  readonly basemap: TileLayer<XYZ> | null;
  readonly settings: LayerSettings;
  readonly editor: Editor;
  readonly saver: Saver;
  readonly comments: Comments;
  readonly predictions: Predictions;
  readonly swipe: Swipe;
  /** Topology warnings by region id (from the server). */
  readonly warnings: Map<string, string[]>;
  readonly actions: WorkbenchActions;
}

export interface WorkbenchActions {
  goTo(observation: Observation): void;
  toggleCompare(): void;
  copyPrevious(): Promise<void>;
  setBasemap(visible: boolean): void;
  togglePredictions(): void;
  fit(): void;
  submit(): Promise<void>;
  decide(decision: "approve" | "reject"): Promise<void>;
  /** Re-renders the panels and bars after a change. */
  refresh(): void;
}
