// Two dates of a site side by side: two maps sharing one View, so panning or zooming either moves both,
// each with its own date's image and approved labels. Both georeferenced: on the ground (Web Mercator
// tiles, labels from their EPSG:4326 shapes), whatever their pixel grids; otherwise in the later image's
// pixel grid, which a series without georeferencing shares (as the swipe does). Keyboard: each map takes
// focus (Tab) and pans with the arrow keys and zooms with + and -, OpenLayers' keyboard interactions.
import Map from "ol/Map";
import View from "ol/View";
import Feature from "ol/Feature";
import TileLayer from "ol/layer/Tile";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import XYZ from "ol/source/XYZ";
import GeoJSON from "ol/format/GeoJSON";
import { defaults as defaultControls } from "ol/control";
import { defaults as defaultInteractions } from "ol/interaction/defaults";
import { transformExtent } from "ol/proj";
import type { Extent } from "ol/extent";
import type { FeatureLike } from "ol/Feature";
import { Fill, Stroke, Style } from "ol/style";
import { api, call, type Observation, type Project, type RegionFeature } from "../api/client";
import { h } from "../ui/dom";
import { imageExtent, pixelProjection, pixelTileLayer } from "../labeling/pixelMap";
import { isArea, toMapGeometry } from "../labeling/geometry";

function styleFor(project: Project): (feature: FeatureLike) => Style {
  const cache = new globalThis.Map<string, Style>();
  return (feature) => {
    const label = String(feature.get("label"));
    let style = cache.get(label);
    if (!style) {
      const colour = project.label_classes.find((c) => c.name === label)?.color ?? "#2271b1";
      style = new Style({ stroke: new Stroke({ color: colour, width: 2 }), fill: new Fill({ color: `${colour}33` }) });
      cache.set(label, style);
    }
    return style;
  };
}

function footprintExtent(observation: Observation): Extent | null {
  const footprint = observation.footprint as { coordinates?: number[][][] } | null;
  const ring = footprint?.coordinates?.[0];
  if (!ring?.length) return null;
  const xs = ring.map((p) => p[0] ?? 0);
  const ys = ring.map((p) => p[1] ?? 0);
  return transformExtent([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], "EPSG:4326", "EPSG:3857");
}

export class SideBySide {
  readonly element: HTMLElement;
  private readonly maps: Map[] = [];

  private constructor(element: HTMLElement) {
    this.element = element;
  }

  /** The two maps for `before` and `after` (observations of one site), in a two-column element; `approved`:
   * the dates whose approved labels are drawn. */
  static async open(project: Project, beforeId: string, afterId: string, approved: Set<string>): Promise<SideBySide> {
    const [before, after] = await Promise.all(
      [beforeId, afterId].map((id) => call(api.GET("/api/observations/{observation_id}", { params: { path: { observation_id: id } } }))),
    );
    if (!before || !after) throw new Error("Both dates are needed.");
    const [beforeLabels, afterLabels] = await Promise.all([before, after].map((o) => labelsOf(o, approved.has(o.id))));
    const ground = Boolean(before.tiles?.mercator && after.tiles?.mercator && footprintExtent(after));
    const panes = [before, after].map((o, i) =>
      h(
        "figure",
        { class: "side-pane" },
        h("div", { class: "side-map", tabindex: 0, role: "application", "aria-label": `Map of ${o.acquired_on ?? `image ${o.index}`} (arrow keys pan, + and - zoom)`, "data-side": i ? "after" : "before" }),
        h("figcaption", {}, `${o.acquired_on ?? `image ${o.index}`} · ${[beforeLabels, afterLabels][i]?.length ?? 0} approved regions`),
      ),
    );
    const view = ground
      ? new View({ projection: "EPSG:3857" })
      : new View({ projection: pixelProjection(after), extent: imageExtent(after), constrainOnlyCenter: true });
    const self = new SideBySide(
      h(
        "div",
        { class: "side-by-side", "data-testid": "side-by-side", "data-space": ground ? "ground" : "pixel" },
        ...panes,
      ),
    );
    const style = styleFor(project);
    [before, after].forEach((observation, i) => {
      const target = panes[i]?.querySelector<HTMLElement>(".side-map");
      if (!target) return;
      const base = ground ? mercatorLayer(observation) : pixelTileLayer(observation, view.getProjection() as ReturnType<typeof pixelProjection>);
      const source = new VectorSource<Feature>({ features: toFeatures([beforeLabels, afterLabels][i] ?? [], ground) });
      const map = new Map({
        target,
        layers: [base, new VectorLayer({ source, style })],
        view,
        controls: defaultControls({ attribution: false, rotate: false }),
        interactions: defaultInteractions({ doubleClickZoom: false, altShiftDragRotate: false, pinchRotate: false }),
      });
      self.maps.push(map);
    });
    const extent = ground ? footprintExtent(after) : imageExtent(after);
    if (extent) view.fit(extent, { size: [400, 400], padding: [8, 8, 8, 8] });
    return self;
  }

  /** After the element is in the page: sizes known, test hooks set as the maps draw and move. */
  attached(): void {
    let drawn = 0;
    for (const map of this.maps) {
      map.updateSize();
      map.once("rendercomplete", () => {
        drawn += 1;
        if (drawn === this.maps.length) document.documentElement.dataset["sideBySide"] = "ready";
      });
      // Test hook: the ground coordinate at each map's centre, as each map draws it.
      map.on("moveend", () => {
        document.documentElement.dataset["sideBySideCentres"] = JSON.stringify(this.centres());
      });
    }
  }

  /** Each map's centre coordinate as drawn (from its own frame), and its resolution. */
  centres(): { centre: number[]; resolution: number }[] {
    return this.maps.map((map) => {
      const size = map.getSize() ?? [0, 0];
      return {
        centre: map.getCoordinateFromPixel([(size[0] ?? 0) / 2, (size[1] ?? 0) / 2]) ?? [],
        resolution: map.getView().getResolution() ?? 0,
      };
    });
  }

  dispose(): void {
    for (const map of this.maps) map.setTarget(undefined);
    this.maps.length = 0;
    delete document.documentElement.dataset["sideBySide"];
    delete document.documentElement.dataset["sideBySideCentres"];
  }
}

async function labelsOf(observation: Observation, approved: boolean): Promise<RegionFeature[]> {
  if (!approved) return [];
  const collection = await call(
    api.GET("/api/observations/{observation_id}/approved-regions", { params: { path: { observation_id: observation.id } } }),
  );
  return collection.features;
}

function toFeatures(regions: RegionFeature[], ground: boolean): Feature[] {
  const format = new GeoJSON();
  const features: Feature[] = [];
  for (const region of regions) {
    let feature: Feature | null = null;
    if (ground && region.properties.geometry_wgs84) {
      const geometry = format.readGeometry(region.properties.geometry_wgs84, { dataProjection: "EPSG:4326", featureProjection: "EPSG:3857" });
      feature = geometry ? new Feature({ geometry }) : null;
    } else if (!ground && isArea(region.geometry)) {
      feature = new Feature({ geometry: toMapGeometry(region.geometry) });
    }
    if (feature) {
      feature.set("label", region.properties.label);
      features.push(feature);
    }
  }
  return features;
}

function mercatorLayer(observation: Observation): TileLayer<XYZ> {
  const url = (observation.tiles?.mercator ?? "").replace(/\.(jpg|jpeg|webp)(\?|$)/, ".png$2");
  return new TileLayer({
    source: new XYZ({ url, crossOrigin: null, transition: 150 }),
    // Only tiles over the image are asked for.
    extent: footprintExtent(observation) ?? undefined,
  });
}
