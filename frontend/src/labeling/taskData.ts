// What the labeling view loads for a task, and whether the signed-in user may edit it now.
import { api, call, type Observation, type Project, type Task, type TopologyWarning } from "../api/client";
import { me } from "../api/session";
import { draftFromServer, type RegionDraft } from "./regions";
import { loadSeries, type Series } from "./timeSeries";

export interface TaskData {
  project: Project;
  observation: Observation;
  task: Task;
  annotationId: string | null;
  version: number;
  regions: RegionDraft[];
  warnings: TopologyWarning[];
  series: Series;
}

export async function loadTask(projectId: string, observationId: string, review: boolean): Promise<TaskData> {
  const user = me();
  if (!user) throw new Error("Not signed in.");
  const path = { observation_id: observationId };
  const [project, observation, task, annotations] = await Promise.all([
    call(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } })),
    call(api.GET("/api/observations/{observation_id}", { params: { path } })),
    call(api.GET("/api/observations/{observation_id}/task", { params: { path } })),
    call(api.GET("/api/observations/{observation_id}/annotations", { params: { path } })),
  ]);
  // Reviewers look at (and may fix) the submitted work; everyone else edits their own annotation.
  const submitted = task.assignments.find((a) => a.state === "submitted" && a.annotation_id)?.annotation_id;
  const annotation = review
    ? (annotations.find((a) => a.id === submitted) ?? annotations[annotations.length - 1])
    : annotations.find((a) => a.created_by === user.user.id);
  const regions = (annotation?.regions ?? [])
    .map(draftFromServer)
    .filter((draft): draft is RegionDraft => draft !== null);
  return {
    project,
    observation,
    task,
    annotationId: annotation?.id ?? null,
    version: annotation?.version ?? 0,
    regions,
    warnings: annotation?.warnings ?? [],
    series: await loadSeries(observation),
  };
}

/** The same rules as the server's permission table, so the view offers only what will be accepted. */
export function editPermission(task: Task, review: boolean, role: string | null): { editable: boolean; why: string } {
  if (role === "admin") return { editable: true, why: "" };
  if (review) {
    return task.state === "submitted"
      ? { editable: true, why: "" }
      : { editable: false, why: `Reviewers fix regions only while the task waits for review; it is ${task.state}.` };
  }
  const mine = task.assignments.find((a) => a.user_id === me()?.user.id);
  if (!mine) return { editable: false, why: "This task is not assigned to you: use “Start labeling” to take one." };
  if (mine.state !== "in_progress") return { editable: false, why: "You submitted this task; it waits for review." };
  return { editable: true, why: "" };
}
