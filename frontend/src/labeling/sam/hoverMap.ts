// Hover maps (docs/adr/2026-12-03-sam-hover-previews-from-a-point-grid.md; app/ml/sam_hover.py writes them
// and describes the format): the masks SAM gave a grid of single points over one embedded window, fetched
// once per window, so that the mask under the pointer is previewed at once, without a decode. Each mask is
// stored row by row with an offset per row, so that whether it holds a pixel costs one row's spans.

const MAGIC = "MLHM";
const FORMAT_VERSION = 1;
const HEADER_BYTES = 20;
const ENTRY_BYTES = 32;
/** Grid cells each way around the pointer's own whose masks may hold it: the near ones first, then (where
 * none of those does, as on a thin object between grid points) farther ones, whose larger masks may. */
const REACHES = [2, 5];
/** The farthest a near miss is looked for (window pixels): beyond it the spot waits for its own decode. */
const MAX_NEAR_PX = 12;

const offsetsWithin = new Map<number, [number, number, number][]>();

/** The offsets (dx, dy, distance) within `radius` pixels, nearest first, the pixel itself the first. */
function nearOffsets(radius: number): [number, number, number][] {
  let offsets = offsetsWithin.get(radius);
  if (!offsets) {
    offsets = [];
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const distance = Math.hypot(dx, dy);
        if (distance <= radius) offsets.push([dx, dy, distance]);
      }
    }
    offsets.sort((a, b) => a[2] - b[2]);
    offsetsWithin.set(radius, offsets);
  }
  return offsets;
}

/** A grid point's mask, cropped to its box plus a pixel of margin (inside the window), with where that crop
 * lies in the image. */
export interface HoverMask {
  index: number;
  mask: Uint8Array;
  width: number;
  height: number;
  /** The crop's top-left corner in image pixels. */
  offset: [number, number];
  score: number;
  /** 0 where the mask holds the pixel asked about; else how far (window pixels) its nearest held pixel is. */
  near: number;
}

interface Entry {
  offset: number;
  length: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
  score: number;
}

export class HoverMap {
  private constructor(
    readonly perSide: number,
    readonly width: number,
    readonly height: number,
    private readonly entries: Entry[],
    private readonly payload: Uint8Array,
  ) {
    this.view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  /** The read position in the payload (varint). */
  private at = 0;
  private readonly view: DataView;

  static parse(buffer: ArrayBuffer): HoverMap {
    const view = new DataView(buffer);
    const magic = String.fromCharCode(...new Uint8Array(buffer, 0, Math.min(4, buffer.byteLength)));
    if (buffer.byteLength < HEADER_BYTES || magic !== MAGIC || view.getUint8(4) !== FORMAT_VERSION) {
      throw new Error(`not a hover map of format ${FORMAT_VERSION}`);
    }
    const perSide = view.getUint16(6, true);
    const width = view.getUint32(8, true);
    const height = view.getUint32(12, true);
    const count = view.getUint32(16, true);
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const at = HEADER_BYTES + i * ENTRY_BYTES;
      const u = (k: number): number => view.getUint32(at + 4 * k, true);
      entries.push({ offset: u(0), length: u(1), x0: u(2), y0: u(3), x1: u(4), y1: u(5), area: u(6), score: view.getFloat32(at + 28, true) });
    }
    const payload = new Uint8Array(buffer, HEADER_BYTES + count * ENTRY_BYTES);
    return new HoverMap(perSide, width, height, entries, payload);
  }

