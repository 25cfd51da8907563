// Drawing and editing regions on the map: draw (click vertices; double-click or Enter finishes, Esc
// cancels, Backspace removes the last vertex), holes, select, move, vertex edits, snapping to vertices
// and edges of the other regions, and undo/redo over whole snapshots.
import type Map from "ol/Map";
import Feature from "ol/Feature";
import VectorImageLayer from "ol/layer/VectorImage";
import VectorSource from "ol/source/Vector";
import Polygon from "ol/geom/Polygon";
import MultiPolygon from "ol/geom/MultiPolygon";
import LinearRing from "ol/geom/LinearRing";
import Draw from "ol/interaction/Draw";
import Modify from "ol/interaction/Modify";
import Select from "ol/interaction/Select";
import Snap from "ol/interaction/Snap";
import Translate from "ol/interaction/Translate";
import { altKeyOnly, primaryAction, singleClick } from "ol/events/condition";
import type { Coordinate } from "ol/coordinate";
import type { Project } from "../api/client";
import { History } from "./history";
import { draftFromFeature, featureFromDraft, newId, type RegionDraft } from "./regions";
import { regionStyle, selectedStyle, type LayerSettings } from "./styles";

export type Mode = "select" | "draw" | "hole" | "comment";

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

export class Editor {
  readonly source = new VectorSource<Feature>();
  readonly layer: VectorImageLayer<VectorSource<Feature>>;
  readonly history: History;
  readonly warned = new Set<string>();
  mode: Mode = "select";
  currentClass: string;
  editable = true;
  private readonly select: Select;
  private readonly modify: Modify;
  private readonly translate: Translate;
  private readonly snap: Snap;
  private draw: Draw | null = null;

