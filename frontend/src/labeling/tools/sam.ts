// SAM (S): while it is armed the mask under the pointer is previewed live (hovering is one more positive
// point on top of the placed prompts: the preview is what a click there would give, and the placed prompts'
// mask, what Enter keeps, is outlined apart); a click adds a positive point, Alt+click a negative one,
// Shift+drag draws a box (a plain drag pans the map, as in the other tools), and the preview follows every
// prompt; Enter (or a double-click, which places one point there) makes the mask a region of the current
// class, saved like a drawn polygon; Esc clears the prompts and the tool stays armed; Backspace takes the last
// prompt back. Decoded in the
// browser (sam/decoders.ts) or, where it cannot, on the server, saying so; while the image's embeddings are
// still being computed, the job's progress shows instead. With no prompt placed, the hover preview comes
// first from the window's hover map (the masks of a point grid, sam/hoverMap.ts), at once, and the decode
// of the spot itself replaces it when it comes.
import Feature from "ol/Feature";
import MultiPolygon from "ol/geom/MultiPolygon";
import Point from "ol/geom/Point";
import Polygon from "ol/geom/Polygon";
import PointerInteraction from "ol/interaction/Pointer";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { Circle, Fill, Stroke, Style } from "ol/style";
import type MapBrowserEvent from "ol/MapBrowserEvent";
import { api, call, ApiError, type Observation, type Schemas } from "../../api/client";
import { h } from "../../ui/dom";
import { poller, type Poller } from "../../ui/poll";
import { percent } from "../../ui/progress";
import { pixelToPoint, pointToPixel, toMapGeometry, type PolygonGeoJson } from "../geometry";
import { BrowserDecoder, ServerDecoder, type SamDecoder, type SamResult } from "../sam/decoders";
import { HoverMaps } from "../sam/hoverMap";
import { maskToPolygons } from "../sam/maskToPolygon";
import type { DecodeTiming } from "../sam/protocol";
import { windowFor, type SamPoint, type SamRequest } from "../sam/windows";
import type { Tool, ToolHost } from "./tool";

/** What a "sam-drawn" mark holds (times in ms on performance.now()'s clock): the pointer event (or prompt
 * change) answered, the decode asked of the decoder, its answer back, the preview layer updated, the map
 * painted; and the decoder's own split (browser decoding only). */
export interface SamDrawn {
  /** "map": a hover preview from the hover map (no decode: sent is when the lookup began, arrived when the
   * polygons were made); "preview": a decoded hover preview; "result": the placed prompts' mask. */
  kind: "map" | "preview" | "result";
  /** Answered from an earlier decode of the same request (no decode of its own): see `answers`. */
  reused: boolean;
  askedAt: number;
  sentAt: number;
  arrivedAt: number;
  drawnAt: number;
  paintedAt: number;
  timing: DecodeTiming | null;
  /** A map preview's near miss: 0 where its mask holds the pointer's pixel, else how far (window pixels) its
   * nearest held pixel is; null for a decode. */
  near: number | null;
}

/** The user's choices, kept per user in this browser. */
interface SamChoices {
  simplifyPx: number;
  largestOnly: boolean;
}

const DRAG_PX = 5;
/** Where no grid mask holds the pointer's pixel, one holding a pixel this close on the screen previews it
 * (docs/adr/2026-12-04-sam-hover-previews-of-near-misses.md): closer than a person aims. */
const NEAR_MISS_SCREEN_PX = 4;
const JOB_POLL_MS = 1000;
/** Decoded answers kept by their request (see `SamTool.answers`); each is a few polygons. */
const ANSWERS_KEPT = 16;

type SamState = "loading" | "waiting" | "ready" | "off";

const previewStyle = new Style({
  stroke: new Stroke({ color: "#00e5ff", width: 2 }),
  fill: new Fill({ color: "rgba(0, 229, 255, 0.25)" }),
});
const pointStyle = (positive: boolean): Style =>
  new Style({ image: new Circle({ radius: 5, fill: new Fill({ color: positive ? "#1db954" : "#e53935" }), stroke: new Stroke({ color: "#fff", width: 1.5 }) }) });
const keptStyle = new Style({ stroke: new Stroke({ color: "#ffffff", width: 2.5 }) });
const boxStyle = new Style({ stroke: new Stroke({ color: "#ffeb3b", width: 1.5, lineDash: [6, 4] }) });

