// A SAM mask to polygons the way the server makes them (app/ml/vectorize.py: rasterio's shapes with
// 4-connectivity, then a simplification that never leaves a polygon invalid or empty), so that a prompt
// decoded in the browser gives the region the server would: outlines on pixel edges, holes kept, parts
// smaller than min_area_px dropped.
import type { PolygonGeoJson, Ring } from "../geometry";

export interface MaskPolygon {
  geometry: PolygonGeoJson;
  areaPx: number;
}

// Directions on the pixel-corner grid, y down: east, south, west, north (clockwise on screen).
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/**
 * The polygons of the 4-connected groups of `mask` (1 = in), largest first when `largestOnly`.
 *
 * Args:
 *   mask: width x height, row-major, 1 inside.
 *   offset: the mask's top-left in the image, added to every vertex.
 * Returns: polygons in image pixels, in scan order (or just the largest).
 */
export function maskToPolygons(
  mask: Uint8Array,
  width: number,
  height: number,
  options: { simplifyPx: number; minAreaPx: number; largestOnly: boolean; offset: [number, number] },
): MaskPolygon[] {
  const labels = new Int32Array(width * height);
  const sizes: number[] = [0];
  const stack: number[] = [];
  // 4-connected groups, numbered in scan order (the order rasterio's shapes gives them).
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const label = sizes.length;
    let size = 0;
    labels[start] = label;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const x = i % width;
      if (x > 0 && mask[i - 1] && !labels[i - 1]) (labels[i - 1] = label), stack.push(i - 1);
      if (x < width - 1 && mask[i + 1] && !labels[i + 1]) (labels[i + 1] = label), stack.push(i + 1);
      if (i >= width && mask[i - width] && !labels[i - width]) (labels[i - width] = label), stack.push(i - width);
      if (i + width < mask.length && mask[i + width] && !labels[i + width]) (labels[i + width] = label), stack.push(i + width);
    }
    sizes.push(size);
  }
  let wanted = sizes.map((size, label) => label > 0 && size >= options.minAreaPx);
  if (options.largestOnly) {
    let best = 0;
    for (let label = 1; label < sizes.length; label++) if (wanted[label] && sizes[label]! > (sizes[best] ?? 0)) best = label;
    wanted = sizes.map((_, label) => label === best && best > 0);
  }
  const rings = new Map<number, Ring[]>();
  const visited = new Uint8Array((width + 1) * (height + 1));
  const inside = (x: number, y: number, label: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === label;
  // An edge leaving corner (x, y) in direction d is on the outline when the pixel on its left is in and the
  // one on its right is out (left and right as seen walking it on screen).
  const boundary = (x: number, y: number, d: number, label: number): boolean => {
    switch (d) {
      case 0: return inside(x, y - 1, label) && !inside(x, y, label);
      case 1: return inside(x, y, label) && !inside(x - 1, y, label);
      case 2: return inside(x - 1, y, label) && !inside(x - 1, y - 1, label);
      default: return inside(x - 1, y - 1, label) && !inside(x, y - 1, label);
    }
  };
  for (let i = 0; i < mask.length; i++) {
    const label = labels[i]!;
    if (!label || !wanted[label]) continue;
    const px = i % width;
    const py = (i - px) / width;
    // The top edge of a pixel whose upper neighbour is out starts a ring (walked westwards).
    if (inside(px, py - 1, label)) continue;
    const sx = px + 1;
    const sy = py;
    if (visited[sy * (width + 1) + sx]! & (1 << 2)) continue;
    const ring: Ring = [];
    let x = sx;
    let y = sy;
    let d = 2;
    for (let steps = 0; steps <= 4 * visited.length; steps++) {
      visited[y * (width + 1) + x]! |= 1 << d;
      x += DX[d]!;
      y += DY[d]!;
      // Left first: around a corner where two pixels touch diagonally, the outline keeps to its own pixel
      // (4-connectivity: diagonal neighbours are apart).
      let next = d;
      for (const turn of [3, 0, 1]) {
        const candidate = (d + turn) % 4;
        if (boundary(x, y, candidate, label)) {
          next = candidate;
          break;
        }
      }
      if (next !== d) ring.push([x + options.offset[0], y + options.offset[1]]);
      d = next;
      if (x === sx && y === sy && d === 2) break;
    }
    ring.push([...ring[0]!]);
    const list = rings.get(label) ?? [];
    list.push(ring);
    rings.set(label, list);
  }
  const polygons: MaskPolygon[] = [];
  for (const [, list] of [...rings.entries()].sort((a, b) => a[0] - b[0])) {
    // Walked with the inside on the left: the outline has a negative signed area on screen, holes positive.
    const outer = list.find((ring) => signedArea(ring) < 0);
    if (!outer) continue;
    const holes = list.filter((ring) => ring !== outer);
    const simplified = [outer, ...holes].map((ring) => simplifyRing(ring, options.simplifyPx));
    const geometry: PolygonGeoJson = { type: "Polygon", coordinates: simplified };
    polygons.push({ geometry, areaPx: Math.abs(signedArea(simplified[0]!)) - simplified.slice(1).reduce((s, r) => s + Math.abs(signedArea(r)), 0) });
  }
  return polygons;
}

export function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0; i + 1 < ring.length; i++) sum += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return sum / 2;
}

/** Douglas-Peucker on a closed ring (its first vertex kept); the ring as it was when the result would be
 * degenerate (fewer than four vertices, or turned inside out). */
export function simplifyRing(ring: Ring, tolerance: number): Ring {
  if (tolerance <= 0 || ring.length <= 4) return ring;
  const keep = new Uint8Array(ring.length);
  keep[0] = 1;
  keep[ring.length - 1] = 1;
  // A closed ring's two ends are one point: split it at the vertex farthest from it first.
  let far = 1;
  let farDistance = -1;
  for (let i = 1; i < ring.length - 1; i++) {
    const distance = Math.hypot(ring[i]![0]! - ring[0]![0]!, ring[i]![1]! - ring[0]![1]!);
    if (distance > farDistance) (far = i), (farDistance = distance);
  }
  keep[far] = 1;
  const stack: [number, number][] = [[0, far], [far, ring.length - 1]];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    let worst = -1;
    let worstDistance = tolerance;
    for (let i = a + 1; i < b; i++) {
      const distance = segmentDistance(ring[i]!, ring[a]!, ring[b]!);
      if (distance > worstDistance) (worst = i), (worstDistance = distance);
    }
    if (worst >= 0) {
      keep[worst] = 1;
      stack.push([a, worst], [worst, b]);
    }
  }
  const result = ring.filter((_, i) => keep[i]);
  if (result.length < 4 || Math.sign(signedArea(result)) !== Math.sign(signedArea(ring))) return ring;
  return result;
}

function segmentDistance(p: number[], a: number[], b: number[]): number {
  const [px = 0, py = 0] = p;
  const [ax = 0, ay = 0] = a;
  const [bx = 0, by = 0] = b;
  const dx = bx - ax;
  const dy = by - ay;
  const length = dx * dx + dy * dy;
  const t = length === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}
