// The messages between the page and the decoder's Web Worker (decoder.worker.ts).
import type { PolygonGeoJson } from "../geometry";
import type { SamRequest, SamWindow } from "./windows";

export type WorkerAsk =
  | { type: "init"; observationId: string; windows: SamWindow[] }
  | { type: "prefetch"; id: number; windowIndex: number }
  | { type: "decode"; id: number; request: SamRequest };

export interface DecodeTiming {
  /** Waiting for the window's embedding (0 once it is in the worker). */
  fetchMs: number;
  decodeMs: number;
  polygonMs: number;
  /** Where this decode had to fetch its window: the download and the float16 -> float32 conversion. */
  fetched: { windowIndex: number; networkMs: number; convertMs: number } | null;
}

export type WorkerAnswer =
  | { type: "ready" }
  | { type: "prefetched"; id: number; ms: number }
  | { type: "result"; id: number; polygons: PolygonGeoJson[]; score: number; windowIndex: number; timing: DecodeTiming }
  | { type: "error"; id: number; message: string };
