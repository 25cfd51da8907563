// Reviewing a task with several annotations (overlap, or a reviewer's own copy): a list in the side panel
// to switch which one is on the map and edited (each with its annotator's email, its number of regions and,
// for the others, their IoU per class with the selected one), the others drawn dashed over the map in one
// colour per annotator, and "Start my own from this one": a copy to correct and approve as ground truth.
import type OlMap from "ol/Map";
import type Feature from "ol/Feature";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { api, call, type Annotation, type Project, type Schemas } from "../api/client";
import { compact, h } from "../ui/dom";
import { featureFromDraft } from "./regions";
import { annotatorColour, othersStyle, type LayerSettings } from "./styles";
import { streamAnnotations } from "./annotationStream";
import { addMemberEmails, drafts } from "./taskData";

type Pair = Schemas["PairAgreement"];

export interface SwitcherEvents {
  /** Before another annotation opens: resolves once this one's edits are saved, else rejects. */
  beforeSwitch: () => Promise<void>;
  /** Put this annotation on the map as the one being edited; throws if that cannot be done now. */
  onSwitch: (annotation: Annotation) => void;
  /** The list changed (another annotation selected, a copy made): the task's actions depend on it. */
  onChange: () => void;
  onError: (message: string) => void;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class AnnotationSwitcher {
  readonly panel = h("section", { class: "annotations", "aria-label": "Annotations" });
  readonly layer: VectorLayer<VectorSource<Feature>>;
  selectedId: string;
  private pairs: Pair[] = [];
  private agreementRequest = 0;
  private busy = false;
  /** Region counts of annotations saved here since the list was read. */
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly map: OlMap,
    private readonly project: Project,
    private readonly observationId: string,
    private readonly userId: string,
    private readonly emails: Map<string, string>,
    private entries: Annotation[],
    selectedId: string,
    settings: LayerSettings,
    private readonly events: SwitcherEvents,
  ) {
    this.selectedId = selectedId;
    this.layer = new VectorLayer({
      source: new VectorSource<Feature>(),
      style: othersStyle(settings),
      properties: { name: "other-annotations" },
      zIndex: 6,
    });
    map.addLayer(this.layer);
    this.drawOthers();
  }

  dispose(): void {
    this.agreementRequest++; // an answer still on its way is dropped
    this.map.removeLayer(this.layer);
    this.panel.remove();
    for (const hook of ["annotation", "annotations", "overlay", "agreement"]) delete document.documentElement.dataset[hook];
  }

  /** More than one annotation: the reviewer must say which one is the ground truth. */
  get several(): boolean {
    return this.entries.length > 1;
  }

  /** The task's annotations as last read, oldest first. */
  get list(): Annotation[] {
    return this.entries;
  }

  selected(): Annotation | undefined {
    return this.entries.find((a) => a.id === this.selectedId);
  }

  isOwn(annotation: Annotation | undefined): boolean {
    return annotation?.created_by === this.userId;
  }

  /** The caller has an annotation of their own on this task already (a copy they started). */
  get hasOwn(): boolean {
    return this.entries.some((a) => this.isOwn(a));
  }

  emailOf(annotation: Annotation): string {
    return (annotation.created_by ? this.emails.get(annotation.created_by) : undefined) ?? "another member";
  }

  /** Whose annotation, for the approve button: "my" or "someone@…'s". */
  whose(annotation: Annotation): string {
    return this.isOwn(annotation) ? "my" : `${this.emailOf(annotation)}'s`;
  }

  private colourOf(annotation: Annotation): string {
    return annotatorColour(this.entries.indexOf(annotation));
  }

  /** Marks `id` as the one on the map without reading anything (edits of it kept in this browser were
   * put back on the map); false if it is not one of the task's annotations. */
  markSelected(id: string): boolean {
    if (!this.entries.some((a) => a.id === id)) return false;
    this.selectedId = id;
    this.drawOthers();
    this.render();
    this.events.onChange();
    return true;
  }

  /** The selected annotation was saved: its version and how many regions it has now. (Its regions here
   * are not kept up to date: a save of changes answers without them, and the selected one is the editor's;
   * the list is read again on every switch.) */
  saved(version: number, count: number): void {
    const entry = this.selected();
    if (!entry) return;
    entry.version = version;
    this.counts.set(entry.id, count);
    this.render();
    void this.loadAgreement();
  }

  async switchTo(id: string): Promise<void> {
    if (this.busy || id === this.selectedId) return;
    await this.guarded(async () => {
      await this.events.beforeSwitch();
      await this.reload(id);
    });
  }

  /** The next annotation of the list (after the last, the first). */
  next(): void {
    if (!this.several) return;
    const at = this.entries.findIndex((a) => a.id === this.selectedId);
    const target = this.entries[(at + 1) % this.entries.length];
    if (target) void this.switchTo(target.id);
  }

  /** "Start my own from this one": a copy of the selected annotation, the caller's, opened for editing. */
  async startOwn(): Promise<void> {
    if (this.busy) return;
    const source = this.selectedId;
    await this.guarded(async () => {
      await this.events.beforeSwitch();
      const created = await call(
        api.POST("/api/observations/{observation_id}/annotations", {
          params: { path: { observation_id: this.observationId } },
          body: { copy_from: source },
        }),
      );
      await this.reload(created.id);
    });
  }

