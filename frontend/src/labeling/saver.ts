// Autosave: every change is written to the outbox (IndexedDB) at once and sent to the server shortly
// after, as what changed since the version the server confirmed (added, changed and deleted regions, with
// that version and an idempotency key; docs/adr/2026-12-02-autosave-sends-changes-not-the-annotation.md).
// A network error keeps retrying with backoff; a 401 waits for the user to sign in again; a 409 (someone
// else saved) asks the user.
import { api, ApiError, apiError, type GeometryChange, type RefusedRegion, type RegionFeature, type TopologyWarning } from "../api/client";
import { applyDelta, diff, isEmpty, stateOf, type RegionDelta, type RegionState } from "./delta";
import { dropPending, outboxKey, readPending, writePending, type PendingSave, type SaveAttempt } from "./outbox";
import { toRegionIn, type RegionDraft } from "./regions";
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
  /** Every topology warning of the annotation now (the server's answer folded into the ones known). */
  warnings: TopologyWarning[];
  /** What the server changed (cut to the image, repaired), by region id. */
  changes: GeometryChange[];
  /** The regions the server stored in another shape than sent (clipped, repaired), as it has them; for a
   * whole save every region. */
  regions: RegionFeature[];
  /** The regions this save deleted. */
  deleted: string[];
  /** `regions` is the whole annotation (the save that created it). */
  whole: boolean;
  version: number;
  /** How many regions the annotation has now. */
  count: number;
}

interface SaverOptions {
  userId: string;
  observationId: string;
  annotationId: string | null;
  version: number;
  /** The regions as the server has them at `version`: what the first save's changes are measured from. */
  regions: RegionDraft[];
  /** Their topology warnings (saves of changes answer with the warnings of the regions they touch). */
  warnings: TopologyWarning[];
  onStatus: (status: SaveStatus) => void;
  onSaved: (result: SaveResult) => void;
  onConflict: (conflict: Conflict) => void;
}

type Attempt = SaveAttempt;

// Saves cost what changed, so a change goes at once: at the end of the task that made it (what one gesture
// or key press changes in several steps goes together), before the browser draws it, so that the request
// overlaps the map's redraw (hundreds of milliseconds with 10,000 regions) instead of waiting for it.
// Changes made while a save is in flight go together in the next one.
const MAX_BACKOFF_MS = 15_000;

function draftsFrom(list: unknown): RegionDraft[] {
  const drafts: RegionDraft[] = [];
  for (const region of (Array.isArray(list) ? list : []) as Record<string, unknown>[]) {
    const geometry = region["geometry"];
    if (!isArea(geometry)) continue;
    drafts.push({
      id: String(region["id"]),
      label: String(region["label"]),
      geometry,
      source: (region["source"] as RegionDraft["source"] | undefined) ?? "human",
      score: typeof region["score"] === "number" ? region["score"] : null,
      accepted_from: typeof region["accepted_from"] === "string" ? region["accepted_from"] : null,
      ancestor_id: null, // not in the conflict's snapshot; the server keeps each region's own
    });
  }
  return drafts;
}

/** Their state from a 409's `current`: a save of changes gets `{version, since, regions, deleted}`, what
 * changed after `since` (the version `confirmed` is at); a whole save (or an unknown `since`) the whole
 * state in `regions`. */
function theirsFromConflict(body: unknown, confirmed: RegionState): { conflict: Conflict; state: RegionState } | null {
  const current = (body as { current?: { version?: unknown; since?: unknown; regions?: unknown; deleted?: unknown } } | null)?.current;
  if (!current || typeof current.version !== "number" || !Array.isArray(current.regions)) return null;
  const regions = draftsFrom(current.regions);
  const state =
    typeof current.since === "number"
      ? applyDelta(confirmed, { regions, deleted: Array.isArray(current.deleted) ? current.deleted.map(String) : [] })
      : stateOf(regions);
  return { conflict: { theirs: [...state.values()], theirVersion: current.version }, state };
}

