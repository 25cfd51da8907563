// The messages between the page and the decoder's Web Worker (decoder.worker.ts).
import type { PolygonGeoJson } from "../geometry";
import type { SamRequest, SamWindow } from "./windows";

export type WorkerAsk =
  | { type: "init"; observationId: string; windows: SamWindow[] }
  | { type: "prefetch"; id: number; windowIndex: number }
  | { type: "decode"; id: number; request: SamRequest };

export interface DecodeTiming {
  fetchMs: number;
  decodeMs: number;
  polygonMs: number;
}

export type WorkerAnswer =
  | { type: "ready" }
  | { type: "prefetched"; id: number; ms: number }
  | { type: "result"; id: number; polygons: PolygonGeoJson[]; score: number; windowIndex: number; timing: DecodeTiming }
  | { type: "error"; id: number; message: string };
