// A basemap under a georeferenced image, in the image's own pixel grid: OpenLayers reprojects the Web
// Mercator tiles through the image's affine transform and CRS (PROJ string from the API, proj4 here), so
// drawing and editing stay in pixels while roads and towns around the mine show where it is.
import proj4 from "proj4";
import TileLayer from "ol/layer/Tile";
import XYZ from "ol/source/XYZ";
import { addCoordinateTransforms } from "ol/proj";
import type Projection from "ol/proj/Projection";
import type { Coordinate } from "ol/coordinate";
import type { Observation } from "../api/client";
import type { UiConfig } from "../api/uiConfig";

/** Pixel (map x = column, y = -row) <-> Web Mercator, through the image's affine transform and CRS. */
export function pixelToMercator(observation: Observation): {
  forward: (c: Coordinate) => Coordinate;
  inverse: (c: Coordinate) => Coordinate;
} | null {
  const transform = observation.transform;
  if (!transform || transform.length < 6 || !observation.crs_proj4) return null;
  const [a = 1, b = 0, c = 0, d = 0, e = -1, f = 0] = transform;
  const det = a * e - b * d;
  if (det === 0) return null;
  const definition = observation.crs_proj4.replace(/\s*\+type=crs/, "");
  const converter = proj4(definition, "EPSG:3857");
  return {
    forward: ([x = 0, y = 0]) => {
      const col = x;
      const row = -y;
      return converter.forward([a * col + b * row + c, d * col + e * row + f]);
    },
    inverse: (mercator) => {
      const [cx = 0, cy = 0] = converter.inverse([mercator[0] ?? 0, mercator[1] ?? 0]);
      const dx = cx - c;
      const dy = cy - f;
      const col = (e * dx - b * dy) / det;
      const row = (-d * dx + a * dy) / det;
      return [col, -row];
    },
  };
}

/** The basemap layer (hidden until switched on), or null when the image or the installation has none. */
export function basemapLayer(observation: Observation, projection: Projection, ui: UiConfig): TileLayer<XYZ> | null {
  const transforms = ui.basemap_url ? pixelToMercator(observation) : null;
  if (!transforms || !ui.basemap_url) return null;
  addCoordinateTransforms(projection, "EPSG:3857", transforms.forward, transforms.inverse);
  return new TileLayer({
    source: new XYZ({ url: ui.basemap_url, attributions: ui.basemap_attribution, projection: "EPSG:3857", maxZoom: 19 }),
    visible: false,
    zIndex: -1,
    properties: { name: "basemap" },
  });
}
