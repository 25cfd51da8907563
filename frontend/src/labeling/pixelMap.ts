// An observation in its own pixel grid: the backend's `pixel` tiles (zoom 0 = the whole image in one
// 256 px tile, resolution 2^(maxzoom - z) image pixels per tile pixel), shown on a map whose units are
// image pixels, so a 1000 x 1000 PNG and a 20,000 px GeoTIFF pan and zoom alike.
import Map from "ol/Map";
import View from "ol/View";
import TileLayer from "ol/layer/Tile";
import XYZ from "ol/source/XYZ";
import TileGrid from "ol/tilegrid/TileGrid";
import Projection from "ol/proj/Projection";
import { defaults as defaultControls, ScaleLine } from "ol/control";
import { defaults as defaultInteractions } from "ol/interaction/defaults";
import type { Extent } from "ol/extent";
import Polygon from "ol/geom/Polygon";
import { getArea as geodesicArea } from "ol/sphere";
import type { Observation } from "../api/client";

export function imageExtent(observation: Observation): Extent {
  return [0, -observation.height, observation.width, 0];
}

/** Square metres per image pixel, from the footprint's true (geodesic) area; null when not georeferenced. */
export function pixelSizeM2(observation: Observation): number | null {
  const footprint = observation.footprint as { type?: string; coordinates?: number[][][] } | null;
  if (!footprint || footprint.type !== "Polygon" || !footprint.coordinates) return null;
  const area = geodesicArea(new Polygon(footprint.coordinates), { projection: "EPSG:4326" });
  return area / (observation.width * observation.height);
}

export function pixelProjection(observation: Observation): Projection {
  const m2 = pixelSizeM2(observation);
  return new Projection({
    code: `pixel:${observation.id}`,
    units: "pixels",
    extent: imageExtent(observation),
    // Metres per pixel makes the scale bar true and lets the basemap be reprojected into this grid.
    metersPerUnit: m2 ? Math.sqrt(m2) : 1,
  });
}

/** The observation's tiles as a layer (also used for the previous observation in the swipe view). */
export function pixelTileLayer(observation: Observation, projection: Projection): TileLayer<XYZ> {
  const tiles = observation.tiles;
  if (!tiles) throw new Error(`${observation.original_filename} is not ready yet (${observation.status}).`);
  const resolutions = Array.from({ length: tiles.maxzoom + 1 }, (_, z) => 2 ** (tiles.maxzoom - z));
  const grid = new TileGrid({
    origin: [0, 0],
    extent: imageExtent(observation),
    resolutions,
    tileSize: tiles.tile_size,
  });
  // PNG keeps no-data transparent; the backend answers JPEG by default. Tiles appear at full strength at
  // once, without a fade-in (docs/adr/2026-12-03-image-tiles-without-a-fade-in.md).
  const url = tiles.pixel.replace(/\.(jpg|jpeg|webp)(\?|$)/, ".png$2");
  return new TileLayer({
    source: new XYZ({ url, tileGrid: grid, projection, interpolate: true, transition: 0 }),
    properties: { observationId: observation.id },
  });
}

export function createPixelMap(target: HTMLElement, observation: Observation): { map: Map; base: TileLayer<XYZ> } {
  const projection = pixelProjection(observation);
  const base = pixelTileLayer(observation, projection);
  const maxzoom = observation.tiles?.maxzoom ?? 0;
  const view = new View({
    projection,
    extent: imageExtent(observation),
    constrainOnlyCenter: true,
    // From the whole image at a quarter of a screen pixel per tile pixel to 16 screen pixels per image pixel.
    maxResolution: 2 ** (maxzoom + 2),
    minResolution: 1 / 16,
    smoothResolutionConstraint: true,
  });
  const map = new Map({
    target,
    layers: [base],
    view,
    controls: defaultControls({ attribution: false, rotate: false }),
    interactions: defaultInteractions({ doubleClickZoom: false, altShiftDragRotate: false, pinchRotate: false }),
  });
  view.fit(imageExtent(observation), { padding: [16, 16, 16, 16] });
  if (observation.transform) map.addControl(new ScaleLine({ units: "metric" }));
  return { map, base };
}