/** Clicks place points and double-clicks finish (OpenLayers tells a click from a drag, which pans); a
 * Shift+drag (a box) goes through down/drag/up. */
class SamPointer extends PointerInteraction {
  onClick: (event: MapBrowserEvent) => void = () => undefined;
  onDouble: (event: MapBrowserEvent) => void = () => undefined;

  override handleEvent(event: MapBrowserEvent): boolean {
    if (event.type === "click") {
      this.onClick(event);
      return false;
    }
    if (event.type === "dblclick") {
      this.onDouble(event);
      return false;
    }
    return super.handleEvent(event);
  }
}

/** A double-click's second click comes this close (screen pixels, and OpenLayers' 250 ms) to its first. */
const DOUBLE_PX = 6;
const DOUBLE_MS = 250;
const near = (a: [number, number], b: [number, number]): boolean => Math.hypot(a[0] - b[0], a[1] - b[1]) < DOUBLE_PX;

export class SamTool implements Tool {
  readonly id = "sam";
  readonly label = "SAM";
  readonly key = "S";
  readonly keys = ["s"];
  readonly help = "Segment Anything: hover to preview, click + / Alt+click −, Shift+drag a box (drag pans); Enter or double-click keeps it, Esc clears";
  readonly edits = true;
  readonly panel: HTMLElement;
  private readonly source = new VectorSource<Feature>();
  private readonly layer = new VectorLayer({ source: this.source, properties: { name: "sam-preview" }, zIndex: 20 });
  private readonly pointer = new SamPointer({
    handleDownEvent: (event) => this.down(event),
    handleDragEvent: (event) => this.drag(event),
    handleUpEvent: (event) => this.up(event),
    handleMoveEvent: (event) => this.move(event),
  });
  private readonly status = h("p", { class: "sam-status", "data-testid": "sam-status", role: "status" });
  private decoder: SamDecoder | null = null;
  private starting: Promise<void> | null = null;
  private manifest: Schemas["EmbeddingManifest"] | null = null;
  private hoverMaps: HoverMaps | null = null;
  /** The hover (pointer position) whose map preview is shown; a decoded preview of an earlier one then does
   * not replace it (it would step back to where the pointer was). */
  private mapShownFor: SamPoint | null = null;
  /** Map lookups are throttled so that a fast sweep does not queue them (each leaves the main thread free
   * for as long as it took, and at least a frame): a trailing one takes the newest pointer position. */
  private mapTimer: number | null = null;
  private mapFreeAt = 0;
  private minAreaPx = 16;
  /** The API's limit on a region's vertices (LIMITS__MAX_POLYGON_VERTICES): a mask outlined with more is
   * refused at Enter, saying what to do, instead of failing the save. */
  private maxVertices = 100_000;
  private job: Poller | null = null;
  private state: SamState = "off";
  private points: SamPoint[] = [];
  private box: [number, number, number, number] | null = null;
  private hover: SamPoint | null = null;
  private downAt: [number, number] | null = null;
  private dragFrom: [number, number] | null = null;
  /** The last two clicks' screen positions and whether each placed a point (a double-click's second click
   * adds no second point). */
  private lastClick: { at: [number, number]; time: number; placed: boolean } | null = null;
  private clickBefore: { at: [number, number]; time: number; placed: boolean } | null = null;
  /** The result of the placed prompts (what Enter keeps), and of what is shown. */
  private result: SamResult | null = null;
  private shown: SamResult | null = null;
  /** Bumped on every change of the placed prompts, so that a late answer is not taken for a newer prompt. */
  private version = 0;
  private resultVersion = -1;
  private busy = false;
  private again = false;
  /** Recent answers by their request (oldest first). A click where the pointer rests asks for exactly what
   * its hover preview decoded (the placed points and that one, positive), so it is answered as soon as that
   * decode ends instead of decoding again behind it; Backspace and Esc go back to prompts decoded before.
   * The same request always has the same answer: the image's embeddings do not change while it is open. */
  private readonly answers = new Map<string, SamResult>();
  /** When the pointer last moved, and when the prompts last changed (events' times, on performance.now()'s
   * clock): what a decode answers, for the "sam-drawn" performance marks (bench/browser/bench_sam.py). */
  private movedAt = 0;
  private promptedAt = 0;
  private settled: (() => void)[] = [];
  private choices: SamChoices;