  /** The smallest mask of the grid points around (x, y) (window pixels) that holds that pixel. Where none
   * does (a thin gap between two objects' masks, an edge), the smallest that holds the nearest pixel within
   * `nearPx` of it, with that distance as `near`; null when none is that close either (the decode of the
   * spot itself answers then). */
  maskAt(x: number, y: number, nearPx = 0): HoverMask | null {
    const px = Math.floor(x);
    const py = Math.floor(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return null;
    for (const [dx, dy, distance] of nearOffsets(Math.max(0, Math.min(Math.floor(nearPx), MAX_NEAR_PX)))) {
      const best = this.holding(px + dx, py + dy);
      if (best >= 0) return { ...this.crop(best), near: distance };
    }
    return null;
  }

  /** The smallest mask of the grid points around pixel (px, py) that holds it: the near ones first, then
   * farther ones; -1 for none (or outside the window). */
  private holding(px: number, py: number): number {
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return -1;
    const col = Math.min(this.perSide - 1, Math.floor((px * this.perSide) / this.width));
    const row = Math.min(this.perSide - 1, Math.floor((py * this.perSide) / this.height));
    for (const reach of REACHES) {
      let best = -1;
      for (let r = Math.max(0, row - reach); r <= Math.min(this.perSide - 1, row + reach); r++) {
        for (let c = Math.max(0, col - reach); c <= Math.min(this.perSide - 1, col + reach); c++) {
          const index = r * this.perSide + c;
          const entry = this.entries[index]!;
          if ((best < 0 || entry.area < this.entries[best]!.area) && this.holds(entry, px, py)) best = index;
        }
      }
      if (best >= 0) return best;
    }
    return -1;
  }

  private holds(entry: Entry, px: number, py: number): boolean {
    if (entry.area === 0 || px < entry.x0 || px >= entry.x1 || py < entry.y0 || py >= entry.y1) return false;
    const [from, to] = this.row(entry, py - entry.y0);
    const col = px - entry.x0;
    let x = 0;
    this.at = from;
    while (this.at < to) {
      x += this.varint();
      if (col < x) return false;
      x += this.varint();
      if (col < x) return true;
    }
    return false;
  }

  /** Where row ``row`` of the entry's box has its spans in the payload: [from, to). */
  private row(entry: Entry, row: number): [number, number] {
    const rows = entry.y1 - entry.y0;
    const table = entry.offset;
    const spans = table + 4 * rows;
    const offset = (r: number): number => this.view.getUint32(table + 4 * r, true);
    return [spans + offset(row), row + 1 < rows ? spans + offset(row + 1) : entry.offset + entry.length];
  }

  /** The varint at `this.at`, moving past it. */
  private varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.payload[this.at++]!;
      value += (byte & 0x7f) * scale; // multiplied, not shifted: JavaScript shifts wrap at 32 bits
      if (!(byte & 0x80)) return value;
      scale *= 128;
    }
  }

  private crop(index: number): Omit<HoverMask, "near"> {
    const entry = this.entries[index]!;
    const cx0 = Math.max(0, entry.x0 - 1);
    const cy0 = Math.max(0, entry.y0 - 1);
    const width = Math.min(this.width, entry.x1 + 1) - cx0;
    const height = Math.min(this.height, entry.y1 + 1) - cy0;
    const mask = new Uint8Array(width * height);
    for (let row = 0; row < entry.y1 - entry.y0; row++) {
      const [from, to] = this.row(entry, row);
      const base = (row + entry.y0 - cy0) * width + entry.x0 - cx0;
      let x = 0;
      this.at = from;
      while (this.at < to) {
        x += this.varint();
        const length = this.varint();
        mask.fill(1, base + x, base + x + length);
        x += length;
      }
    }
    return { index, mask, width, height, offset: [cx0, cy0], score: entry.score };
  }
}

/** The open image's hover maps, by window index: each fetched once (the browser keeps them by ETag). */
export class HoverMaps {
  private readonly loading = new Map<number, Promise<void>>();
  private readonly loaded = new Map<number, HoverMap>();

  constructor(
    private readonly observationId: string,
    private readonly windowIndexes: number[],
  ) {}

  /** The window's map, or null while it loads (this starts loading it), where it failed or where the window
   * has none. */
  get(windowIndex: number): HoverMap | null {
    const found = this.loaded.get(windowIndex);
    if (!found && this.windowIndexes.includes(windowIndex)) void this.load(windowIndex);
    return found ?? null;
  }

  load(windowIndex: number): Promise<void> {
    let pending = this.loading.get(windowIndex);
    if (!pending) {
      pending = (async () => {
        const response = await fetch(`/api/observations/${this.observationId}/sam/hover/${windowIndex}`, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`hover map of window ${windowIndex}: HTTP ${response.status}`);
        this.loaded.set(windowIndex, HoverMap.parse(await response.arrayBuffer()));
        // Test and benchmark hook: how many of the image's maps are here.
        document.documentElement.dataset["samHoverMaps"] = `${this.loaded.size}/${this.windowIndexes.length}`;
      })().catch((error: unknown) => console.warn(`SAM: no hover previews here: ${(error as Error).message}`));
      this.loading.set(windowIndex, pending);
    }
    return pending;
  }

  /** Every window's map, one after another (behind whatever the pointer needs first). */
  async loadAll(): Promise<void> {
    for (const index of this.windowIndexes) await this.load(index);
  }
}
