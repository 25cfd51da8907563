// Autosave: every change is written to the outbox (IndexedDB) at once and sent to the server shortly
// after, as the whole annotation with the version it is based on. A network error keeps retrying with
// backoff; a 401 waits for the user to sign in again; a 409 (someone else saved) asks the user.
import { api, ApiError, apiError, type GeometryChange, type RefusedRegion, type RegionFeature, type TopologyWarning } from "../api/client";
import { dropPending, outboxKey, readPending, writePending, type PendingSave } from "./outbox";
import { fingerprint, toRegionIn, type RegionDraft } from "./regions";
import { isArea } from "./geometry";

export type SaveState = "saved" | "saving" | "pending" | "offline" | "signed-out" | "conflict" | "error";

export interface SaveStatus {
  state: SaveState;
  pendingEdits: number;
  message: string;
  /** The server's error code when it refused the save (e.g. region_geometry_invalid). */
  code?: string | null;
  /** The region the server refused, with the reason for a geometry (from the error body's fields). */
  refused?: RefusedRegion | null;
}

export interface Conflict {
  theirs: RegionDraft[];
  theirVersion: number;
}

export interface SaveResult {
  warnings: TopologyWarning[];
  /** What the server changed (cut to the image, repaired), by region id. */
  changes: GeometryChange[];
  regions: RegionFeature[];
  version: number;
}

interface SaverOptions {
  userId: string;
  observationId: string;
  annotationId: string | null;
  version: number;
  onStatus: (status: SaveStatus) => void;
  onSaved: (result: SaveResult) => void;
  onConflict: (conflict: Conflict) => void;
}

/** One save request. Retried as it is (same key and body) while its outcome is unknown, so that a request
 * the server applied but whose answer was lost is answered from the server's idempotency record. */
interface Attempt {
  regions: RegionDraft[];
  key: string;
  baseVersion: number;
  annotationId: string | null;
  repair: boolean;
}

const DEBOUNCE_MS = 500;
const MAX_BACKOFF_MS = 15_000;

/** The 409's `current` state: `{version, regions: [{id, label, source, score, accepted_from, geometry}]}`. */
function theirsFromConflict(body: unknown): Conflict | null {
  const current = (body as { current?: { version?: unknown; regions?: unknown } } | null)?.current;
  if (!current || typeof current.version !== "number" || !Array.isArray(current.regions)) return null;
  const theirs: RegionDraft[] = [];
  for (const region of current.regions as Record<string, unknown>[]) {
    const geometry = region["geometry"];
    if (!isArea(geometry)) continue;
    theirs.push({
      id: String(region["id"]),
      label: String(region["label"]),
      geometry,
      source: (region["source"] as RegionDraft["source"] | undefined) ?? "human",
      score: typeof region["score"] === "number" ? region["score"] : null,
      accepted_from: typeof region["accepted_from"] === "string" ? region["accepted_from"] : null,
      ancestor_id: null, // not in the conflict's snapshot; the server keeps each region's own
    });
  }
  return { theirs, theirVersion: current.version };
}

export class Saver {
  annotationId: string | null;
  version: number;
  private readonly key: string;
  private latest: RegionDraft[] | null = null; // newest state not yet confirmed
  private unconfirmed: Attempt | null = null; // sent, but no answer came back
  private repairNext = false; // the user asked the server to repair self-intersections
  private edits = 0;
  private idempotencyKey: string = crypto.randomUUID();
  private timer: number | undefined;
  private inFlight: Promise<void> | null = null;
  private backoff = 1000;
  private status: SaveStatus = { state: "saved", pendingEdits: 0, message: "All changes saved" };
  private blocked: "conflict" | "signed-out" | null = null;
  private readonly retry = (): void => this.kick(0);

  constructor(private readonly options: SaverOptions) {
    this.annotationId = options.annotationId;
    this.version = options.version;
    this.key = outboxKey(options.userId, options.observationId);
    window.addEventListener("online", this.retry);
    window.addEventListener("minelabel:signed-in", this.onSignedIn);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    window.removeEventListener("online", this.retry);
    window.removeEventListener("minelabel:signed-in", this.onSignedIn);
  }

