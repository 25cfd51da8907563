// What the labeling view's buttons do to the task: submit (then the next task), approve (naming the ground
// truth when there are several annotations) or reject (then the next in the review queue), reopen an
// approved task, and copying the previous observation's approved regions.
import { api, ApiError, call, type Task } from "../api/client";
import { me } from "../api/session";
import { h } from "../ui/dom";
import { askText, choose } from "../ui/dialog";
import { toast } from "../ui/toast";
import { navigate } from "../router";
import { approvedRegionsOf } from "./timeSeries";
import { labelPath } from "../paths";
import type { Workbench } from "./workbench";

/** One of the annotations a 422 ground_truth_required lists (the error body's `candidates`). */
interface Candidate {
  annotation_id: string;
  created_by: string | null;
  email: string | null;
  regions: number;
}

function candidatesOf(body: unknown): Candidate[] {
  const list = (body as { candidates?: unknown } | null)?.candidates;
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: Record<string, unknown>) =>
    typeof item["annotation_id"] === "string"
      ? [{
          annotation_id: item["annotation_id"],
          created_by: typeof item["created_by"] === "string" ? item["created_by"] : null,
          email: typeof item["email"] === "string" ? item["email"] : null,
          regions: typeof item["regions"] === "number" ? item["regions"] : 0,
        }]
      : [],
  );
}

/** The server wants to be told which annotation is the ground truth: its message, its candidates, a choice. */
async function chooseGroundTruth(error: ApiError): Promise<string | null> {
  const candidates = candidatesOf(error.body);
  const whose = (c: Candidate): string => (c.created_by === me()?.user.id ? "my" : `${c.email ?? "another member"}'s`);
  const regions = (c: Candidate): string => `${c.regions} region${c.regions === 1 ? "" : "s"}`;
  return choose<string | null>(
    "Which annotation is the ground truth?",
    [
      h("p", {}, error.message),
      h("ul", { class: "candidates" }, candidates.map((c) => h("li", { "data-annotation-id": c.annotation_id }, `${c.email ?? "another member"}: ${regions(c)}`))),
    ],
    [
      ...candidates.map((c) => ({ label: `Approve ${whose(c)} annotation (${regions(c)})`, value: c.annotation_id })),
      { label: "Cancel", value: null },
    ],
  );
}

/** Approves with `annotationId` as the ground truth (null: the server takes the only one); when the server
 * answers that it needs a choice, the reviewer makes it from the candidates it lists. Null: cancelled. */
async function approve(wb: Workbench, annotationId: string | null): Promise<Task | null> {
  const path = { observation_id: wb.observation.id };
  try {
    return await call(
      api.POST("/api/observations/{observation_id}/task/approve", {
        params: { path },
        body: annotationId ? { annotation_id: annotationId } : null,
      }),
    );
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "ground_truth_required") throw error;
    // Someone added an annotation meanwhile: the list shows it too.
    void wb.annotations?.reload().catch(() => undefined);
    const chosen = await chooseGroundTruth(error);
    return chosen ? approve(wb, chosen) : null;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function submitTask(wb: Workbench): Promise<void> {
  const { project, observation, saver } = wb;
  try {
    await saver.flush();
    wb.task = await call(
      api.POST("/api/observations/{observation_id}/task/submit", { params: { path: { observation_id: observation.id } } }),
    );
    toast("Submitted for review.", "success");
    const next = await call(api.POST("/api/projects/{project_id}/tasks/next", { params: { path: { project_id: project.id } } }));
    navigate(next.task ? labelPath(project.id, next.task.observation_id, false) : `/projects/${project.id}`);
  } catch (error) {
    toast(message(error), "error");
  }
}

/** Approve (with `groundTruth`, the annotation chosen as the task's ground truth, where it has several) or
 * reject; then the next task of the review queue. */
export async function decideTask(wb: Workbench, decision: "approve" | "reject", groundTruth: string | null = null): Promise<void> {
  const { project, observation, saver, editor, comments } = wb;
  const path = { observation_id: observation.id };
  try {
    await saver.flush();
    if (decision === "approve") {
      const approved = await approve(wb, groundTruth);
      if (!approved) return;
      wb.task = approved;
      toast("Approved.", "success");
    } else {
      const selected = editor.selected();
      const where = selected ? "pinned to the selected region" : "about the whole task";
      const comment = await askText("Reject: what should be fixed?", `Comment (${where})`);
      if (!comment) return;
      const regionId = selected ? String(selected.getId()) : null;
      wb.task = await call(
        api.POST("/api/observations/{observation_id}/task/reject", { params: { path }, body: { comment, region_id: regionId } }),
      );
      toast("Sent back for rework.", "success");
      await comments.load();
    }
    // This task as it is now (an approved one read-only, with its ground truth) until the next one opens.
    await wb.actions.taskChanged();
    const queue = await call(api.GET("/api/projects/{project_id}/review-queue", { params: { path: { project_id: project.id } } }));
    const next = queue.items.find((t) => t.observation_id !== observation.id);
    if (next) navigate(labelPath(project.id, next.observation_id, true));
    else toast("The review queue is empty.");
  } catch (error) {
    toast(message(error), "error");
  }
}

/** Project admins: an approved task goes back to review (submitted; audited), to be corrected there. */
export async function reopenTask(wb: Workbench): Promise<void> {
  const { project, observation } = wb;
  const sure = await choose(
    "Reopen this approved task?",
    [
      h("p", {}, "It goes back to review (submitted), where reviewers can change its labels again."),
      h("p", { class: "muted" }, "Its ground truth is chosen again when it is approved again. The audit log records the reopening."),
    ],
    [
      { label: "Reopen", value: true, primary: true },
      { label: "Cancel", value: false },
    ],
  );
  if (!sure) return;
  try {
    wb.task = await call(
      api.POST("/api/observations/{observation_id}/task/reopen", { params: { path: { observation_id: observation.id } } }),
    );
    toast("Reopened: the task waits for review again.", "success");
    navigate(labelPath(project.id, observation.id, true));
  } catch (error) {
    toast(message(error), "error");
  }
}

export async function copyPrevious(wb: Workbench): Promise<void> {
  const { series, observation, editor } = wb;
  const previous = series.previous;
  if (!previous) return;
  if (previous.width !== observation.width || previous.height !== observation.height) {
    toast("The previous observation has another pixel grid; its regions cannot be copied as they are.", "error");
    return;
  }
  try {
    const regions = await approvedRegionsOf(previous);
    if (regions.length === 0) {
      toast("The previous observation has no approved regions to copy.");
      return;
    }
    editor.addRegions(regions);
    toast(`Copied ${regions.length} regions from ${previous.acquired_on ?? "the previous observation"}.`, "success");
  } catch (error) {
    toast(message(error), "error");
  }
}
