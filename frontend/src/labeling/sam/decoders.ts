// Two ways to turn a SAM prompt into polygons with one interface: in the browser (the ONNX decoder in a Web
// Worker, decoder.worker.ts) and on the server (POST /api/observations/{id}/sam), which the tool falls back
// to where the browser cannot decode (no WebAssembly, a decoder that does not load).
import { api, call } from "../../api/client";
import type { PolygonGeoJson } from "../geometry";
import type { DecodeTiming, WorkerAnswer, WorkerAsk } from "./protocol";
import type { SamRequest, SamWindow } from "./windows";

export interface SamResult {
  polygons: PolygonGeoJson[];
  score: number;
  /** Where the time went (browser decoding only). */
  timing: DecodeTiming | null;
}

export interface SamDecoder {
  readonly kind: "browser" | "server";
  decode(request: SamRequest): Promise<SamResult>;
  dispose(): void;
}

export class ServerDecoder implements SamDecoder {
  readonly kind = "server";

  constructor(private readonly observationId: string) {}

  async decode(request: SamRequest): Promise<SamResult> {
    const answer = await call(
      api.POST("/api/observations/{observation_id}/sam", {
        params: { path: { observation_id: this.observationId } },
        body: {
          points: request.points,
          box: request.box,
          simplify_px: request.simplifyPx,
          min_area_px: request.minAreaPx,
          largest_only: request.largestOnly,
        },
      }),
    );
    return { polygons: answer.polygons.map((p) => p.geometry as unknown as PolygonGeoJson), score: answer.score, timing: null };
  }

  dispose(): void {}
}

const START_TIMEOUT_MS = 60_000;

export class BrowserDecoder implements SamDecoder {
  readonly kind = "browser";
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (answer: WorkerAnswer) => void; reject: (error: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<WorkerAnswer>) => {
      const answer = event.data;
      if (answer.type === "ready") return;
      const waiter = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      if (answer.type === "error") waiter?.reject(new Error(answer.message));
      else waiter?.resolve(answer);
    };
  }

  /** A worker with the decoder loaded; rejects (saying why) where the browser cannot decode. */
  static start(observationId: string, windows: SamWindow[]): Promise<BrowserDecoder> {
    if (typeof WebAssembly !== "object") return Promise.reject(new Error("this browser has no WebAssembly"));
    const worker = new Worker(new URL("./decoder.worker.ts", import.meta.url), { type: "module" });
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        window.clearTimeout(timer);
        worker.terminate();
        reject(new Error(why));
      };
      const timer = window.setTimeout(() => fail("the decoder took too long to load"), START_TIMEOUT_MS);
      worker.onerror = (event) => fail(event.message || "the decoder's worker failed to start");
      worker.onmessage = (event: MessageEvent<WorkerAnswer>) => {
        window.clearTimeout(timer);
        if (event.data.type === "ready") {
          worker.onerror = null;
          resolve(new BrowserDecoder(worker));
        } else fail(event.data.type === "error" ? event.data.message : "the decoder did not start");
      };
      worker.postMessage({ type: "init", observationId, windows } satisfies WorkerAsk);
    });
  }

  private ask(message: WorkerAsk & { id: number }): Promise<WorkerAnswer> {
    return new Promise((resolve, reject) => {
      this.waiting.set(message.id, { resolve, reject });
      this.worker.postMessage(message);
    });
  }

  /** Fetches a window's embedding ahead of the first prompt on it; resolves with the milliseconds it took. */
  async prefetch(windowIndex: number): Promise<number> {
    const answer = await this.ask({ type: "prefetch", id: this.next++, windowIndex });
    return answer.type === "prefetched" ? answer.ms : 0;
  }

  async decode(request: SamRequest): Promise<SamResult> {
    const answer = await this.ask({ type: "decode", id: this.next++, request });
    if (answer.type !== "result") throw new Error("the decoder answered something else");
    return { polygons: answer.polygons, score: answer.score, timing: answer.timing };
  }

  dispose(): void {
    this.worker.terminate();
    for (const waiter of this.waiting.values()) waiter.reject(new Error("the SAM tool was closed"));
    this.waiting.clear();
  }
}
