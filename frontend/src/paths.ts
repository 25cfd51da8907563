// The client's own URLs (hash routes), built in one place.

/** A task's labeling view; `review` opens it in review mode. */
export function labelPath(projectId: string, observationId: string, review: boolean): string {
  return `/projects/${projectId}/label/${observationId}${review ? "?mode=review" : ""}`;
}

/** A site's page: its dates, area per class over time, and what changed between two dates. */
export function sitePath(projectId: string, siteId: string): string {
  return `/projects/${projectId}/sites/${siteId}`;
}
