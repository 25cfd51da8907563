// The annotation being edited, as plain data (what is saved, undone and kept offline) and as map features.
import Feature from "ol/Feature";
import MultiPolygon from "ol/geom/MultiPolygon";
import Polygon from "ol/geom/Polygon";
import type { RegionFeature, RegionIn, Schemas } from "../api/client";
import { type AreaGeoJson, fromMapGeometry, isArea, toMapGeometry } from "./geometry";

export interface RegionDraft {
  id: string;
  label: string;
  geometry: AreaGeoJson;
  source: Schemas["RegionSource"];
  score: number | null;
  accepted_from: string | null;
  /** The region on the site's previous date this one continues (copy-forward); the server keeps it. */
  ancestor_id: string | null;
}

export function newId(): string {
  return crypto.randomUUID();
}

export function draftFromServer(feature: RegionFeature): RegionDraft | null {
  const { label, source, score, accepted_from } = feature.properties;
  if (!isArea(feature.geometry)) return null;
  const ancestor_id = feature.properties.ancestor_id ?? null;
  // Only predictions may lack a class; accepting one gives it the class in use (see predictions.ts).
  return { id: feature.id, label: label ?? "", geometry: feature.geometry, source, score, accepted_from, ancestor_id };
}

export function featureFromDraft(draft: RegionDraft): Feature {
  // All properties in the constructor (one setProperties on a feature nothing listens to yet).
  const feature = new Feature({
    geometry: toMapGeometry(draft.geometry),
    label: draft.label,
    source: draft.source,
    score: draft.score,
    accepted_from: draft.accepted_from,
    ancestor_id: draft.ancestor_id,
  });
  feature.setId(draft.id);
  return feature;
}

export function draftFromFeature(feature: Feature): RegionDraft | null {
  const geometry = feature.getGeometry();
  if (!(geometry instanceof Polygon || geometry instanceof MultiPolygon)) return null;
  return {
    id: String(feature.getId()),
    label: String(feature.get("label")),
    geometry: fromMapGeometry(geometry),
    source: (feature.get("source") as RegionDraft["source"] | undefined) ?? "human",
    score: (feature.get("score") as number | null | undefined) ?? null,
    accepted_from: (feature.get("accepted_from") as string | null | undefined) ?? null,
    ancestor_id: (feature.get("ancestor_id") as string | null | undefined) ?? null,
  };
}

export function toRegionIn(draft: RegionDraft): RegionIn {
  return {
    id: draft.id,
    label: draft.label,
    geometry: draft.geometry as unknown as Record<string, never>,
    source: draft.source,
    score: draft.score,
    accepted_from: draft.accepted_from,
    ancestor_id: draft.ancestor_id,
  };
}

/** A stable text of the regions, to tell whether two states differ. */
export function fingerprint(regions: RegionDraft[]): string {
  return JSON.stringify([...regions].sort((a, b) => a.id.localeCompare(b.id)));
}
