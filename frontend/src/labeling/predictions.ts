// A model's (or SAM's) regions, kept apart from people's: shown as a dashed layer; accepting one copies it
// into the annotation (source and score kept, `accepted_from` pointing back); deleting removes the prediction.
import Feature from "ol/Feature";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import type Map from "ol/Map";
import { api, call, type Observation, type Project } from "../api/client";
import { compact, h } from "../ui/dom";
import { toast } from "../ui/toast";
import { toMapGeometry, isArea } from "./geometry";
import { draftFromFeature, newId, type RegionDraft } from "./regions";
import { predictionStyle, classColour } from "./styles";
import type { Editor } from "./editor";

export class Predictions {
  readonly source = new VectorSource<Feature>();
  readonly layer: VectorLayer<VectorSource<Feature>>;
  readonly panel = h("section", { class: "predictions", "aria-label": "Predictions" });

  constructor(
    map: Map,
    private readonly project: Project,
    private readonly observation: Observation,
    private readonly editor: Editor,
    private readonly canDelete: boolean,
  ) {
    const style = predictionStyle(project);
    this.layer = new VectorLayer({
      source: this.source,
      // Accepted predictions are regions of the annotation now: only the others are drawn.
      style: (feature) => (this.accepted.has(String(feature.getId())) ? undefined : style(feature)),
      properties: { name: "predictions" },
      zIndex: 5,
    });
    map.getLayers().insertAt(1, this.layer);
  }

  async load(): Promise<void> {
    const { width, height } = this.observation;
    const collection = await call(
      api.GET("/api/observations/{observation_id}/regions", {
        params: {
          path: { observation_id: this.observation.id },
          query: { bbox: `0,0,${width},${height}`, kind: "predictions", limit: 50000 },
        },
      }),
    );
    this.source.clear();
    for (const region of collection.features) {
      if (!isArea(region.geometry)) continue;
      const feature = new Feature({ geometry: toMapGeometry(region.geometry) });
      feature.setId(region.id);
      feature.setProperties({ ...region.properties });
      this.source.addFeature(feature);
    }
    this.render();
  }

  /** Ids of the predicted regions the annotation has accepted (read from the features, not a snapshot). */
  private accepted = new Set<string>();

  /** Predictions not yet accepted into the annotation. */
  private open(): Feature[] {
    this.accepted = new Set(this.editor.source.getFeatures().map((f) => String(f.get("accepted_from"))));
    return this.source.getFeatures().filter((f) => !this.accepted.has(String(f.getId())));
  }

  /** Copies predictions into the annotation: new ids, the source and score kept, `accepted_from` set. */
  accept(features: Feature[]): void {
    const drafts = features
      .map(draftFromFeature)
      .filter((draft): draft is RegionDraft => draft !== null)
      .map((draft) => ({
        ...draft,
        // An unclassed prediction (SAM found a shape, nothing said what it is) takes the class in use.
        label: draft.label || this.editor.currentClass,
        id: newId(),
        // A prediction stored without a source is still a machine's work.
        source: draft.source === "human" ? ("model" as const) : draft.source,
        accepted_from: draft.id,
        // The server takes a carried-forward prediction's ancestor (carried_from) as the region's.
        ancestor_id: null,
      }));
    if (drafts.length) {
      this.editor.addRegions(drafts);
      toast(`${drafts.length} prediction${drafts.length > 1 ? "s" : ""} accepted`, "success");
    }
    this.render();
  }

  private async remove(predictionId: string): Promise<void> {
    try {
      await call(api.DELETE("/api/predictions/{prediction_id}", { params: { path: { prediction_id: predictionId } } }));
      await this.load();
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  /** Which model versions made the predictions on the map (a model's name, or SAM's), or null when none. */
  private madeBy(): HTMLElement | null {
    const names = [
      ...new Set(this.source.getFeatures().map((f) => f.get("model_version") as string | null | undefined)),
    ].filter((name): name is string => Boolean(name));
    if (names.length === 0) return null;
    return h(
      "p",
      { class: "muted small", "data-testid": "prediction-models", "data-model-versions": names.sort().join(",") },
      `Made by ${names.sort().join(", ")}`,
    );
  }

  render(): void {
    const open = this.open();
    this.layer.changed();
    const acceptAll = h("button", { class: "small", "data-action": "accept-all", disabled: open.length === 0 || !this.editor.editable }, "Accept all");
    acceptAll.addEventListener("click", () => this.accept(open));
    this.panel.replaceChildren(
      ...compact([
      h("h3", {}, `Predictions (${open.length})`, acceptAll),
      this.madeBy(),
      open.length === 0 ? h("p", { class: "muted" }, "No predictions to review.") : null,
      h(
        "ul",
        { class: "prediction-list" },
        open.map((feature) => {
          const label = (feature.get("label") as string | null) ?? "unclassed";
          const score = feature.get("score") as number | null;
          const accept = h("button", { class: "small", disabled: !this.editor.editable, "data-action": "accept" }, "Accept");
          accept.addEventListener("click", () => this.accept([feature]));
          // Only project admins may delete a prediction: others do not see the button.
          const remove = this.canDelete
            ? h("button", { class: "small danger", "data-action": "delete", title: "Delete this prediction (all its regions)" }, "Delete")
            : null;
          remove?.addEventListener("click", () => void this.remove(String(feature.get("prediction_id"))));
          const change = feature.get("change_score") as number | null | undefined;
          const carried = feature.get("carried_from")
            ? ` · carried from the previous date${change === null || change === undefined ? "" : `, ${Math.round(change * 100)}% changed`}`
            : "";
          return h(
            "li",
            { "data-region-id": String(feature.getId()), title: `${String(feature.get("model_version") ?? "")}${carried}` },
            h("span", { class: "chip", style: `--chip: ${classColour(this.project, label)}` }, label),
            h("span", { class: "muted" }, `${String(feature.get("source"))}${score === null || score === undefined ? "" : ` ${Math.round(score * 100)}%`}`),
            accept,
            remove,
          );
        }),
      ),
      ]),
    );
  }
}