export class Saver {
  annotationId: string | null;
  version: number;
  private readonly key: string;
  private latest: RegionDraft[] | null = null; // newest state not yet confirmed
  private confirmed: RegionState; // the regions as the server confirmed them at `version`
  private theirs: RegionState | null = null; // the state of the last 409, until the user chose
  private warnings: TopologyWarning[];
  private unconfirmed: Attempt | null = null; // sent, but no answer came back
  private repairNext = false; // the user asked the server to repair self-intersections
  private edits = 0;
  private idempotencyKey: string = crypto.randomUUID();
  private timer: number | undefined;
  private soon = false; // a send is queued for the end of this task
  private inFlight: Promise<void> | null = null;
  private backoff = 1000;
  private status: SaveStatus = { state: "saved", pendingEdits: 0, message: "All changes saved" };
  private blocked: "conflict" | "signed-out" | null = null;
  private readonly retry = (): void => this.kick(0);

  constructor(private readonly options: SaverOptions) {
    this.annotationId = options.annotationId;
    this.version = options.version;
    this.confirmed = stateOf(options.regions);
    this.warnings = options.warnings;
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
    this.keep();
    this.setStatus(this.blocked ?? (this.status.state === "offline" ? "offline" : "pending"));
    this.sendSoon();
  }

  /** Resumes edits found in the outbox, based on the version they were made on; returns the state they
   * make (the entry's changes on top of the regions this saver was opened with). */
  resume(entry: PendingSave): RegionDraft[] {
    this.annotationId = entry.annotationId ?? this.annotationId;
    this.version = entry.baseVersion;
    // The regions opened are those of `baseVersion` unless someone saved meanwhile: then the save is
    // refused (409) and the user decides, as for any other stale save.
    this.latest = entry.delta ? [...applyDelta(this.confirmed, entry.delta).values()] : (entry.regions ?? []);
    this.edits = entry.edits;
    this.idempotencyKey = entry.idempotencyKey;
    this.unconfirmed = entry.unconfirmed ?? null;
    this.setStatus("pending");
    this.kick(0);
    return this.latest;
  }

  /** Keep mine: the local state goes on top of the version the server has now. */
  keepMine(theirVersion: number): void {
    this.blocked = null;
    this.version = theirVersion;
    if (this.theirs) this.confirmed = this.theirs;
    this.theirs = null;
    this.idempotencyKey = crypto.randomUUID();
    this.keep();
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
    if (this.theirs) this.confirmed = this.theirs;
    this.theirs = null;
    this.latest = null;
    this.edits = 0;
    void dropPending(this.key).catch(() => undefined);
    this.setStatus("saved");
  }

