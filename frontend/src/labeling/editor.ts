// The regions being edited on the map: their layer, the selection (move, vertex edits), snapping to
// vertices and edges of the other regions, undo/redo over whole snapshots, and the tools (tools/: select,
// draw, hole, comment, SAM) of which one is armed at a time. The plain-data copy of the regions (what is
// saved and undone) is kept up to date per feature: an edit makes the drafts of the features it changed
// again and keeps the other drafts as the same objects, so that with 10,000 regions an edit neither
// rebuilds 10,000 drafts nor makes the saver's diff compare more than one region's coordinates.
// The regions are drawn by two layers: the settled ones into an image (VectorImage), the ones added or
// edited since into a small vector layer of their own, so that an edit (and its save) redraws that one
// region, not the 10,000 of the image; the live ones join the image a moment after their save is answered.
import type OlMap from "ol/Map";
import Feature from "ol/Feature";
import VectorImageLayer from "ol/layer/VectorImage";
import VectorLayer from "ol/layer/Vector";
import VectorSource, { type VectorSourceEvent } from "ol/source/Vector";
import Polygon from "ol/geom/Polygon";
import MultiPolygon from "ol/geom/MultiPolygon";
import LinearRing from "ol/geom/LinearRing";
import Modify from "ol/interaction/Modify";
import Select from "ol/interaction/Select";
import Snap from "ol/interaction/Snap";
import Translate from "ol/interaction/Translate";
import { altKeyOnly, singleClick } from "ol/events/condition";
import type { Coordinate } from "ol/coordinate";
import type { Project } from "../api/client";
import { History } from "./history";
import { draftFromFeature, featureFromDraft, newId, type RegionDraft } from "./regions";
import { regionStyle, selectedStyle, type LayerSettings } from "./styles";
import { DrawTool } from "./tools/draw";
import { SelectTool } from "./tools/select";
import type { Mode, Tool, ToolHost } from "./tools/tool";

export type { Mode } from "./tools/tool";

export interface EditorEvents {
  /** The regions changed by the user (or by undo/redo). */
  onChange: (regions: RegionDraft[]) => void;
  onSelect: (feature: Feature | null) => void;
  onMode: (mode: Mode) => void;
  onMessage: (message: string) => void;
}

function ringInside(outer: Polygon, ring: Coordinate[]): boolean {
  return ring.every((point) => outer.intersectsCoordinate(point));
}

/** How long after a save's answer the live regions join the image (one redraw of all regions). */
const SETTLE_MS = 1000;
/** Snapping is ready this long after the first drawing at the latest, even if the browser is never idle. */
const SNAP_WITHIN_MS = 2000;
/** Edits that are not saved (offline) join it later, so panning stays smooth with many of them. */
const SETTLE_UNSAVED_MS = 5000;

export class Editor {
  /** Every region (what is saved, snapped to and looked up); the two layers below draw its features (and
   * index them in space for hit detection, so this source need not: 10,000 regions are indexed once). */
  readonly source = new VectorSource<Feature>({ useSpatialIndex: false });
  readonly layer: VectorImageLayer<VectorSource<Feature>>;
  /** The regions added or edited since the last settle, drawn as vectors over the image. */
  readonly liveLayer: VectorLayer<VectorSource<Feature>>;
  private readonly settled = new VectorSource<Feature>();
  private readonly live = new VectorSource<Feature>();
  private settleTimer: number | undefined;
  private snapAdded = false;
  readonly history: History;
  readonly warned = new Set<string>();
  mode: Mode = "select";
  currentClass: string;
  editable = true;
  private readonly select: Select;
  private readonly modify: Modify;
  private readonly translate: Translate;
  private readonly snap: Snap;
  private readonly registry = new Map<Mode, Tool>();
  /** The features' drafts by id as of the last commit (or load), in the order they were added. */
  private drafts: Map<string, RegionDraft>;
  /** Ids of features added, removed or changed since then (from the source's events). */
  private readonly dirty = new Set<string>();
  private loading = false;
  /** The armed tool. */
  tool: Tool;
  /** What the tools may do to the editor. */
  readonly host: ToolHost;

