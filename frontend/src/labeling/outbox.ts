// Edits not yet confirmed by the server live in IndexedDB, so closing the tab, a network drop or an
// expired session loses nothing: the next visit of the task finds them and saves them. An entry holds what
// changed since the version the server confirmed, not the whole state.
import type { RegionDelta } from "./delta";
import type { RegionDraft } from "./regions";

/** One save request, kept until its answer comes: retried as it is (same key and body), so that a request
 * the server applied but whose answer was lost is answered from the server's idempotency record. */
export interface SaveAttempt {
  key: string;
  baseVersion: number;
  annotationId: string | null;
  repair: boolean;
  /** What changed since `baseVersion` (a PATCH); null for a whole save (the POST that creates it). */
  delta?: RegionDelta | null;
  /** The whole state: the POST that creates the annotation, or an entry written before saves of changes. */
  regions?: RegionDraft[];
}

export interface PendingSave {
  key: string; // `${userId}:${observationId}`
  annotationId: string | null;
  baseVersion: number;
  /** The edits: what turns the regions of `baseVersion` into the newest state (kept small, so writing it
   * on every change costs what the change costs, not the annotation). */
  delta?: RegionDelta;
  /** The whole newest state: an entry written before the outbox kept deltas. */
  regions?: RegionDraft[];
  edits: number;
  idempotencyKey: string;
  /** A request sent whose answer never came: it is sent again, as it was, before anything newer. */
  unconfirmed?: SaveAttempt | null;
  changedAt: string;
}

const DB_NAME = "minelabel";
const STORE = "outbox";

let opening: Promise<IDBDatabase> | null = null;

function database(): Promise<IDBDatabase> {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "key" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB is not available"));
  });
  return opening;
}

async function run<T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const request = action(transaction.objectStore(STORE));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error ?? new Error("IndexedDB write failed"));
  });
}

export function outboxKey(userId: string, observationId: string): string {
  return `${userId}:${observationId}`;
}

export async function readPending(key: string): Promise<PendingSave | null> {
  return ((await run("readonly", (store) => store.get(key))) as PendingSave | undefined) ?? null;
}

export async function writePending(entry: PendingSave): Promise<void> {
  await run("readwrite", (store) => store.put(entry));
}

export async function dropPending(key: string): Promise<void> {
  await run("readwrite", (store) => store.delete(key));
}
