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
// Turns tried at each corner, left first (a constant: the tracer runs once per outline edge).
const TURNS = [3, 0, 1];

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
    // The server keeps the largest after simplifying: those close to the largest are traced and compared.
    let best = 0;
    for (let label = 1; label < sizes.length; label++) if (wanted[label] && sizes[label]! > (sizes[best] ?? 0)) best = label;
    const floor = (sizes[best] ?? 0) * 0.8;
    wanted = sizes.map((size, label) => best > 0 && wanted[label] === true && size >= floor);
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
  // Corners where two pixels touch only diagonally: outlines pass them twice (one group) or touch there (two).
  const on = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0;
  const diagonal = (x: number, y: number): boolean => {
    const nw = on(x - 1, y - 1);
    const se = on(x, y);
    return nw === se && on(x, y - 1) !== nw && on(x - 1, y) !== nw;
  };
  const pinches = new Set<number>();
  const pinched = new Set<Ring>();
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
      for (let t = 0; t < 3; t++) {
        const candidate = (d + TURNS[t]!) % 4;
        if (boundary(x, y, candidate, label)) {
          next = candidate;
          break;
        }
      }
      if (next !== d) {
        ring.push([x + options.offset[0], y + options.offset[1]]);
        if (diagonal(x, y)) {
          pinches.add(vertexKey(ring[ring.length - 1]!));
          pinched.add(ring);
        }
      }
      d = next;
      if (x === sx && y === sy && d === 2) break;
    }
    ring.push([...ring[0]!]);
    const list = rings.get(label) ?? [];
    list.push(ring);
    rings.set(label, list);
  }
  // A group whose pixels touch diagonally across a background corner is outlined through that corner twice;
  // GEOS (and so the API, which refuses invalid polygons) calls such a ring self-intersecting. Split there,
  // as GDAL does: the outline and a hole (or two holes) that touch at the corner.
  const loops = new Map<number, Ring[]>();
  for (const [label, list] of rings) loops.set(label, list.flatMap((ring) => (pinched.has(ring) ? splitAtPinches(ring) : [ring])));
  const parts: { outer: Ring; holes: Ring[] }[] = [];
  for (const [, list] of [...loops.entries()].sort((a, b) => a[0] - b[0])) {
    // Walked with the inside on the left: outlines have a negative signed area on screen, holes positive.
    const outers = list.filter((ring) => signedArea(ring) < 0);
    const holes = list.filter((ring) => signedArea(ring) > 0);
    for (const outer of outers) {
      const mine = outers.length === 1 ? holes : holes.filter((hole) => inRing(edgeMidpoint(hole), outer));
      parts.push({ outer, holes: mine });
    }
  }
  const polygons = parts.map((part) => [part.outer, ...part.holes]);
  const area = (polygon: Ring[]): number =>
    Math.abs(signedArea(polygon[0]!)) - polygon.slice(1).reduce((sum, ring) => sum + Math.abs(signedArea(ring)), 0);
  const result = (polygon: Ring[]): MaskPolygon => ({ geometry: { type: "Polygon", coordinates: polygon }, areaPx: area(polygon) });
  if (!options.largestOnly) return simplifyValid(polygons, options.simplifyPx, pinches).map(result);
  // Each on its own (only one is kept), the largest after simplification, as on the server.
  const simplified = polygons.map((polygon) => result(simplifyValid([polygon], options.simplifyPx, pinches)[0]!));
  return simplified.length ? [simplified.reduce((a, b) => (b.areaPx > a.areaPx ? b : a))] : [];
}

/** A vertex as a number, for sets and maps (pixel corners: whole numbers well below 2^20). */
const vertexKey = (p: number[]): number => p[0]! * 1048576 + p[1]!;