  constructor(
    private readonly map: OlMap,
    private readonly project: Project,
    private readonly settings: LayerSettings,
    regions: RegionDraft[],
    private readonly events: EditorEvents,
  ) {
    this.currentClass = project.label_classes[0]?.name ?? "Pit";
    this.history = new History(regions);
    this.drafts = new Map(regions.map((region) => [region.id, region]));
    // Drawn into an image that panning and zooming only move (redrawn when they end): thousands of regions
    // would otherwise be rasterized again on every frame of a gesture.
    const style = regionStyle(project, settings, this.warned);
    this.layer = new VectorImageLayer({ source: this.settled, style, properties: { name: "regions" }, imageRatio: 1.5 });
    this.liveLayer = new VectorLayer({ source: this.live, style, properties: { name: "regions-live" } });
    map.addLayer(this.layer);
    map.addLayer(this.liveLayer);
    // Test hook: how many regions the live layer draws (0 once they all joined the image).
    const markLive = (): void => void (document.documentElement.dataset["liveRegions"] = String(this.live.getFeatures().length));
    this.live.on(["addfeature", "removefeature", "clear"], markLive);
    markLive();
    this.select = new Select({
      layers: [this.layer, this.liveLayer],
      style: selectedStyle(project, settings),
      hitTolerance: 4,
      condition: singleClick,
    });
    this.select.on("select", () => this.events.onSelect(this.selected()));
    this.translate = new Translate({ features: this.select.getFeatures() });
    this.modify = new Modify({
      features: this.select.getFeatures(),
      deleteCondition: (event) => altKeyOnly(event) && singleClick(event),
      pixelTolerance: 8,
    });
    // A region about to be edited leaves the image first: its changes then redraw it alone.
    this.translate.on("translatestart", () => this.select.getFeatures().forEach((f) => this.toLive(f)));
    this.modify.on("modifystart", () => this.select.getFeatures().forEach((f) => this.toLive(f)));
    this.translate.on("translateend", () => this.commit());
    this.modify.on("modifyend", () => this.commit());
    this.snap = new Snap({ source: this.source, pixelTolerance: 8 });
    map.addInteraction(this.select);
    map.addInteraction(this.translate);
    map.addInteraction(this.modify);
    this.loading = true;
    const features = regions.map(featureFromDraft);
    this.source.addFeatures(features);
    this.settled.addFeatures(features);
    this.loading = false;
    const touched = (event: VectorSourceEvent<Feature>): void => {
      const id = event.feature?.getId();
      if (!this.loading && id !== undefined) this.dirty.add(String(id));
    };
    this.source.on("addfeature", (event) => {
      touched(event);
      if (!this.loading && event.feature) this.live.addFeature(event.feature);
    });
    this.source.on("removefeature", (event) => {
      touched(event);
      const feature = event.feature;
      if (!feature || this.loading) return;
      if (this.live.hasFeature(feature)) this.live.removeFeature(feature);
      else if (this.settled.hasFeature(feature)) this.settled.removeFeature(feature);
    });
    this.source.on("changefeature", touched);
    this.host = this.makeHost();
    this.tool = new SelectTool(this.host);
    for (const tool of [this.tool, new DrawTool(this.host, "draw"), new DrawTool(this.host, "hole")]) this.register(tool);
  }

  /** Adds a tool (after the built-in ones, in mode bar order); one with the same id is replaced. */
  register(tool: Tool): void {
    this.registry.get(tool.id)?.dispose();
    this.registry.set(tool.id, tool);
  }

  /** The tools, in mode bar order. */
  get tools(): Tool[] {
    return [...this.registry.values()];
  }

  private makeHost(): ToolHost {
    const editor = this;
    return {
      map: this.map,
      get editable() {
        return editor.editable;
      },
      get currentClass() {
        return editor.currentClass;
      },
      selected: () => this.selected(),
      setInteractions: (select, edit) => {
        this.select.setActive(select);
        this.modify.setActive(edit && this.editable);
        this.translate.setActive(edit && this.editable);
      },
      refreshSnap: () => this.refreshSnap(),
      addPolygon: (geometry, properties) => this.addDrawn(geometry, properties),
      cutHole: (ring) => this.cutHole(ring),
      commit: () => this.commit(),
      message: (text) => this.events.onMessage(text),
      setMode: (mode) => this.setMode(mode),
    };
  }

