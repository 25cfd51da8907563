// A 409 from autosave: someone else saved the annotation. The user chooses keep mine, take theirs, or see
// both (theirs dashed in cyan over the map, the choice left open on the save badge).
import type OlMap from "ol/Map";
import type Feature from "ol/Feature";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { h } from "../ui/dom";
import { choose } from "../ui/dialog";
import type { Editor } from "./editor";
import { featureFromDraft } from "./regions";
import type { Conflict, Saver } from "./saver";
import { theirsStyle } from "./styles";

export class ConflictResolver {
  /** The conflict the user chose to look at before deciding. */
  open: Conflict | null = null;
  private layer: VectorLayer<VectorSource<Feature>> | null = null;

  constructor(
    private readonly map: OlMap,
    private readonly editor: Editor,
    private readonly saver: Saver,
    private readonly onUndecided: () => void,
  ) {}

  async resolve(conflict: Conflict): Promise<void> {
    this.open = conflict;
    const choice = await choose(
      "Someone else saved this annotation",
      [
        h(
          "p",
          {},
          `While you were editing, the annotation was saved by someone else (now version ${conflict.theirVersion}, ` +
            `with ${conflict.theirs.length} region${conflict.theirs.length === 1 ? "" : "s"}).`,
        ),
        h(
          "p",
          { class: "muted" },
          "Keep mine: save your regions over theirs. Take theirs: drop your unsaved edits. " +
            "See both: show theirs dashed in cyan over yours, and decide later.",
        ),
      ],
      [
        { label: "Keep mine", value: "mine" as const, primary: true },
        { label: "Take theirs", value: "theirs" as const },
        { label: "See both", value: "both" as const },
      ],
    );
    if (choice === "both") {
      this.showTheirs(conflict);
      this.onUndecided();
      return;
    }
    this.showTheirs(null);
    this.open = null;
    if (choice === "mine") {
      this.saver.keepMine(conflict.theirVersion);
    } else {
      this.saver.takeTheirs(conflict.theirVersion);
      this.editor.history.reset(conflict.theirs);
      this.editor.load(conflict.theirs);
    }
  }

  private showTheirs(conflict: Conflict | null): void {
    if (this.layer) this.map.removeLayer(this.layer);
    this.layer = null;
    if (!conflict) return;
    this.layer = new VectorLayer({
      source: new VectorSource({ features: conflict.theirs.map(featureFromDraft) }),
      style: theirsStyle(),
      zIndex: 10,
    });
    this.map.addLayer(this.layer);
  }
}
