// A model's (or SAM's) regions, kept apart from people's: shown as a dashed layer; accepting one copies it
// into the annotation (source and score kept, `accepted_from` pointing back); deleting removes the prediction.
// Regions carried forward from the previous date show that date's shape as a ghost outline and how much they
// changed; they are listed most changed first, "changed more than N %" hides the others, and "Accept
// unchanged" accepts those at or under N %, so a re-labeling round is a review of what moved.
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
import { Fill, Stroke, Style } from "ol/style";
import type { Editor } from "./editor";

const ghostStyle = new Style({
  stroke: new Stroke({ color: "rgba(255, 255, 255, 0.85)", width: 1.5, lineDash: [2, 4] }),
  fill: new Fill({ color: "rgba(255, 255, 255, 0.05)" }),
});

/** The change (0-1) of a carried-forward prediction; null for the others. */
function changeOf(feature: Feature): number | null {
  if (!feature.get("carried_from")) return null;
  const change = feature.get("change_score") as number | null | undefined;
  return change ?? null;
}

export class Predictions {
  readonly source = new VectorSource<Feature>();
  readonly layer: VectorLayer<VectorSource<Feature>>;
  /** The previous date's shapes of carried-forward predictions (dashed, white). */
  private readonly ghosts = new VectorSource<Feature>();
  readonly panel = h("section", { class: "predictions", "aria-label": "Predictions" });
  /** "Changed more than N %": the threshold, and whether the list shows only those over it. */
  private threshold = 10;
  private onlyChanged = false;
  /** Buttons that start SAM's batch jobs (project admins, where SAM is set up). */
  private batch: HTMLElement | null = null;

  constructor(
    map: Map,
    private readonly project: Project,
    private readonly observation: Observation,
    private readonly editor: Editor,
    private readonly canDelete: boolean,
    private readonly previous: Observation | null = null,
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
    const ghosts = new VectorLayer({
      source: this.ghosts,
      // Only while its prediction is open (not accepted): the ghost is for the review.
      style: (feature) => (this.openCarried.has(String(feature.getId())) ? ghostStyle : undefined),
      properties: { name: "prediction-ghosts" },
      zIndex: 6,
    });
    map.getLayers().insertAt(2, ghosts);
    this.layer.on("change:visible", () => ghosts.setVisible(this.layer.getVisible()));
  }

  /** Shows SAM's batch buttons in the panel. */
  setBatch(element: HTMLElement): void {
    this.batch = element;
    this.render();
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
    await this.loadGhosts();
    this.render();
  }

  /** The previous date's approved regions that predictions carry forward, in this image's pixels (the
   * pixel grid must be the same: the ghosts are drawn as they are). */
  private async loadGhosts(): Promise<void> {
    this.ghosts.clear();
    const carried = new Set(this.source.getFeatures().map((f) => f.get("carried_from") as string | null).filter((id) => id));
    const previous = this.previous;
    if (!carried.size || !previous || previous.width !== this.observation.width || previous.height !== this.observation.height) return;
    const collection = await call(
      api.GET("/api/observations/{observation_id}/approved-regions", { params: { path: { observation_id: previous.id } } }),
    );
    for (const region of collection.features) {
      if (!carried.has(region.id) || !isArea(region.geometry)) continue;
      const ghost = new Feature({ geometry: toMapGeometry(region.geometry) });
      ghost.setId(region.id);
      this.ghosts.addFeature(ghost);
    }
    // Test hook: how many previous-date shapes are drawn.
    document.documentElement.dataset["ghosts"] = String(this.ghosts.getFeatures().length);
  }