  /** Replaces the features with these regions (keeping the selection when its region still exists). */
  load(regions: RegionDraft[]): void {
    const selectedId = this.selected()?.getId();
    this.select.getFeatures().clear();
    window.clearTimeout(this.settleTimer);
    this.loading = true;
    this.source.clear(true);
    this.live.clear(true);
    this.settled.clear(true);
    const features = regions.map(featureFromDraft);
    this.source.addFeatures(features);
    this.settled.addFeatures(features);
    this.loading = false;
    this.drafts = new Map(regions.map((region) => [region.id, region]));
    this.dirty.clear();
    if (selectedId !== undefined) {
      const again = this.source.getFeatureById(selectedId);
      if (again) this.select.getFeatures().push(again);
    }
    this.events.onSelect(this.selected());
  }

  /** The regions as plain data now: the drafts of the features changed since the last call are made again
   * from the features, every other draft is the object it was. */
  snapshot(): RegionDraft[] {
    for (const id of this.dirty) {
      const feature = this.source.getFeatureById(id);
      const draft = feature ? draftFromFeature(feature) : null;
      if (draft) this.drafts.set(id, draft);
      else this.drafts.delete(id);
    }
    this.dirty.clear();
    return [...this.drafts.values()];
  }

  selected(): Feature | null {
    return this.select.getFeatures().item(0) ?? null;
  }

  selectById(id: string): void {
    const feature = this.source.getFeatureById(id);
    this.select.getFeatures().clear();
    if (feature) this.select.getFeatures().push(feature);
    this.events.onSelect(this.selected());
  }

  clearSelection(): void {
    this.select.getFeatures().clear();
    this.events.onSelect(null);
  }

  /** Records the current features as a new state (an undo step) and reports it. */
  commit(): void {
    const regions = this.snapshot();
    this.history.push(regions);
    this.events.onChange(regions);
    this.map.render();
    this.settleSoon(SETTLE_UNSAVED_MS);
  }

  /** The live regions join the image after `delay` ms without another edit (call it when a save is
   * answered): one redraw of every region, away from the edit and its save. The selected one stays live. */
  settleSoon(delay = SETTLE_MS): void {
    window.clearTimeout(this.settleTimer);
    this.settleTimer = window.setTimeout(() => this.settle(), delay);
  }

  private settle(): void {
    const selected = new Set(this.select.getFeatures().getArray());
    const moving = this.live.getFeatures().filter((feature) => !selected.has(feature));
    if (moving.length === 0) return;
    for (const feature of moving) this.live.removeFeature(feature);
    this.settled.addFeatures(moving);
  }

  /** Moves a region out of the image into the live layer (one redraw of the image, before an edit). */
  private toLive(feature: Feature): void {
    if (!this.settled.hasFeature(feature)) return;
    this.settled.removeFeature(feature);
    this.live.addFeature(feature);
  }

  /** Adds regions made elsewhere (accepted predictions, copies from the previous observation). */
  addRegions(regions: RegionDraft[]): void {
    if (!this.editable) return;
    this.source.addFeatures(regions.map(featureFromDraft));
    this.commit();
  }

  setEditable(editable: boolean): void {
    this.editable = editable;
    this.modify.setActive(editable && this.mode === "select");
    this.translate.setActive(editable && this.mode === "select");
    if (!editable && this.tool.edits) this.setMode("select");
  }

  setMode(mode: Mode): void {
    const tool = this.registry.get(mode);
    if (!tool) return;
    if (tool.edits && !this.editable) {
      this.events.onMessage("This task cannot be edited now.");
      return;
    }
    const refusal = tool.refuse?.() ?? null;
    if (refusal) {
      this.events.onMessage(refusal);
      return;
    }
    this.tool.deactivate();
    this.mode = mode;
    this.tool = tool;
    tool.activate();
    document.documentElement.dataset["mode"] = mode;
    this.events.onMode(mode);
  }