  private readonly onSignedIn = (): void => {
    if (this.blocked === "signed-out") this.blocked = null;
    this.kick(0);
  };

  /** Edits kept from an earlier visit (or another tab's crash), if any. */
  pending(): Promise<PendingSave | null> {
    return readPending(this.key);
  }

  get hasUnsaved(): boolean {
    return this.latest !== null;
  }

  get current(): SaveStatus {
    return this.status;
  }

  /** A new state of the regions: kept offline at once, sent after a short pause. */
  change(regions: RegionDraft[], edits = 1): void {
    this.latest = regions;
    this.edits += edits;
    this.idempotencyKey = crypto.randomUUID();
    void writePending(this.entry(regions)).catch(() => undefined);
    this.setStatus(this.blocked ?? (this.status.state === "offline" ? "offline" : "pending"));
    this.kick(DEBOUNCE_MS);
  }

  /** Resumes edits found in the outbox, based on the version they were made on. */
  resume(entry: PendingSave): void {
    this.annotationId = entry.annotationId ?? this.annotationId;
    this.version = entry.baseVersion;
    this.latest = entry.regions;
    this.edits = entry.edits;
    this.idempotencyKey = entry.idempotencyKey;
    this.unconfirmed = entry.unconfirmed ?? null;
    this.setStatus("pending");
    this.kick(0);
  }

  /** Keep mine: the local state goes on top of the version the server has now. */
  keepMine(theirVersion: number): void {
    this.blocked = null;
    this.version = theirVersion;
    this.idempotencyKey = crypto.randomUUID();
    if (this.latest) void writePending(this.entry(this.latest)).catch(() => undefined);
    this.kick(0);
  }

  /** Saves again, letting the server repair self-intersecting polygons (ST_MakeValid). */
  repair(): void {
    this.repairNext = true;
    this.kick(0);
  }

  /** Take theirs: local edits are dropped and the server's version becomes the base. */
  takeTheirs(theirVersion: number): void {
    this.blocked = null;
    this.version = theirVersion;
    this.latest = null;
    this.edits = 0;
    void dropPending(this.key).catch(() => undefined);
    this.setStatus("saved");
  }

  /** Saves into another annotation from now on (a reviewer switching between a task's annotations).
   * Call it after flush(): nothing may be pending for the annotation left behind. */
  retarget(annotationId: string, version: number): void {
    if (this.latest || this.unconfirmed || this.inFlight) throw new Error("Your latest edits are not saved yet.");
    window.clearTimeout(this.timer);
    this.annotationId = annotationId;
    this.version = version;
    this.edits = 0;
    this.idempotencyKey = crypto.randomUUID();
    this.setStatus("saved");
  }

  /** Sends what is pending now (before submitting the task); rejects if it cannot be saved. */
  async flush(): Promise<void> {
    window.clearTimeout(this.timer);
    for (let attempt = 0; attempt < 3 && (this.latest || this.inFlight); attempt++) {
      if (this.inFlight) await this.inFlight;
      else await this.send();
    }
    if (this.latest) throw new Error(this.status.message || "Your latest edits are not saved yet.");
  }

  private entry(regions: RegionDraft[]): PendingSave {
    return {
      key: this.key,
      annotationId: this.annotationId,
      baseVersion: this.version,
      regions,
      edits: this.edits,
      idempotencyKey: this.idempotencyKey,
      unconfirmed: this.unconfirmed,
      changedAt: new Date().toISOString(),
    };
  }

