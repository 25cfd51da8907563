// Regions travel as GeoJSON in the image's pixel coordinates (x = column, y = row, downwards). On the map
// y points up, so the map shows row r at y = -r; these two functions are the only place that flips it.
import Feature from "ol/Feature";
import MultiPolygon from "ol/geom/MultiPolygon";
import Polygon from "ol/geom/Polygon";
import type { Coordinate } from "ol/coordinate";

export type Ring = number[][];
export interface PolygonGeoJson {
  type: "Polygon";
  coordinates: Ring[];
}
export interface MultiPolygonGeoJson {
  type: "MultiPolygon";
  coordinates: Ring[][];
}
export type AreaGeoJson = PolygonGeoJson | MultiPolygonGeoJson;

const round = (value: number): number => Math.round(value * 100) / 100;
const unflipRing = (ring: Coordinate[]): Ring => ring.map(([x = 0, y = 0]) => [round(x), round(-y)]);

/** Appends the rings' flipped vertices to `flat` and each ring's end to `ends` (OpenLayers' flat layout). */
function flatten(rings: Ring[], flat: number[], ends: number[]): void {
  for (const ring of rings) {
    for (const point of ring) flat.push(point[0] ?? 0, -(point[1] ?? 0));
    ends.push(flat.length);
  }
}

// Made from flat coordinates directly: nested [x, -y] arrays that OpenLayers flattens at once are 200,000
// short-lived arrays when a task of 10,000 regions opens.
export function toMapGeometry(geometry: AreaGeoJson): Polygon | MultiPolygon {
  const flat: number[] = [];
  if (geometry.type === "Polygon") {
    const ends: number[] = [];
    flatten(geometry.coordinates, flat, ends);
    return new Polygon(flat, "XY", ends);
  }
  const endss = geometry.coordinates.map((polygon) => {
    const ends: number[] = [];
    flatten(polygon, flat, ends);
    return ends;
  });
  return new MultiPolygon(flat, "XY", endss);
}

export function fromMapGeometry(geometry: Polygon | MultiPolygon): AreaGeoJson {
  if (geometry instanceof Polygon) {
    return { type: "Polygon", coordinates: geometry.getCoordinates().map(unflipRing) };
  }
  return {
    type: "MultiPolygon",
    coordinates: geometry.getCoordinates().map((polygon) => polygon.map(unflipRing)),
  };
}

export function isArea(value: unknown): value is AreaGeoJson {
  const type = (value as { type?: unknown } | null)?.type;
  return type === "Polygon" || type === "MultiPolygon";
}

/** The polygon's area in image pixels (holes subtracted). */
export function pixelArea(feature: Feature): number {
  const geometry = feature.getGeometry();
  return geometry instanceof Polygon || geometry instanceof MultiPolygon ? geometry.getArea() : 0;
}

export function pointToPixel([x = 0, y = 0]: Coordinate): [number, number] {
  return [round(x), round(-y)];
}

export function pixelToPoint([x, y]: [number, number]): Coordinate {
  return [x, -y];
}