  constructor(
    private readonly host: ToolHost,
    private readonly observation: Observation,
    private readonly userId: string,
  ) {
    this.choices = this.loadChoices();
    this.pointer.onClick = (event) => this.click(event);
    this.pointer.onDouble = (event) => this.double(event);
    const detail = h("input", {
      type: "range", min: 0, max: 10, step: 0.5, value: String(this.choices.simplifyPx), "data-testid": "sam-detail",
      "aria-label": "Detail: simplification in pixels",
    }) as HTMLInputElement; // prettier-ignore
    const detailValue = h("span", { class: "muted" }, `${this.choices.simplifyPx} px`);
    detail.addEventListener("input", () => {
      this.choices.simplifyPx = Number(detail.value);
      detailValue.textContent = `${detail.value} px`;
      this.saveChoices();
      this.choicesChanged();
    });
    const largest = h("input", { type: "checkbox", "data-testid": "sam-largest", checked: this.choices.largestOnly }) as HTMLInputElement;
    largest.addEventListener("change", () => {
      this.choices.largestOnly = largest.checked;
      this.saveChoices();
      this.choicesChanged();
    });
    this.panel = h(
      "div",
      { class: "sam-panel", hidden: true, "aria-label": "SAM" },
      h("strong", {}, "SAM"),
      this.status,
      h("label", {}, "Simplify ", detail, " ", detailValue),
      h("label", {}, largest, " Largest part only"),
    );
  }

  private get choicesKey(): string {
    return `minelabel.sam.${this.userId}`;
  }

  private loadChoices(): SamChoices {
    try {
      const stored = JSON.parse(localStorage.getItem(this.choicesKey) ?? "null") as Partial<SamChoices> | null;
      return { simplifyPx: Number(stored?.simplifyPx ?? 1), largestOnly: Boolean(stored?.largestOnly ?? true) };
    } catch {
      return { simplifyPx: 1, largestOnly: true };
    }
  }

  private saveChoices(): void {
    localStorage.setItem(this.choicesKey, JSON.stringify(this.choices));
  }

  activate(): void {
    this.host.setInteractions(false, false);
    this.host.map.addLayer(this.layer);
    this.host.map.addInteraction(this.pointer);
    this.panel.hidden = false;
    this.clear();
    if (this.state !== "ready") void this.prepare();
    else this.setState("ready");
  }

  deactivate(): void {
    if (this.mapTimer !== null) window.clearTimeout(this.mapTimer);
    this.mapTimer = null;
    this.host.map.removeInteraction(this.pointer);
    this.host.map.removeLayer(this.layer);
    this.panel.hidden = true;
    this.clear();
    this.hover = null;
    this.draw();
    delete document.documentElement.dataset["sam"];
  }

  dispose(): void {
    this.deactivate();
    this.job?.dispose();
    this.decoder?.dispose();
    this.decoder = null;
    this.panel.remove();
    for (const hook of ["samDecoder", "samPreview", "samPrompts"]) delete document.documentElement.dataset[hook];
  }

  private setState(state: SamState, text = ""): void {
    this.state = state;
    document.documentElement.dataset["sam"] = state;
    const decoder = this.decoder?.kind === "server" ? " Decoding on the server (slower): the browser cannot decode here." : "";
    this.status.textContent = text || (state === "ready" ? `Hover to preview; click to add points.${decoder}` : "");
  }

