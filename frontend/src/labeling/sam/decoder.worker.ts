// SAM's prompt decoder in the browser: onnxruntime-web (WebAssembly, one thread: no cross-origin isolation
// needed) in a Web Worker, on the embedding windows of the open image fetched from the API (float16, kept by
// the browser's cache), and the mask turned into polygons as the server does. The page talks to it through
// messages (see BrowserDecoder in decoders.ts).
import * as ort from "onnxruntime-web/wasm";
import wasmUrl from "onnxruntime-web/ort-wasm-simd-threaded.wasm?url";
import { maskToPolygons } from "./maskToPolygon";
import { promptBox, promptInputs, windowFor, LOW_RES_MASK_SIZE, type SamRequest, type SamWindow } from "./windows";
import type { WorkerAnswer, WorkerAsk } from "./protocol";

ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, self.location.origin).href };
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

let session: ort.InferenceSession | null = null;
let observationId = "";
let windows: SamWindow[] = [];
interface Loaded {
  tensor: ort.Tensor;
  networkMs: number;
  convertMs: number;
}

const embeddings = new Map<number, Promise<Loaded>>();

const post = (answer: WorkerAnswer): void => self.postMessage(answer);

/** float16 bits to float32 (the embeddings travel as half floats: 2 MiB a window). */
function halfToFloat(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    out[i] =
      exponent === 0
        ? sign * 2 ** -14 * (fraction / 1024)
        : exponent === 31
          ? fraction
            ? NaN
            : sign * Infinity
          : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/** A window's embedding; `fresh` says whether this call started fetching it. */
function embedding(index: number): { loaded: Promise<Loaded>; fresh: boolean } {
  let found = embeddings.get(index);
  const fresh = !found;
  if (!found) {
    found = (async () => {
      const started = performance.now();
      const response = await fetch(`/api/observations/${observationId}/sam/embeddings/${index}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`embedding window ${index}: HTTP ${response.status}`);
      const half = new Uint16Array(await response.arrayBuffer());
      const downloaded = performance.now();
      const tensor = new ort.Tensor("float32", halfToFloat(half), [1, 256, 64, 64]);
      return { tensor, networkMs: downloaded - started, convertMs: performance.now() - downloaded };
    })();
    found.catch(() => embeddings.delete(index));
    embeddings.set(index, found);
  }
  return { loaded: found, fresh };
}

async function decode(request: SamRequest): Promise<Extract<WorkerAnswer, { type: "result" }>> {
  if (!session) throw new Error("the decoder is not loaded");
  const started = performance.now();
  const w = windowFor(windows, promptBox(request));
  const { loaded, fresh } = embedding(w.index);
  const { tensor: image, networkMs, convertMs } = await loaded;
  const fetched = performance.now();
  const { coords, labels } = promptInputs(request, w);
  const n = labels.length;
  const outputs = await session.run({
    image_embeddings: image,
    point_coords: new ort.Tensor("float32", coords, [1, n, 2]),
    point_labels: new ort.Tensor("float32", labels, [1, n]),
    mask_input: new ort.Tensor("float32", new Float32Array(LOW_RES_MASK_SIZE * LOW_RES_MASK_SIZE), [1, 1, LOW_RES_MASK_SIZE, LOW_RES_MASK_SIZE]),
    has_mask_input: new ort.Tensor("float32", new Float32Array([0]), [1]),
    orig_im_size: new ort.Tensor("float32", new Float32Array([w.height, w.width]), [2]),
  });
  const decoded = performance.now();
  const logits = outputs["masks"]!.data as Float32Array;
  const score = (outputs["iou_predictions"]!.data as Float32Array)[0] ?? 0;
  const mask = new Uint8Array(w.width * w.height);
  for (let i = 0; i < mask.length; i++) mask[i] = logits[i]! > 0 ? 1 : 0;
  const polygons = maskToPolygons(mask, w.width, w.height, {
    simplifyPx: request.simplifyPx,
    minAreaPx: request.minAreaPx,
    largestOnly: request.largestOnly,
    offset: [w.x, w.y],
  });
  const done = performance.now();
  return {
    type: "result",
    id: 0,
    polygons: polygons.map((p) => p.geometry),
    score,
    windowIndex: w.index,
    timing: {
      fetchMs: fetched - started,
      decodeMs: decoded - fetched,
      polygonMs: done - decoded,
      fetched: fresh ? { windowIndex: w.index, networkMs, convertMs } : null,
    },
  };
}

self.onmessage = async (event: MessageEvent<WorkerAsk>): Promise<void> => {
  const ask = event.data;
  try {
    if (ask.type === "init") {
      observationId = ask.observationId;
      windows = ask.windows;
      const response = await fetch("/api/sam/decoder.onnx", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`the decoder: HTTP ${response.status}`);
      session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()), {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
      post({ type: "ready" });
    } else if (ask.type === "prefetch") {
      const started = performance.now();
      await embedding(ask.windowIndex).loaded;
      post({ type: "prefetched", id: ask.id, ms: performance.now() - started });
    } else {
      post({ ...(await decode(ask.request)), id: ask.id });
    }
  } catch (error) {
    post({ type: "error", id: "id" in ask ? ask.id : 0, message: error instanceof Error ? error.message : String(error) });
  }
};