  /** The previous-date region ids of the open carried-forward predictions. */
  private openCarried = new Set<string>();

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
      .map((feature) => ({ feature, draft: draftFromFeature(feature) }))
      .filter((pair): pair is { feature: Feature; draft: RegionDraft } => pair.draft !== null)
      .map(({ feature, draft }) => ({
        ...draft,
        // An unclassed prediction (SAM found a shape, nothing said what it is) takes the class in use. Read
        // from the feature: the draft's label is String(null) there, "null", which no project has.
        label: (feature.get("label") as string | null | undefined) || this.editor.currentClass,
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

  /** Most changed first (carried forward), then by score. */
  private sorted(features: Feature[]): Feature[] {
    const key = (f: Feature): [number, number] => [changeOf(f) ?? -1, (f.get("score") as number | null) ?? 0];
    return [...features].sort((a, b) => key(b)[0] - key(a)[0] || key(b)[1] - key(a)[1]);
  }

  /** The review of carried-forward predictions: the threshold, the filter, "Accept unchanged". */
  private changeControls(open: Feature[]): HTMLElement | null {
    const carried = open.filter((f) => changeOf(f) !== null);
    if (carried.length === 0) return null;
    const unchanged = carried.filter((f) => (changeOf(f) ?? 0) * 100 <= this.threshold);
    const input = h("input", {
      type: "number", min: 0, max: 100, step: 1, value: String(this.threshold), "data-testid": "change-threshold", "aria-label": "Change threshold in percent",
    }) as HTMLInputElement; // prettier-ignore
    input.addEventListener("change", () => {
      this.threshold = Math.max(0, Math.min(100, Number(input.value) || 0));
      this.render();
    });
    const only = h("input", { type: "checkbox", checked: this.onlyChanged, "data-testid": "only-changed" }) as HTMLInputElement;
    only.addEventListener("change", () => {
      this.onlyChanged = only.checked;
      this.render();
    });
    const accept = h(
      "button",
      { class: "small", "data-action": "accept-unchanged", disabled: unchanged.length === 0 || !this.editor.editable },
      `Accept unchanged (${unchanged.length})`,
    );
    accept.addEventListener("click", () => this.accept(unchanged));
    return h(
      "div",
      { class: "change-review" },
      h("label", {}, only, " Changed more than ", input, " %"),
      accept,
    );
  }

  render(): void {
    const open = this.open();
    this.openCarried = new Set(open.map((f) => f.get("carried_from") as string | null).filter((id): id is string => Boolean(id)));
    this.layer.changed();
    this.ghosts.changed();
    const acceptAll = h("button", { class: "small", "data-action": "accept-all", disabled: open.length === 0 || !this.editor.editable }, "Accept all");
    acceptAll.addEventListener("click", () => this.accept(open));
    const listed = this.sorted(open).filter((f) => !this.onlyChanged || (changeOf(f) ?? 0) * 100 > this.threshold);
    this.panel.replaceChildren(
      ...compact([
      h("h3", {}, `Predictions (${open.length})`, acceptAll),
      this.madeBy(),
      this.batch,
      this.changeControls(open),
      open.length === 0 ? h("p", { class: "muted" }, "No predictions to review.") : null,
      h(
        "ul",
        { class: "prediction-list" },
        listed.map((feature) => {
          const label = (feature.get("label") as string | null) ?? "unclassed";
          const score = feature.get("score") as number | null;
          const accept = h("button", { class: "small", disabled: !this.editor.editable, "data-action": "accept" }, "Accept");
          accept.addEventListener("click", () => this.accept([feature]));
          // Only project admins may delete a prediction: others do not see the button.
          const remove = this.canDelete
            ? h("button", { class: "small danger", "data-action": "delete", title: "Delete this prediction (all its regions)" }, "Delete")
            : null;
          remove?.addEventListener("click", () => void this.remove(String(feature.get("prediction_id"))));
          const change = changeOf(feature);
          const carried = feature.get("carried_from")
            ? ` · carried from the previous date${change === null ? "" : `, ${Math.round(change * 100)}% changed`}`
            : "";
          return h(
            "li",
            {
              "data-region-id": String(feature.getId()),
              "data-change": change === null ? "" : String(change),
              title: `${String(feature.get("model_version") ?? "")}${carried}`,
            },
            h("span", { class: "chip", style: `--chip: ${classColour(this.project, label)}` }, label),
            h("span", { class: "muted" }, `${String(feature.get("source"))}${score === null || score === undefined ? "" : ` ${Math.round(score * 100)}%`}`),
            change === null ? null : h("span", { class: "change", title: "Changed since the previous date (1 - IoU)" }, `Δ ${Math.round(change * 100)}%`),
            accept,
            remove,
          );
        }),
      ),
      ]),
    );
  }
}