  /** Reads the task's annotations again (someone may have saved or added one) and opens `id`: through the
   * same stream as opening the task, so that a big task's switch is as quick and as checked (a stream cut
   * off throws, and nothing changes here). */
  async reload(id: string = this.selectedId): Promise<void> {
    const list = await streamAnnotations(this.observationId);
    await addMemberEmails(this.project.id, list, this.emails);
    const target = list.find((a) => a.id === id) ?? list.find((a) => a.id === this.selectedId) ?? list[0];
    if (!target) return;
    this.events.onSwitch(target); // throws while edits are pending: then nothing changes here
    this.entries = list;
    this.counts.clear();
    this.selectedId = target.id;
    this.drawOthers();
    this.render();
    this.events.onChange();
    void this.loadAgreement(); // the list works without it: no waiting
  }

  private async guarded(work: () => Promise<void>): Promise<void> {
    this.busy = true;
    try {
      await work();
    } catch (error) {
      this.events.onError(message(error));
    } finally {
      this.busy = false;
    }
  }

  get overlayVisible(): boolean {
    return this.layer.getVisible();
  }

  setOverlay(visible: boolean): void {
    this.layer.setVisible(visible);
    this.markOverlay();
    this.render();
  }

  toggleOverlay(): void {
    this.setOverlay(!this.layer.getVisible());
  }

  /** Classes shown or hidden in the palette apply to the others too. */
  restyle(): void {
    this.layer.changed();
  }

  private drawOthers(): void {
    const source = this.layer.getSource();
    source?.clear(true);
    for (const annotation of this.entries) {
      if (annotation.id === this.selectedId) continue;
      const colour = this.colourOf(annotation);
      for (const draft of drafts(annotation.regions)) {
        const feature = featureFromDraft(draft);
        feature.set("colour", colour);
        feature.set("annotation_id", annotation.id);
        source?.addFeature(feature);
      }
    }
    this.markOverlay();
  }

  /** Test hook: how many of the others' regions are drawn ("off" while hidden). */
  private markOverlay(): void {
    const drawn = this.layer.getSource()?.getFeatures().length ?? 0;
    document.documentElement.dataset["overlay"] = this.layer.getVisible() ? String(drawn) : "off";
  }

  async loadAgreement(): Promise<void> {
    const request = ++this.agreementRequest;
    const report = await call(
      api.GET("/api/observations/{observation_id}/agreement", { params: { path: { observation_id: this.observationId } } }),
    ).catch((error: unknown) => {
      if (request === this.agreementRequest) this.events.onError(`Agreement: ${message(error)}`);
      return null;
    });
    if (request !== this.agreementRequest || !report) return;
    this.pairs = report.pairs;
    this.render();
    // Test hook: the IoU shown is the server's for the annotations as they are now.
    document.documentElement.dataset["agreement"] = String(report.pairs.length);
  }

  /** The other annotation's IoU per class with the selected one, by class name. */
  private iouWith(other: string): Pair[] {
    const selected = this.selectedId;
    return this.pairs
      .filter((p) => (p.annotation_a === selected && p.annotation_b === other) || (p.annotation_a === other && p.annotation_b === selected))
      .sort((a, b) => a.label.localeCompare(b.label));
  }

  render(): void {
    document.documentElement.dataset["annotation"] = this.selectedId;
    document.documentElement.dataset["annotations"] = String(this.entries.length);
    const overlay = h("input", { type: "checkbox", name: "show-others", checked: this.overlayVisible });
    overlay.addEventListener("change", () => this.setOverlay(overlay.checked));
    this.panel.replaceChildren(
      h("h3", {}, `Annotations (${this.entries.length})`),
      h("label", { class: "row" }, overlay, "Show the others dashed (O)"),
      h(
        "ul",
        { class: "annotation-list" },
        this.entries.map((annotation) => this.entryView(annotation)),
      ),
      h("p", { class: "muted small" }, "A switches to the next one. Approving names the selected one as the ground truth."),
    );
  }

  private entryView(annotation: Annotation): HTMLElement {
    const selected = annotation.id === this.selectedId;
    const regions = this.counts.get(annotation.id) ?? annotation.regions.length;
    const pick = h(
      "button",
      { class: "annotation-pick", "aria-pressed": String(selected), title: selected ? "On the map, being edited" : "Show and edit this one" },
      h("span", { class: "swatch", style: `background: ${this.colourOf(annotation)}` }),
      h("span", { class: "who" }, this.emailOf(annotation), this.isOwn(annotation) ? " (you)" : ""),
      h("span", { class: "muted" }, `${regions} region${regions === 1 ? "" : "s"}`),
    );
    pick.addEventListener("click", () => void this.switchTo(annotation.id));
    let agreement: HTMLElement | null = null;
    if (!selected) {
      const pairs = this.iouWith(annotation.id);
      agreement = h(
        "p",
        { class: "iou muted small", "data-testid": "iou" },
        pairs.length === 0
          ? "IoU with the selected one: no regions to compare"
          : ["IoU with the selected one: ", pairs.map((p) => `${p.label} ${p.iou.toFixed(2)}`).join(" · ")],
      );
    }
    return h(
      "li",
      { "data-annotation-id": annotation.id, class: selected ? "selected" : null },
      ...compact([pick, agreement]),
    );
  }
}
