// What changed between the regions the server confirmed and the newest state: the added or changed regions
// (whole) and the deleted ids, which is what autosave sends (docs/adr/2026-12-02-autosave-sends-changes-
// not-the-annotation.md). Regions are compared field by field and coordinate by coordinate, never as JSON
// text, so a diff of 10,000 regions costs a few milliseconds.
import type { RegionDraft } from "./regions";

export interface RegionDelta {
  /** Added or changed regions, each whole. */
  regions: RegionDraft[];
  /** Ids of deleted regions. */
  deleted: string[];
}

export type RegionState = Map<string, RegionDraft>;

export function stateOf(regions: RegionDraft[]): RegionState {
  return new Map(regions.map((region) => [region.id, region]));
}

function sameNumbers(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameNumbers(a[i], b[i])) return false;
  return true;
}

export function sameRegion(a: RegionDraft, b: RegionDraft): boolean {
  return (
    a === b ||
    (a.label === b.label &&
      a.source === b.source &&
      a.score === b.score &&
      a.accepted_from === b.accepted_from &&
      a.geometry.type === b.geometry.type &&
      sameNumbers(a.geometry.coordinates, b.geometry.coordinates))
  );
}

/** What turns `confirmed` into `latest`. */
export function diff(confirmed: RegionState, latest: RegionDraft[]): RegionDelta {
  const regions: RegionDraft[] = [];
  const present = new Set<string>();
  for (const region of latest) {
    present.add(region.id);
    const before = confirmed.get(region.id);
    if (!before || !sameRegion(before, region)) regions.push(region);
  }
  const deleted = [...confirmed.keys()].filter((id) => !present.has(id));
  return { regions, deleted };
}

export function isEmpty(delta: RegionDelta): boolean {
  return delta.regions.length === 0 && delta.deleted.length === 0;
}

/** `state` with `delta` applied (a new map; `state` is left as it is). */
export function applyDelta(state: RegionState, delta: RegionDelta): RegionState {
  const next = new Map(state);
  for (const id of delta.deleted) next.delete(id);
  for (const region of delta.regions) next.set(region.id, region);
  return next;
}