  /** The embeddings (waiting for the job computing them), then a decoder: the browser's, else the server's. */
  private prepare(): Promise<void> {
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  private async start(): Promise<void> {
    this.setState("loading", "Loading SAM…");
    let embeddings: Schemas["EmbeddingsRead"];
    try {
      embeddings = await call(
        api.GET("/api/observations/{observation_id}/sam/embeddings", { params: { path: { observation_id: this.observation.id } } }),
      );
    } catch (error) {
      this.setState("off", (error as Error).message);
      this.host.message((error as Error).message);
      return;
    }
    this.minAreaPx = embeddings.min_area_px;
    this.maxVertices = embeddings.max_polygon_vertices;
    if (embeddings.state !== "current" || !embeddings.manifest) {
      this.waitFor(embeddings.job?.id ?? (await this.queueEmbedding()));
      return;
    }
    this.manifest = embeddings.manifest;
    const windows = embeddings.manifest.windows;
    const mapped = windows.filter((w) => w.hover_key).map((w) => w.index);
    if (mapped.length && !this.hoverMaps) {
      this.hoverMaps = new HoverMaps(this.observation.id, mapped);
      void this.hoverMaps.loadAll();
    }
    try {
      if (localStorage.getItem("minelabel.sam.decoder") === "server") throw new Error("server decoding chosen");
      this.decoder ??= await BrowserDecoder.start(this.observation.id, windows);
    } catch (error) {
      this.decoder = new ServerDecoder(this.observation.id);
      this.host.message(`SAM decodes on the server: ${(error as Error).message}.`);
    }
    document.documentElement.dataset["samDecoder"] = this.decoder.kind;
    this.setState("ready");
    this.request();
  }

  /** Embeddings missing with no job on them: a prompt to the server queues one and names it (a 409). */
  private async queueEmbedding(): Promise<string | null> {
    const { width, height } = this.observation;
    const { error, response } = await api.POST("/api/observations/{observation_id}/sam", {
      params: { path: { observation_id: this.observation.id } },
      body: { points: [{ x: width / 2, y: height / 2, positive: true }], largest_only: false },
    });
    const body = error as { job_id?: unknown } | undefined;
    return response.status === 409 && typeof body?.job_id === "string" ? body.job_id : null;
  }

  private waitFor(jobId: string | null): void {
    if (!jobId) {
      this.setState("off", "This image has no SAM embeddings and none are being computed.");
      return;
    }
    this.setState("waiting", "SAM is computing this image's embeddings…");
    this.job?.dispose();
    this.job = poller({
      intervalMs: JOB_POLL_MS,
      tick: async () => {
        const job = await call(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } }));
        if (job.state === "queued" || job.state === "running") {
          this.setState("waiting", `SAM is computing this image's embeddings: ${percent(job.progress)}%`);
          return true;
        }
        if (job.state === "succeeded") void this.prepare();
        else this.setState("off", `Computing the embeddings failed: ${job.error ?? job.state}`);
        return false;
      },
    });
    this.job.poke();
  }

  // --- pointer -------------------------------------------------------------------------------------------

  private pixel(event: MapBrowserEvent): SamPoint | null {
    const [x, y] = pointToPixel(event.coordinate);
    const { width, height } = this.observation;
    if (x < 0 || y < 0 || x > width || y > height) return null;
    return { x, y, positive: true };
  }

  /** Only a Shift+drag is the tool's (a box); other drags pan the map and clicks come through `click`. */
  private down(event: MapBrowserEvent): boolean {
    if (this.state !== "ready" || !(event.originalEvent as PointerEvent).shiftKey) return false;
    this.downAt = [event.pixel[0] ?? 0, event.pixel[1] ?? 0];
    this.dragFrom = pointToPixel(event.coordinate);
    return true;
  }

  private drag(event: MapBrowserEvent): void {
    if (!this.downAt || !this.dragFrom) return;
    const moved = Math.hypot((event.pixel[0] ?? 0) - this.downAt[0], (event.pixel[1] ?? 0) - this.downAt[1]);
    if (moved < DRAG_PX && !this.box) return;
    const [x, y] = pointToPixel(event.coordinate);
    const [fx, fy] = this.dragFrom;
    const { width, height } = this.observation;
    const clamp = (v: number, max: number): number => Math.max(0, Math.min(max, v));
    this.box = [clamp(Math.min(fx, x), width), clamp(Math.min(fy, y), height), clamp(Math.max(fx, x), width), clamp(Math.max(fy, y), height)];
    this.draw();
  }

  private up(event: MapBrowserEvent): boolean {
    const dragged = this.box !== null && this.downAt !== null && this.dragged(event);
    this.downAt = null;
    this.dragFrom = null;
    // A Shift+click without a drag is a click (OpenLayers still sends it to `click`).
    if (!dragged) return false;
    if (this.box && (this.box[2] - this.box[0] < 1 || this.box[3] - this.box[1] < 1)) this.box = null;
    this.changed();
    return false;
  }

  private click(event: MapBrowserEvent): void {
    if (this.state !== "ready") return;
    const at: [number, number] = [event.pixel[0] ?? 0, event.pixel[1] ?? 0];
    const time = event.originalEvent.timeStamp;
    const last = this.lastClick;
    this.clickBefore = last;
    this.lastClick = { at, time, placed: false };
    // The second click of a double-click: its point is there already (the dblclick that follows finishes).
    if (last && time - last.time < DOUBLE_MS && near(at, last.at)) return;
    const point = this.pixel(event);
    if (!point) return;
    this.points.push({ ...point, positive: !event.originalEvent.altKey });
    this.lastClick.placed = true;
    this.changed(time);
  }

  /** A double-click: its point (placed by its first click) and finish. */
  private double(event: MapBrowserEvent): void {
    const [second, first] = [this.lastClick, this.clickBefore];
    this.lastClick = this.clickBefore = null;
    // OpenLayers calls any two clicks within 250 ms a double-click, wherever they are: two quick clicks on
    // two spots are two points (each placed by its click), and the mask is not kept yet.
    if (first && second && !near(first.at, second.at)) return;
    // OpenLayers calls two clicks a double-click by its own timer, which runs late on a busy machine: the
    // second click may have come after DOUBLE_MS by the events' clocks and placed a point of its own. That
    // one goes (the first click's point is the double-click's; the two are near each other, as checked above).
    if (second?.placed && first?.placed && this.points.length > 1) {
      this.points.pop();
      this.changed();
    }
    if (this.state !== "ready") return;
    if (!this.prompted) {
      const point = this.pixel(event);
      if (point) {
        this.points.push(point);
        this.changed();
      }
    }
    this.finish();
  }

  private dragged(event: MapBrowserEvent): boolean {
    if (!this.downAt) return false;
    return Math.hypot((event.pixel[0] ?? 0) - this.downAt[0], (event.pixel[1] ?? 0) - this.downAt[1]) >= DRAG_PX;
  }

  private move(event: MapBrowserEvent): void {
    if (this.state !== "ready" || this.downAt) return;
    this.movedAt = event.originalEvent.timeStamp;
    this.hover = this.pixel(event);
    this.scheduleMapPreview();
    this.request();
  }

  private scheduleMapPreview(): void {
    if (this.mapTimer !== null) return; // a trailing lookup is due: it takes the newest position
    const wait = this.mapFreeAt - performance.now();
    if (wait <= 0) this.previewFromMap();
    else
      this.mapTimer = window.setTimeout(() => {
        this.mapTimer = null;
        this.previewFromMap();
      }, wait);
  }

  /** With no prompt placed, the mask under the pointer from the window's hover map (the window the decode
   * uses), shown at once; nothing where the map has none there (the decode answers). */
  private previewFromMap(): void {
    const hover = this.hover;
    if (this.prompted || !hover || !this.manifest || !this.hoverMaps) return;
    const sentAt = performance.now();
    const w = windowFor(this.manifest.windows, [hover.x, hover.y, hover.x, hover.y]);
    const nearPx = NEAR_MISS_SCREEN_PX * (this.host.map.getView().getResolution() ?? 1); // image px a screen px
    const found = this.hoverMaps.get(w.index)?.maskAt(hover.x - w.x, hover.y - w.y, nearPx);
    if (!found) return;
    const polygons = maskToPolygons(found.mask, found.width, found.height, {
      simplifyPx: this.choices.simplifyPx,
      minAreaPx: this.minAreaPx,
      largestOnly: this.choices.largestOnly,
      offset: [w.x + found.offset[0], w.y + found.offset[1]],
    }).map((p) => p.geometry);
    const arrivedAt = performance.now();
    this.mapFreeAt = arrivedAt + Math.max(16, arrivedAt - sentAt);
    this.shown = { polygons, score: found.score, timing: null };
    this.mapShownFor = hover;
    // Test hook: which grid point of which window answered.
    this.status.dataset["mapPreview"] = JSON.stringify({ hover, windowIndex: w.index, gridIndex: found.index, near: found.near, polygons });
    this.draw();
    this.markDrawn({ kind: "map", reused: false, askedAt: this.movedAt, sentAt, arrivedAt, drawnAt: performance.now(), timing: null, near: found.near });
  }

  private get prompted(): boolean {
    return this.points.length > 0 || this.box !== null;
  }

  // --- decoding ------------------------------------------------------------------------------------------

  /** Detail or "largest part only" changed: the placed prompts' mask (what Enter keeps) is made again with
   * them, not only the preview. */
  private choicesChanged(): void {
    if (this.prompted) this.changed();
    else this.request();
  }

  /** The placed prompts changed (at `at`: the event's time where there is one). */
  private changed(at = performance.now()): void {
    this.promptedAt = at;
    this.version++;
    this.result = null;
    this.mapShownFor = null;
    document.documentElement.dataset["samPrompts"] = String(this.points.length + (this.box ? 1 : 0));
    this.draw();
    this.request();
  }

  /** What to decode now: the placed prompts while their mask is not known, else them with the point under
   * the pointer (the preview); null when there is nothing (more) to decode. */
  private currentRequest(): { request: SamRequest; forPrompts: boolean } | null {
    const forPrompts = this.prompted && this.resultVersion !== this.version;
    const hover = this.previewPoint;
    const points = forPrompts ? this.points : hover ? [...this.points, hover] : this.points;
    if (!forPrompts && !hover) return null;
    if (!points.some((p) => p.positive) && !this.box) return null;
    const request = { points: [...points], box: this.box, simplifyPx: this.choices.simplifyPx, minAreaPx: this.minAreaPx, largestOnly: this.choices.largestOnly };
    return { request, forPrompts };
  }

  /** The hovered point that the preview adds to the placed prompts; none on a placed point (right after a
   * click the pointer is there, and the same point twice would only decode the prompts' own mask again). */
  private get previewPoint(): SamPoint | null {
    const hover = this.hover;
    return hover && !this.points.some((p) => p.x === hover.x && p.y === hover.y) ? hover : null;
  }

  /** Decodes the latest request; one at a time, and only the newest of those asked for meanwhile. */
  private request(): void {
    if (this.state !== "ready" || !this.decoder) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    const next = this.currentRequest();
    if (!next) {
      if (!this.previewPoint || !this.prompted) this.shown = this.prompted ? this.result : null;
      this.draw();
      this.settle();
      return;
    }
    const { request, forPrompts } = next;
    const decoder = this.decoder;
    const version = this.version;
    const askedAt = forPrompts ? this.promptedAt : this.movedAt;
    const hoverAsked = this.hover;
    const sentAt = performance.now();
    const key = JSON.stringify(request);
    const known = this.answers.get(key);
    if (known) {
      this.answered(request, forPrompts, known, { askedAt, sentAt, reused: true });
      // The placed prompts' mask is known now; with the pointer over the image, the preview comes next.
      if (forPrompts && this.previewPoint) this.request();
      else this.settle();
      return;
    }
    this.busy = true;
    decoder
      .decode(request)
      .then((result) => {
        if (decoder !== this.decoder) return;
        this.remember(key, result);
        if (version !== this.version) return; // the prompts changed meanwhile: asked again below
        // With the pointer over the image, the preview (prompts + hover) is decoded next.
        if (forPrompts && this.previewPoint) this.again = true;
        if (!forPrompts && this.mapShownFor && this.mapShownFor !== hoverAsked) return; // the map shows a newer spot
        this.answered(request, forPrompts, result, { askedAt, sentAt, reused: false });
      })
      .catch((error: unknown) => this.decodeFailed(error))
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.request();
        } else this.settle();
      });
  }

  /** Shows an answer to the current prompts (`forPrompts`: what Enter keeps) or preview. */
  private answered(request: SamRequest, forPrompts: boolean, result: SamResult, at: { askedAt: number; sentAt: number; reused: boolean }): void {
    if (forPrompts) {
      this.result = result;
      this.resultVersion = this.version;
    }
    this.shown = result;
    this.mapShownFor = null;
    // Test hooks: the placed prompts' answer, and the hover preview's.
    const shown = JSON.stringify({ request, polygons: result.polygons, score: result.score, timing: result.timing });
    this.status.dataset[forPrompts ? "result" : "preview"] = shown;
    const arrivedAt = performance.now();
    this.draw();
    const timing = at.reused ? null : result.timing;
    this.markDrawn({ kind: forPrompts ? "result" : "preview", ...at, arrivedAt, drawnAt: performance.now(), timing, near: null });
  }

  private remember(key: string, result: SamResult): void {
    this.answers.delete(key);
    this.answers.set(key, result);
    if (this.answers.size > ANSWERS_KEPT) this.answers.delete(this.answers.keys().next().value as string);
  }

  private decodeFailed(error: unknown): void {
    if (error instanceof ApiError && error.status === 409) {
      const jobId = (error.body as { job_id?: unknown } | null)?.job_id;
      this.state = "loading";
      this.waitFor(typeof jobId === "string" ? jobId : null);
      return;
    }
    this.host.message(`SAM: ${(error as Error).message}`);
  }

  /** Resolves once nothing is being decoded (Enter waits for the prompts' answer). */
  private settle(): void {
    const waiting = this.settled;
    this.settled = [];
    for (const resolve of waiting) resolve();
  }

  private idle(): Promise<void> {
    return this.busy ? new Promise((resolve) => this.settled.push(resolve)) : Promise.resolve();
  }

  // --- drawing -------------------------------------------------------------------------------------------

  /** A "sam-drawn" performance mark once the map has painted an answer, with where its time went. */
  private markDrawn(detail: Omit<SamDrawn, "paintedAt">): void {
    this.host.map.once("postrender", () => performance.mark("sam-drawn", { detail: { ...detail, paintedAt: performance.now() } }));
  }

  private draw(): void {
    this.source.clear(true);
    const features: Feature[] = [];
    for (const polygon of this.shown?.polygons ?? []) {
      const feature = new Feature({ geometry: toMapGeometry(polygon) });
      feature.setStyle(previewStyle);
      features.push(feature);
    }
    // What Enter keeps, outlined apart while the preview shows one more (hovered) point.
    const kept = this.prompted && this.result && this.result !== this.shown ? this.result.polygons : [];
    for (const polygon of kept) {
      const feature = new Feature({ geometry: toMapGeometry(polygon) });
      feature.setStyle(keptStyle);
      features.push(feature);
    }
    for (const point of this.points) {
      const feature = new Feature({ geometry: new Point(pixelToPoint([point.x, point.y])) });
      feature.setStyle(pointStyle(point.positive));
      features.push(feature);
    }
    if (this.box) {
      const [x0, y0, x1, y1] = this.box;
      const ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]] as [number, number][];
      const feature = new Feature({ geometry: new Polygon([ring.map(pixelToPoint)]) });
      feature.setStyle(boxStyle);
      features.push(feature);
    }
    this.source.addFeatures(features);
    // Test hook: how many polygons the preview shows.
    document.documentElement.dataset["samPreview"] = String(this.shown?.polygons.length ?? 0);
  }

  // --- keys ----------------------------------------------------------------------------------------------

  /** Enter: the mask becomes a region of the current class (waiting for the prompts' answer first). */
  finish(): void {
    void this.idle().then(() => {
      const result = this.prompted ? (this.resultVersion === this.version ? this.result : null) : this.shown;
      if (!result || result.polygons.length === 0) {
        this.host.message("SAM has no mask to keep here: point at something first.");
        return;
      }
      const vertices = result.polygons.reduce((sum, p) => sum + p.coordinates.reduce((n, ring) => n + ring.length, 0), 0);
      if (vertices > this.maxVertices) {
        this.host.message(
          `SAM's mask has ${vertices.toLocaleString("en")} vertices, more than the ${this.maxVertices.toLocaleString("en")} a region may have: raise Simplify, tick "Largest part only" or prompt a smaller object.`,
        );
        return;
      }
      const geometry =
        result.polygons.length === 1
          ? (toMapGeometry(result.polygons[0]!) as Polygon)
          : new MultiPolygon(result.polygons.map((p: PolygonGeoJson) => (toMapGeometry(p) as Polygon).getCoordinates()));
      this.host.addPolygon(geometry, { source: "sam", score: Math.round(result.score * 1000) / 1000 });
      this.clear();
      this.shown = null;
      this.draw();
    });
  }

  /** Esc: the prompts go (the tool stays armed); false when there were none. */
  abort(): boolean {
    if (!this.prompted) return false;
    this.clear();
    this.request();
    return true;
  }

  /** Backspace: the last point (or the box) goes. */
  removeLast(): boolean {
    if (this.points.length) this.points.pop();
    else if (this.box) this.box = null;
    else return false;
    this.changed();
    return true;
  }

  private clear(): void {
    this.points = [];
    this.box = null;
    this.version++;
    this.result = null;
    this.mapShownFor = null;
    document.documentElement.dataset["samPrompts"] = "0";
    this.draw();
  }

  /** Which window a pointer position would use (the benchmark prefetches it). */
  windowAt(x: number, y: number): number | null {
    return this.manifest ? windowFor(this.manifest.windows, [x, y, x, y]).index : null;
  }
}
