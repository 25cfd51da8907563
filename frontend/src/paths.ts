// The client's own URLs (hash routes), built in one place.

/** A task's labeling view; `review` opens it in review mode. */
export function labelPath(projectId: string, observationId: string, review: boolean): string {
  return `/projects/${projectId}/label/${observationId}${review ? "?mode=review" : ""}`;
}

/** The project overview of change: sites ranked by the change in their last interval. */
export function changeOverviewPath(projectId: string): string {
  return `/projects/${projectId}/change`;
}

/** A site's page: its dates, area per class over time, and what changed between two dates. */
export function sitePath(projectId: string, siteId: string): string {
  return `/projects/${projectId}/sites/${siteId}`;
}