  private kick(delay: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      if (this.inFlight) this.inFlight.then(() => this.kick(0), () => this.kick(0));
      else void this.send();
    }, delay);
  }

  private setStatus(state: SaveState, message?: string, code: string | null = null, refused: RefusedRegion | null = null): void {
    const defaults: Record<SaveState, string> = {
      saved: "All changes saved",
      saving: "Saving…",
      pending: "Changes not saved yet",
      offline: "Offline: edits are kept in this browser",
      "signed-out": "Signed out: sign in to save",
      conflict: "Someone else saved this annotation",
      error: "Not saved",
    };
    this.status = { state, pendingEdits: this.latest ? this.edits : 0, message: message ?? defaults[state], code, refused };
    document.documentElement.dataset["saveState"] = state;
    this.options.onStatus(this.status);
  }

  private send(): Promise<void> {
    if (this.blocked) return Promise.resolve();
    // A request whose answer was lost goes first, as it was: either it was applied (the server replays its
    // answer) or it is applied now; only then does the newest state go, on top of its version.
    const attempt: Attempt | null =
      this.unconfirmed ??
      (this.latest
        ? {
            regions: this.latest,
            key: this.idempotencyKey,
            baseVersion: this.version,
            annotationId: this.annotationId,
            repair: this.repairNext,
          }
        : null);
    if (!attempt) return Promise.resolve();
    this.setStatus("saving");
    this.inFlight = this.request(attempt)
      .then(async (saved) => {
        this.unconfirmed = null;
        if (attempt.repair) this.repairNext = false;
        this.backoff = 1000;
        this.version = saved.version;
        document.documentElement.dataset["savedVersion"] = String(saved.version);
        const newer = this.latest && fingerprint(this.latest) !== fingerprint(attempt.regions);
        if (!newer) {
          this.latest = null;
          this.edits = 0;
          await dropPending(this.key).catch(() => undefined);
          this.setStatus("saved");
        } else {
          if (this.idempotencyKey === attempt.key) this.idempotencyKey = crypto.randomUUID();
          this.kick(0);
        }
        this.options.onSaved(saved);
      })
      .catch((error: unknown) => this.failed(error, attempt))
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  private failed(error: unknown, attempt: Attempt): void {
    const unknownOutcome = !(error instanceof ApiError) || error.status >= 500;
    this.unconfirmed = unknownOutcome ? attempt : null;
    if (unknownOutcome && this.latest) void writePending(this.entry(this.latest)).catch(() => undefined);
    if (!(error instanceof ApiError)) {
      // fetch itself failed: no network, or the server is down. Keep trying.
      this.setStatus("offline");
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.kick(this.backoff);
      return;
    }
    if (error.status === 401) {
      this.blocked = "signed-out";
      this.setStatus("signed-out");
      return;
    }
    const conflict = error.status === 409 && error.code === "version_conflict" ? theirsFromConflict(error.body) : null;
    if (conflict) {
      this.blocked = "conflict";
      this.setStatus("conflict");
      this.options.onConflict(conflict);
      return;
    }
    if (error.status >= 500 || error.status === 429) {
      this.setStatus("offline", `The server is not answering (${error.status}); retrying`);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.kick(this.backoff);
      return;
    }
    // The server refused the content (422: a broken polygon, 409: the task is not yours to edit now).
    this.setStatus("error", error.message, error.code, error.region);
  }

  private async request(attempt: Attempt): Promise<SaveResult> {
    const key = attempt.key;
    const regions = attempt.regions.map(toRegionIn);
    // Polygons are cut to the image (drawing past its edge is normal); repairs only when asked.
    const query = { clip: true, repair: attempt.repair };
    const pending =
      attempt.annotationId === null
        ? api.POST("/api/observations/{observation_id}/annotations", {
            params: { path: { observation_id: this.options.observationId }, query, header: { "idempotency-key": key } },
            body: { regions },
          })
        : api.PUT("/api/annotations/{annotation_id}", {
            params: { path: { annotation_id: attempt.annotationId }, query, header: { "idempotency-key": key } },
            body: { version: attempt.baseVersion, regions },
          });
    const { data, error, response } = await pending;
    if (!response.ok || !data) throw apiError(error, response);
    this.annotationId = data.id;
    return {
      version: data.version,
      warnings: data.warnings ?? [],
      changes: data.changes ?? [],
      regions: data.regions,
    };
  }
}