  /** Saves into another annotation from now on (a reviewer switching between a task's annotations).
   * Call it after flush(): nothing may be pending for the annotation left behind. */
  retarget(annotationId: string, version: number, regions: RegionDraft[], warnings: TopologyWarning[]): void {
    if (this.latest || this.unconfirmed || this.inFlight) throw new Error("Your latest edits are not saved yet.");
    window.clearTimeout(this.timer);
    this.annotationId = annotationId;
    this.version = version;
    this.confirmed = stateOf(regions);
    this.warnings = warnings;
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

  /** Writes the unsaved edits to the outbox: what changed since the confirmed version. */
  private keep(): void {
    if (this.latest) void writePending(this.entry(this.latest)).catch(() => undefined);
  }

  private entry(latest: RegionDraft[]): PendingSave {
    return {
      key: this.key,
      annotationId: this.annotationId,
      baseVersion: this.version,
      delta: diff(this.confirmed, latest),
      edits: this.edits,
      idempotencyKey: this.idempotencyKey,
      unconfirmed: this.unconfirmed,
      changedAt: new Date().toISOString(),
    };
  }

  /** Sends at the end of the current task (after its other changes, before the next frame). */
  private sendSoon(): void {
    window.clearTimeout(this.timer);
    if (this.soon) return;
    this.soon = true;
    queueMicrotask(() => {
      this.soon = false;
      if (this.inFlight) this.inFlight.then(() => this.kick(0), () => this.kick(0));
      else void this.send();
    });
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
    const attempt: Attempt | null = this.unconfirmed ?? this.nextAttempt();
    if (!attempt) {
      if (this.latest) this.nothingToSend();
      return Promise.resolve();
    }
    this.setStatus("saving");
    this.inFlight = this.request(attempt)
      .then(async (saved) => {
        this.unconfirmed = null;
        if (attempt.repair) this.repairNext = false;
        this.backoff = 1000;
        this.version = saved.version;
        // The confirmed state is what was sent (the server's clipped or repaired shapes reach the map
        // through onSaved, and a later edit sends them back once, which changes nothing on the server).
        this.confirmed = attempt.delta ? applyDelta(this.confirmed, attempt.delta) : stateOf(attempt.regions ?? []);
        this.warnings = saved.warnings;
        document.documentElement.dataset["savedVersion"] = String(saved.version);
        const newer = this.latest !== null && !isEmpty(diff(this.confirmed, this.latest));
        if (!newer) {
          this.latest = null;
          this.edits = 0;
          await dropPending(this.key).catch(() => undefined);
          this.setStatus("saved");
        } else {
          if (this.idempotencyKey === attempt.key) this.idempotencyKey = crypto.randomUUID();
          this.keep(); // the entry's changes are now measured from the new version
          this.kick(0);
        }
        this.options.onSaved({ ...saved, count: this.confirmed.size });
      })
      .catch((error: unknown) => this.failed(error, attempt))
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /** The next request: what changed since the confirmed state (the whole state while there is no
   * annotation yet); null when nothing differs. */
  private nextAttempt(): Attempt | null {
    if (!this.latest) return null;
    const common = { key: this.idempotencyKey, baseVersion: this.version, annotationId: this.annotationId, repair: this.repairNext };
    if (this.annotationId === null) return { ...common, regions: this.latest, delta: null };
    const delta: RegionDelta = diff(this.confirmed, this.latest);
    return isEmpty(delta) && !this.repairNext ? null : { ...common, delta };
  }

  /** The newest state is the confirmed one (an edit undone before it was sent): nothing to save. */
  private nothingToSend(): void {
    this.latest = null;
    this.edits = 0;
    void dropPending(this.key).catch(() => undefined);
    this.setStatus("saved");
  }

  private failed(error: unknown, attempt: Attempt): void {
    const unknownOutcome = !(error instanceof ApiError) || error.status >= 500;
    this.unconfirmed = unknownOutcome ? attempt : null;
    if (unknownOutcome) this.keep();
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
    const theirs = error.status === 409 && error.code === "version_conflict" ? theirsFromConflict(error.body, this.confirmed) : null;
    if (theirs) {
      this.blocked = "conflict";
      this.theirs = theirs.state;
      this.setStatus("conflict");
      this.options.onConflict(theirs.conflict);
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

  private async request(attempt: Attempt): Promise<Omit<SaveResult, "count">> {
    const key = attempt.key;
    // Polygons are cut to the image (drawing past its edge is normal); repairs only when asked.
    const query = { clip: true, repair: attempt.repair };
    const header = { "idempotency-key": key };
    if (attempt.annotationId !== null && attempt.delta) {
      const { data, error, response } = await api.PATCH("/api/annotations/{annotation_id}", {
        params: { path: { annotation_id: attempt.annotationId }, query, header },
        body: { version: attempt.baseVersion, regions: attempt.delta.regions.map((r) => ({ ...toRegionIn(r), id: r.id })), deleted: attempt.delta.deleted },
      });
      if (!response.ok || !data) throw apiError(error, response);
      this.annotationId = data.id;
      const changes = data.changes ?? [];
      return {
        version: data.version,
        warnings: this.foldWarnings(data.warnings ?? [], data.checked, data.deleted),
        changes,
        regions: data.regions,
        deleted: data.deleted,
        whole: false,
      };
    }
    // The annotation's first save creates it; an outbox entry from before saves of changes is a whole PUT.
    const regions = (attempt.regions ?? []).map(toRegionIn);
    const pending =
      attempt.annotationId === null
        ? api.POST("/api/observations/{observation_id}/annotations", {
            params: { path: { observation_id: this.options.observationId }, query, header },
            body: { regions },
          })
        : api.PUT("/api/annotations/{annotation_id}", {
            params: { path: { annotation_id: attempt.annotationId }, query, header },
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
      deleted: [],
      whole: true,
    };
  }

  /** The annotation's warnings after a save of changes: those of the regions it checked (`checked`; null:
   * all of them) are the answer's, the others' stand. */
  private foldWarnings(answer: TopologyWarning[], checked: string[] | null | undefined, deleted: string[]): TopologyWarning[] {
    if (checked === null || checked === undefined) return answer;
    const again = new Set([...checked, ...deleted]);
    return [...this.warnings.filter((w) => !again.has(w.region_id)), ...answer];
  }
}