/** A closed ring that passes a vertex more than once, as simple closed loops (cut off as they close). */
function splitAtPinches(ring: Ring): Ring[] {
  const loops: Ring[] = [];
  const path: Ring = [];
  const at = new Map<number, number>();
  for (const vertex of ring.slice(0, -1)) {
    const key = vertexKey(vertex);
    const first = at.get(key);
    if (first !== undefined) {
      const loop = path.splice(first);
      for (const gone of loop) at.delete(vertexKey(gone));
      loops.push([...loop, [...loop[0]!]]);
    }
    at.set(key, path.length);
    path.push(vertex);
  }
  if (path.length) loops.push([...path, [...path[0]!]]);
  return loops;
}

/** Even-odd test against ring[a..b] closed by the shortcut from ring[b] back to ring[a] (no copy made). */
function inSection(px: number, py: number, ring: Ring, a: number, b: number): boolean {
  let inside = false;
  for (let i = a, j = b; i <= b; j = i++) {
    const xi = ring[i]![0]!;
    const yi = ring[i]![1]!;
    const xj = ring[j]![0]!;
    const yj = ring[j]![1]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function edgeMidpoint(ring: Ring): [number, number] {
  return [(ring[0]![0]! + ring[1]![0]!) / 2, (ring[0]![1]! + ring[1]![1]!) / 2];
}

/** Even-odd test (the point is never on the ring: it is the middle of another ring's edge). */
function inRing([px, py]: [number, number], ring: Ring): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [xi = 0, yi = 0] = ring[i]!;
    const [xj = 0, yj = 0] = ring[j]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A segment of a ring: an original pixel edge run, or a shortcut simplification put in its place. */
interface Segment {
  ring: number;
  /** Index of its first vertex in the ring (-1: a shortcut). */
  index: number;
  a: number[];
  b: number[];
  alive: boolean;
}

/** Things in square cells, to find those near a box without looking at all of them (plain loops, no
 * generators: the simplifier asks this once per shortcut it tries, tens of thousands of times a mask). */
class Grid<T> {
  private readonly cells = new Map<number, T[]>();

  constructor(private readonly size: number) {}

  add(item: T, x0: number, y0: number, x1: number, y1: number): void {
    const s = this.size;
    for (let x = Math.floor(x0 / s); x <= Math.floor(x1 / s); x++) {
      for (let y = Math.floor(y0 / s); y <= Math.floor(y1 / s); y++) {
        const key = x * 1048576 + y;
        const cell = this.cells.get(key);
        if (cell) cell.push(item);
        else this.cells.set(key, [item]);
      }
    }
  }

  /** Calls `visit` for each thing in a cell the box touches (some more than once) until it returns false. */
  each(x0: number, y0: number, x1: number, y1: number, visit: (item: T) => boolean): boolean {
    const s = this.size;
    for (let x = Math.floor(x0 / s); x <= Math.floor(x1 / s); x++) {
      for (let y = Math.floor(y0 / s); y <= Math.floor(y1 / s); y++) {
        const cell = this.cells.get(x * 1048576 + y);
        if (!cell) continue;
        for (let i = 0; i < cell.length; i++) if (!visit(cell[i]!)) return false;
      }
    }
    return true;
  }
}

const addSegment = (grid: Grid<Segment>, segment: Segment): void =>
  grid.add(segment, Math.min(segment.a[0]!, segment.b[0]!), Math.min(segment.a[1]!, segment.b[1]!), Math.max(segment.a[0]!, segment.b[0]!), Math.max(segment.a[1]!, segment.b[1]!));
const same = (p: number[], q: number[]): boolean => p[0] === q[0] && p[1] === q[1];

/** Whether pq and rs, which share the endpoint v, lie on top of each other from there. */
function overlapAt(v: number[], p: number[], q: number[], r: number[], s: number[]): boolean {
  const u = same(p, v) ? q : p;
  const w = same(r, v) ? s : r;
  return orient(v, u, w) === 0 && (u[0]! - v[0]!) * (w[0]! - v[0]!) + (u[1]! - v[1]!) * (w[1]! - v[1]!) > 0;
}

/**
 * The rings simplified as GEOS's topology-preserving simplifier does on the server (Douglas-Peucker, where a
 * shortcut that would cross or touch another edge, or jump over a vertex of another ring, is split further
 * instead), so that the result is as valid as the traced outlines were: rings meet only at the pinch
 * vertices where they met before.
 */
function simplifyValid(polygons: Ring[][], tolerance: number, pinches: Set<number>): Ring[][] {
  if (tolerance <= 0) return polygons;
  const rings = polygons.flat();
  const size = Math.max(8, tolerance * 4);
  const segments = new Grid<Segment>(size);
  const vertices = new Grid<{ ring: number; p: number[] }>(size);
  const own: Segment[][] = rings.map((ring, r) => {
    const list: Segment[] = [];
    for (let i = 0; i + 1 < ring.length; i++) {
      const segment = { ring: r, index: i, a: ring[i]!, b: ring[i + 1]!, alive: true };
      list.push(segment);
      addSegment(segments, segment);
      vertices.add({ ring: r, p: ring[i]! }, ring[i]![0]!, ring[i]![1]!, ring[i]![0]!, ring[i]![1]!);
    }
    return list;
  });

  /** Whether the shortcut ring[a] -> ring[b] keeps the rings valid. */
  const shortcutOk = (r: number, a: number, b: number): boolean => {
    const ring = rings[r]!;
    const p = ring[a]!;
    const q = ring[b]!;
    const edgesOk = segments.each(Math.min(p[0]!, q[0]!), Math.min(p[1]!, q[1]!), Math.max(p[0]!, q[0]!), Math.max(p[1]!, q[1]!), (other) => {
      if (!other.alive || (other.ring === r && other.index >= a && other.index < b)) return true;
      if (!meet(p, q, other.a, other.b)) return true;
      const shared = same(p, other.a) || same(p, other.b) ? p : same(q, other.a) || same(q, other.b) ? q : null;
      if (!shared || overlapAt(shared, p, q, other.a, other.b)) return false;
      // Its own neighbours meet it at its ends; other rings only where they touched before.
      return other.ring === r || pinches.has(vertexKey(shared));
    });
    if (!edgesOk) return false;
    // No vertex of another ring may end up on the other side: only those in the section's box are looked at.
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity; // prettier-ignore
    for (let i = a; i <= b; i++) {
      const v = ring[i]!;
      if (v[0]! < x0) x0 = v[0]!;
      if (v[0]! > x1) x1 = v[0]!;
      if (v[1]! < y0) y0 = v[1]!;
      if (v[1]! > y1) y1 = v[1]!;
    }
    return vertices.each(x0, y0, x1, y1, ({ ring: o, p: v }) => {
      if (o === r || v[0]! < x0 || v[0]! > x1 || v[1]! < y0 || v[1]! > y1) return true;
      // A vertex the section shares with another ring (a pinch) is on it, not across it.
      if (pinches.has(vertexKey(v))) for (let i = a; i <= b; i++) if (same(ring[i]!, v)) return true;
      return !inSection(v[0]!, v[1]!, ring, a, b);
    });
  };

  const simplified = rings.map((ring, r) => {
    const n = ring.length - 1; // ring[n] repeats ring[0]
    if (n < 4) return ring;
    const keep = new Uint8Array(n + 1).fill(1);
    let left = n + 1;
    const added: Segment[] = [];
    const flatten = (a: number, b: number): void => {
      for (let i = a + 1; i < b; i++) keep[i] = 0;
      left -= b - a - 1;
      for (let i = a; i < b; i++) own[r]![i]!.alive = false;
      const segment = { ring: r, index: -1, a: ring[a]!, b: ring[b]!, alive: true };
      added.push(segment);
      addSegment(segments, segment);
    };
    // A closed ring's two ends are one point: split it at the vertex farthest from it first.
    let far = 1;
    for (let i = 1; i < n; i++) if (Math.hypot(ring[i]![0]! - ring[0]![0]!, ring[i]![1]! - ring[0]![1]!) > Math.hypot(ring[far]![0]! - ring[0]![0]!, ring[far]![1]! - ring[0]![1]!)) far = i;
    const stack: [number, number][] = [[far, n], [0, far]];
    while (stack.length) {
      const [a, b] = stack.pop()!;
      if (b - a < 2) continue;
      let worst = a + 1;
      let worstDistance = -1;
      for (let i = a + 1; i < b; i++) {
        const distance = segmentDistance(ring[i]!, ring[a]!, ring[b]!);
        if (distance > worstDistance) (worst = i), (worstDistance = distance);
      }
      // A ring keeps at least four vertices (three distinct), as on the server.
      if (worstDistance <= tolerance && left - (b - a - 1) >= 4 && shortcutOk(r, a, b)) flatten(a, b);
      else stack.push([worst, b], [a, worst]);
    }
    const result = ring.filter((_, i) => keep[i]);
    if (result.length === ring.length) return ring;
    if (result.length < 4 || Math.sign(signedArea(result)) !== Math.sign(signedArea(ring))) {
      // Back to the traced ring (the others have been checked against its edges as they were).
      for (const segment of added) segment.alive = false;
      for (const segment of own[r]!) segment.alive = true;
      return ring;
    }
    return result;
  });
  // Two rings that share a pinch vertex must still only touch there, not pass through each other.
  const arounds = simplified.map((ring) => pinched(ring, pinches));
  const byPinch = new Map<number, number[]>();
  arounds.forEach((around, r) => {
    for (const key of around.keys()) byPinch.set(key, [...(byPinch.get(key) ?? []), r]);
  });
  for (const [key, list] of byPinch) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        if (crossAtVertex(arounds[list[i]!]!.get(key)!, arounds[list[j]!]!.get(key)!)) return polygons;
      }
    }
  }
  let at = 0;
  return polygons.map((polygon) => polygon.map(() => simplified[at++]!));
}

