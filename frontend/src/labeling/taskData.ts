// What the labeling view loads for a task, and whether the signed-in user may edit it now.
import {
  api, call, type Annotation, type Observation, type Project, type RegionFeature, type Task, type TopologyWarning,
} from "../api/client";
import { me } from "../api/session";
import { streamAnnotations } from "./annotationStream";
import { draftFromServer, type RegionDraft } from "./regions";
import { loadSeries, type Series } from "./timeSeries";

/** An approved task: what is shown is its ground truth, read-only. */
export interface GroundTruth {
  /** The annotation that stands for the task (null: approved without any annotation). */
  annotationId: string | null;
  /** Who made it, where the caller can tell (null: not one the caller can see the author of). */
  author: string | null;
}

export interface TaskData {
  project: Project;
  observation: Observation;
  task: Task;
  annotationId: string | null;
  version: number;
  regions: RegionDraft[];
  warnings: TopologyWarning[];
  series: Series;
  /** The task's live annotations the caller may read, oldest first (review mode shows them all). */
  annotations: Annotation[];
  /** Emails by user id: the task's assignees, the caller, and (where needed) the project's members. */
  emails: Map<string, string>;
  /** Set for an approved task: the view is then read-only and shows the ground truth. */
  groundTruth: GroundTruth | null;
}

/** Emails of the annotations' authors: from the task's assignments and the caller first, the project's
 * members only when someone else made one (a reviewer's or an admin's own copy). */
async function authorEmails(projectId: string, task: Task, annotations: Annotation[]): Promise<Map<string, string>> {
  const emails = new Map(task.assignments.map((a) => [a.user_id, a.email]));
  const user = me();
  if (user) emails.set(user.user.id, user.user.email);
  await addMemberEmails(projectId, annotations, emails);
  return emails;
}

/** Adds the project's members to `emails` when one of the annotations is by someone not in it yet. */
export async function addMemberEmails(projectId: string, annotations: Annotation[], emails: Map<string, string>): Promise<void> {
  if (!annotations.some((a) => a.created_by && !emails.has(a.created_by))) return;
  const members = await call(api.GET("/api/projects/{project_id}/members", { params: { path: { project_id: projectId } } }));
  for (const member of members) emails.set(member.user_id, member.email);
}

export async function loadTask(projectId: string, observationId: string, review: boolean): Promise<TaskData> {
  const user = me();
  if (!user) throw new Error("Not signed in.");
  const path = { observation_id: observationId };
  const reading = call(api.GET("/api/observations/{observation_id}", { params: { path } }));
  // The site's other dates need only the observation: asked for while the (large) annotations still come.
  const seriesLoading = reading.then(loadSeries);
  seriesLoading.catch(() => undefined); // awaited below; a failure there is the one reported
  const [project, observation, task, annotations] = await Promise.all([
    call(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } })),
    reading,
    call(api.GET("/api/observations/{observation_id}/task", { params: { path } })),
    // Streamed: parsed while it still comes (the largest answer of opening a task).
    streamAnnotations(observationId),
  ]);
  const [emails, series] = await Promise.all([authorEmails(projectId, task, annotations), seriesLoading]);
  const common = { project, observation, task, series, annotations, emails };

  if (task.state === "approved") {
    const approved = await approvedRegions(observationId);
    const groundTruth = groundTruthOf(task, annotations, emails, approved);
    const annotation = annotations.find((a) => a.id === groundTruth.annotationId);
    return {
      ...common,
      annotationId: groundTruth.annotationId,
      version: annotation?.version ?? 0,
      regions: drafts(approved),
      warnings: annotation?.warnings ?? [],
      groundTruth,
    };
  }

  // Reviewers look at (and may fix) the submitted work, or their own copy once they started one; everyone
  // else edits their own annotation.
  const submitted = task.assignments.find((a) => a.state === "submitted" && a.annotation_id)?.annotation_id;
  const own = annotations.find((a) => a.created_by === user.user.id);
  const annotation = review
    ? (own ?? annotations.find((a) => a.id === submitted) ?? annotations[annotations.length - 1])
    : own;
  return {
    ...common,
    annotationId: annotation?.id ?? null,
    version: annotation?.version ?? 0,
    regions: drafts(annotation?.regions ?? []),
    warnings: annotation?.warnings ?? [],
    groundTruth: null,
  };
}

/** An approved task's ground truth, which every member may read (annotators of a project that keeps drafts
 * private too). */
export async function approvedRegions(observationId: string): Promise<RegionFeature[]> {
  const path = { observation_id: observationId };
  return (await call(api.GET("/api/observations/{observation_id}/approved-regions", { params: { path } }))).features;
}

/** Which annotation an approved task's regions are (recorded on the task; else the one they belong to)
 * and who made it: an assignee, or an author of an annotation the caller may read. */
export function groundTruthOf(
  task: Task, annotations: Annotation[], emails: Map<string, string>, regions: RegionFeature[],
): GroundTruth {
  const annotationId = task.ground_truth_annotation_id ?? regions[0]?.properties.annotation_id ?? null;
  const assignee = task.assignments.find((a) => a.annotation_id !== null && a.annotation_id === annotationId);
  const author = annotations.find((a) => a.id === annotationId)?.created_by;
  return { annotationId, author: assignee?.email ?? (author ? emails.get(author) : undefined) ?? null };
}

export function drafts(features: RegionFeature[]): RegionDraft[] {
  return features.map(draftFromServer).filter((draft): draft is RegionDraft => draft !== null);
}

/** The banner of an approved task. */
export function approvedBanner(truth: GroundTruth): string {
  if (truth.annotationId === null) return "Approved with no annotation · read-only";
  return `Approved · ground truth by ${truth.author ?? "another member"} · read-only`;
}

/** The same rules as the server's permission table, so the view offers only what will be accepted. */
export function editPermission(task: Task, review: boolean, role: string | null): { editable: boolean; why: string } {
  // Approved labels are ground truth: nobody changes them (the server answers 409 task_approved).
  if (task.state === "approved") return { editable: false, why: "This task is approved: it is read-only." };
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