  /** The view is closing: every tool removes what it added. */
  dispose(): void {
    window.clearTimeout(this.settleTimer);
    this.tool.deactivate();
    for (const tool of this.registry.values()) tool.dispose();
  }

  /** Called once the view is open and drawn. Snapping indexes every segment (200,000 with 10,000 regions,
   * ~0.2 s): when the browser is idle after that, not in the middle of the opening (a tool that snaps adds
   * it at once when armed earlier). */
  opened(): void {
    whenIdle(() => this.snapAdded || this.refreshSnap(), SNAP_WITHIN_MS);
  }

  /** Snap must come after the interactions it serves, so it is added again whenever they change. */
  private refreshSnap(): void {
    this.snapAdded = true;
    this.map.removeInteraction(this.snap);
    this.map.addInteraction(this.snap);
  }

  private addDrawn(geometry: Polygon | MultiPolygon, properties: { source?: "human" | "sam"; score?: number | null } = {}): void {
    const feature = new Feature({ geometry });
    feature.setId(newId());
    const { source = "human", score = null } = properties;
    feature.setProperties({ label: this.currentClass, source, score, accepted_from: null });
    // Added after OpenLayers finishes the draw event, so the new vertices are not snapped to themselves.
    queueMicrotask(() => {
      this.source.addFeature(feature);
      this.commit();
    });
  }

  /** Cuts the ring into the selected polygon (or the part of it holding the ring); false when it does not
   * lie wholly inside. */
  private cutHole(ring: Coordinate[]): boolean {
    const target = this.selected();
    const geometry = target?.getGeometry();
    if (target) this.toLive(target);
    if (geometry instanceof Polygon && ringInside(geometry, ring)) {
      geometry.appendLinearRing(new LinearRing(ring));
      return true;
    }
    if (geometry instanceof MultiPolygon) {
      const parts = geometry.getPolygons();
      const part = parts.findIndex((polygon) => ringInside(polygon, ring));
      if (part >= 0) {
        parts[part]!.appendLinearRing(new LinearRing(ring));
        geometry.setCoordinates(parts.map((polygon) => polygon.getCoordinates()));
        return true;
      }
    }
    return false;
  }

  deleteSelected(): void {
    const feature = this.selected();
    if (!feature || !this.editable) return;
    this.select.getFeatures().clear();
    this.source.removeFeature(feature);
    this.events.onSelect(null);
    this.commit();
  }

  /** Number keys: the class for new polygons, and of the selected one. */
  setClass(label: string): void {
    this.currentClass = label;
    const feature = this.selected();
    if (feature && this.editable && feature.get("label") !== label) {
      this.toLive(feature);
      feature.set("label", label);
      this.commit();
    }
  }

  undo(): boolean {
    if (!this.editable) return false;
    const state = this.history.undo();
    if (!state) return false;
    this.load(state);
    this.events.onChange(state);
    return true;
  }

  redo(): boolean {
    if (!this.editable) return false;
    const state = this.history.redo();
    if (!state) return false;
    this.load(state);
    this.events.onChange(state);
    return true;
  }

  /** Draws the regions again with the current styles; with `ids`, only the layers that hold them (the
   * image is redrawn only when one of them is in it). */
  restyle(ids?: Iterable<string>): void {
    this.liveLayer.changed();
    if (ids === undefined) {
      this.layer.changed();
      return;
    }
    for (const id of ids) {
      const feature = this.source.getFeatureById(id);
      if (feature && this.settled.hasFeature(feature)) {
        this.layer.changed();
        return;
      }
    }
  }
}

/** Runs `task` when the browser is idle, within `timeout` ms (Safari has no requestIdleCallback: soon). */
function whenIdle(task: () => void, timeout: number): void {
  if ("requestIdleCallback" in window) window.requestIdleCallback(task, { timeout });
  else setTimeout(task, 0);
}