const orient = (a: number[], b: number[], c: number[]): number =>
  Math.sign((b[0]! - a[0]!) * (c[1]! - a[1]!) - (b[1]! - a[1]!) * (c[0]! - a[0]!));

function onSegment(a: number[], b: number[], p: number[]): boolean {
  return Math.min(a[0]!, b[0]!) <= p[0]! && p[0]! <= Math.max(a[0]!, b[0]!) && Math.min(a[1]!, b[1]!) <= p[1]! && p[1]! <= Math.max(a[1]!, b[1]!);
}

/** Whether segments ab and cd meet at all (crossing, touching or overlapping). */
function meet(a: number[], b: number[], c: number[], d: number[]): boolean {
  const o1 = orient(a, b, c);
  const o2 = orient(a, b, d);
  const o3 = orient(c, d, a);
  const o4 = orient(c, d, b);
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(a, b, c)) || (o2 === 0 && onSegment(a, b, d)) || (o3 === 0 && onSegment(c, d, a)) || (o4 === 0 && onSegment(c, d, b));
}

type Around = Map<number, [number[], number[], number[]]>;

/** A ring's pinch vertices, each with the vertices before and after it. */
function pinched(ring: Ring, pinches: Set<number>): Around {
  const found: Around = new Map();
  const n = ring.length - 1;
  for (let i = 0; i < n; i++) {
    const key = vertexKey(ring[i]!);
    if (pinches.has(key)) found.set(key, [ring[(i + n - 1) % n]!, ring[i]!, ring[i + 1]!]);
  }
  return found;
}

/** Whether two rings pass through each other at a vertex they share (their edges around it interleave). */
function crossAtVertex([prevA, v, nextA]: [number[], number[], number[]], [prevB, , nextB]: [number[], number[], number[]]): boolean {
  const angle = (p: number[]): number => Math.atan2(p[1]! - v[1]!, p[0]! - v[0]!);
  const [from, to] = [angle(prevA), angle(nextA)];
  // b's two edges must both lie in the same one of the two sectors that a's edges make at v.
  const inSector = (t: number): boolean => (from < to ? t > from && t < to : t > from || t < to);
  return inSector(angle(prevB)) !== inSector(angle(nextB));
}

export function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0; i + 1 < ring.length; i++) sum += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return sum / 2;
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