  constructor(
    private readonly map: Map,
    private readonly project: Project,
    private readonly settings: LayerSettings,
    regions: RegionDraft[],
    private readonly events: EditorEvents,
  ) {
    this.currentClass = project.label_classes[0]?.name ?? "Pit";
    this.history = new History(regions);
    // Drawn into an image that panning and zooming only move (redrawn when they end): thousands of regions
    // would otherwise be rasterized again on every frame of a gesture.
    this.layer = new VectorImageLayer({
      source: this.source,
      style: regionStyle(project, settings, this.warned),
      properties: { name: "regions" },
      imageRatio: 1.5,
    });
    map.addLayer(this.layer);
    this.select = new Select({
      layers: [this.layer],
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
    this.translate.on("translateend", () => this.commit());
    this.modify.on("modifyend", () => this.commit());
    this.snap = new Snap({ source: this.source, pixelTolerance: 8 });
    map.addInteraction(this.select);
    map.addInteraction(this.translate);
    map.addInteraction(this.modify);
    this.source.addFeatures(regions.map(featureFromDraft));
    this.refreshSnap();
  }

  /** Replaces the features with these regions (keeping the selection when its region still exists). */
  load(regions: RegionDraft[]): void {
    const selectedId = this.selected()?.getId();
    this.select.getFeatures().clear();
    this.source.clear(true);
    this.source.addFeatures(regions.map(featureFromDraft));
    if (selectedId !== undefined) {
      const again = this.source.getFeatureById(selectedId);
      if (again) this.select.getFeatures().push(again);
    }
    this.events.onSelect(this.selected());
  }

  snapshot(): RegionDraft[] {
    return this.source
      .getFeatures()
      .map(draftFromFeature)
      .filter((draft): draft is RegionDraft => draft !== null)
      .sort((a, b) => a.id.localeCompare(b.id));
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
    if (!editable && this.mode !== "select" && this.mode !== "comment") this.setMode("select");
  }

  setMode(mode: Mode): void {
    if ((mode === "draw" || mode === "hole") && !this.editable) {
      this.events.onMessage("This task cannot be edited now.");
      return;
    }
    if (mode === "hole" && !this.selected()) {
      this.events.onMessage("Select the polygon to cut a hole in first.");
      return;
    }
    if (this.draw) {
      this.map.removeInteraction(this.draw);
      this.draw = null;
    }
    this.mode = mode;
    const selecting = mode === "select";
    this.select.setActive(selecting || mode === "hole");
    this.modify.setActive(selecting && this.editable);
    this.translate.setActive(selecting && this.editable);
    if (mode === "draw" || mode === "hole") {
      this.draw = this.makeDraw(mode);
      this.map.addInteraction(this.draw);
      this.refreshSnap();
    }
    document.documentElement.dataset["mode"] = mode;
    this.events.onMode(mode);
  }

  /** Snap must come after the interactions it serves, so it is added again whenever they change. */
  private refreshSnap(): void {
    this.map.removeInteraction(this.snap);
    this.map.addInteraction(this.snap);
  }

  private makeDraw(mode: "draw" | "hole"): Draw {
    const draw = new Draw({
      type: "Polygon",
      condition: primaryAction,
      stopClick: true,
      style: undefined,
    });
    draw.on("drawstart", (event) => {
      const geometry = event.feature.getGeometry();
      const report = (): void => {
        const ring = geometry instanceof Polygon ? (geometry.getCoordinates()[0] ?? []) : [];
        // The sketch ring is [placed..., pointer, closing]; right after the first click it is [first, pointer].
        const placed = ring.length <= 2 ? Math.min(ring.length, 1) : ring.length - 2;
        document.documentElement.dataset["drawVertices"] = String(placed);
      };
      geometry?.on("change", report);
      report();
    });
    draw.on("drawabort", () => delete document.documentElement.dataset["drawVertices"]);
    draw.on("drawend", (event) => {
      delete document.documentElement.dataset["drawVertices"];
      const geometry = event.feature.getGeometry();
      if (!(geometry instanceof Polygon)) return;
      const ring = geometry.getCoordinates()[0] ?? [];
      const distinct = new Set(ring.map((c) => c.join(","))).size;
      if (distinct < 3) {
        this.events.onMessage("A polygon needs at least three vertices.");
        return;
      }
      if (mode === "hole") this.cutHole(ring);
      else this.addDrawn(geometry);
    });
    return draw;
  }

  private addDrawn(geometry: Polygon): void {
    const feature = new Feature({ geometry });
    feature.setId(newId());
    feature.setProperties({ label: this.currentClass, source: "human", score: null, accepted_from: null });
    // Added after OpenLayers finishes the draw event, so the new vertices are not snapped to themselves.
    queueMicrotask(() => {
      this.source.addFeature(feature);
      this.commit();
    });
  }

  private cutHole(ring: Coordinate[]): void {
    const target = this.selected();
    const geometry = target?.getGeometry();
    let done = false;
    if (geometry instanceof Polygon && ringInside(geometry, ring)) {
      geometry.appendLinearRing(new LinearRing(ring));
      done = true;
    } else if (geometry instanceof MultiPolygon) {
      const parts = geometry.getPolygons();
      const part = parts.findIndex((polygon) => ringInside(polygon, ring));
      if (part >= 0) {
        parts[part]!.appendLinearRing(new LinearRing(ring));
        geometry.setCoordinates(parts.map((polygon) => polygon.getCoordinates()));
        done = true;
      }
    }
    queueMicrotask(() => {
      if (done) this.commit();
      else this.events.onMessage("A hole must lie wholly inside the selected polygon.");
      this.setMode("select");
    });
  }

  finishDrawing(): void {
    this.draw?.finishDrawing();
  }

  abortDrawing(): boolean {
    if (!this.draw || document.documentElement.dataset["drawVertices"] === undefined) return false;
    this.draw.abortDrawing();
    return true;
  }

  removeLastPoint(): boolean {
    if (!this.draw || document.documentElement.dataset["drawVertices"] === undefined) return false;
    this.draw.removeLastPoint();
    return true;
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

  restyle(): void {
    this.layer.changed();
  }
}
