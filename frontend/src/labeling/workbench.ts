// Everything the labeling view's parts share: the task, the map and its layers, the editor, autosave,
// comments, predictions, the swipe, the annotations of a task under review; and the view-level actions the
// panels and keys trigger.
import type OlMap from "ol/Map";
import type TileLayer from "ol/layer/Tile";
import type XYZ from "ol/source/XYZ";
import type { Observation, Project, Task } from "../api/client";
import type { AnnotationSwitcher } from "./annotations";
import type { Comments } from "./comments";
import type { Editor } from "./editor";
import type { Predictions } from "./predictions";
import type { Saver } from "./saver";
import type { LayerSettings } from "./styles";
import type { GroundTruth } from "./taskData";
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
  /** An approved task: read-only, showing its ground truth (null otherwise). */
  groundTruth: GroundTruth | null;
  /** In review mode, the task's annotations to switch between (null outside review and when approved). */
  annotations: AnnotationSwitcher | null;
  /** Why the regions cannot be edited now ("" when they can). */
  readOnly: string;
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
  /** What changed since the earlier date: gained and lost polygons on or off. */
  toggleChange(): void;
  /** Whether the change layer is shown (the Layers panel's checkbox). */
  changeShown(): boolean;
  fit(): void;
  submit(): Promise<void>;
  /** `groundTruth`: the annotation approved as the task's ground truth (null: the server takes the only one). */
  decide(decision: "approve" | "reject", groundTruth?: string | null): Promise<void>;
  /** Project admins: send an approved task back to review (asks first). */
  reopen(): Promise<void>;
  /** The task's state changed (approved, rejected): the view allows what the new state allows, and an
   * approved task shows its ground truth, read-only. */
  taskChanged(): Promise<void>;
}
