// What the labeling view's buttons do to the task: submit (then the next task), approve or reject (then
// the next in the review queue), and copying the previous observation's approved regions.
import { api, call } from "../api/client";
import { askText } from "../ui/dialog";
import { toast } from "../ui/toast";
import { navigate } from "../router";
import { approvedRegionsOf } from "./timeSeries";
import { labelPath } from "../paths";
import type { Workbench } from "./workbench";

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

export async function decideTask(wb: Workbench, decision: "approve" | "reject"): Promise<void> {
  const { project, observation, saver, editor, comments } = wb;
  const path = { observation_id: observation.id };
  try {
    await saver.flush();
    if (decision === "approve") {
      wb.task = await call(api.POST("/api/observations/{observation_id}/task/approve", { params: { path } }));
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
    wb.actions.refresh();
    const queue = await call(api.GET("/api/projects/{project_id}/review-queue", { params: { path: { project_id: project.id } } }));
    const next = queue.items.find((t) => t.observation_id !== observation.id);
    if (next) navigate(labelPath(project.id, next.observation_id, true));
    else toast("The review queue is empty.");
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
