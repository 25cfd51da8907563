// Which embedded window answers a prompt, and SAM's decoder inputs for it: the browser's copy of
// app/ml/sam_windows.py (window_for, Window.to_input) and app/services/sam_decoder.py (_decoder_inputs), so
// that a prompt decoded here sees the window and the numbers the server's decode would.

export const ENCODER_SIZE = 1024;
export const LOW_RES_MASK_SIZE = 256;

export interface SamWindow {
  index: number;
  kind: "tile" | "full";
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SamPoint {
  x: number;
  y: number;
  positive: boolean;
}

/** What the user asked for, in the image's pixels. */
export interface SamRequest {
  points: SamPoint[];
  box: [number, number, number, number] | null;
  simplifyPx: number;
  minAreaPx: number;
  largestOnly: boolean;
}

export function promptBox(request: SamRequest): [number, number, number, number] {
  const xs = [...request.points.map((p) => p.x), ...(request.box ? [request.box[0], request.box[2]] : [])];
  const ys = [...request.points.map((p) => p.y), ...(request.box ? [request.box[1], request.box[3]] : [])];
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

const room = (w: SamWindow, [x0, y0, x1, y1]: number[]): number =>
  Math.min(x0! - w.x, y0! - w.y, w.x + w.width - x1!, w.y + w.height - y1!);
const contains = (w: SamWindow, [x0, y0, x1, y1]: number[]): boolean =>
  w.x <= x0! && w.y <= y0! && x1! <= w.x + w.width && y1! <= w.y + w.height;

/** The tile holding the prompt with the most room around it (the lower index on a tie), else the full frame. */
export function windowFor(windows: readonly SamWindow[], box: [number, number, number, number]): SamWindow {
  let best: SamWindow | null = null;
  for (const w of windows) {
    if (w.kind !== "tile" || !contains(w, box)) continue;
    if (best === null || room(w, box) > room(best, box)) best = w;
  }
  const full = windows.find((w) => w.kind === "full");
  if (best) return best;
  if (!full) throw new Error("the embeddings have no full-frame window");
  return full;
}

export const windowScale = (w: SamWindow): number => ENCODER_SIZE / Math.max(w.width, w.height);

/** Points and box corners in the window's SAM input frame, with SAM's labels (1, 0; 2 and 3 for the box; a
 * padding point labelled -1 when there is no box, as SAM's own ONNX example does). */
export function promptInputs(request: SamRequest, w: SamWindow): { coords: Float32Array; labels: Float32Array } {
  const scale = windowScale(w);
  const coords: number[] = [];
  const labels: number[] = [];
  for (const p of request.points) {
    coords.push((p.x - w.x) * scale, (p.y - w.y) * scale);
    labels.push(p.positive ? 1 : 0);
  }
  if (request.box) {
    const [x0, y0, x1, y1] = request.box;
    coords.push((x0 - w.x) * scale, (y0 - w.y) * scale, (x1 - w.x) * scale, (y1 - w.y) * scale);
    labels.push(2, 3);
  } else {
    coords.push(0, 0);
    labels.push(-1);
  }
  return { coords: Float32Array.from(coords), labels: Float32Array.from(labels) };
}
