// "Pre-label with SAM" and "Carry forward with SAM" on the task: each starts the batch job for this one image
// (POST /api/projects/{id}/sam/prelabel or /carry-forward; project admins, as the backend's permission table
// says), shows its progress, and reloads the predictions layer when it is done.
import { api, call, type Observation, type Project, type Schemas } from "../api/client";
import { h } from "../ui/dom";
import { poller, type Poller } from "../ui/poll";
import { progressBar, type ProgressBar } from "../ui/progress";
import { toast } from "../ui/toast";

const POLL_MS = 1000;

type BatchKind = "prelabel" | "carry-forward";

export class SamBatch {
  readonly element = h("div", { class: "sam-batch", "data-testid": "sam-batch" });
  private job: Poller | null = null;
  private bar: ProgressBar | null = null;

  constructor(
    private readonly project: Project,
    private readonly observation: Observation,
    private readonly previous: Observation | null,
    private readonly onDone: () => Promise<void>,
  ) {
    this.render();
  }

  private render(running = false): void {
    const button = (kind: BatchKind, text: string, title: string): HTMLElement => {
      const element = h("button", { class: "small", "data-action": `sam-${kind}`, disabled: running, title }, text);
      element.addEventListener("click", () => void this.start(kind));
      return element;
    };
    const buttons = [button("prelabel", "Pre-label with SAM", "SAM finds the objects of this image: predictions to review")];
    if (this.previous) {
      const date = this.previous.acquired_on ?? "the previous date";
      buttons.push(button("carry-forward", "Carry forward with SAM", `SAM redraws the approved regions of ${date} on this image`));
    }
    this.element.replaceChildren(...buttons, ...(this.bar ? [this.bar.element] : []));
  }

  private async start(kind: BatchKind): Promise<void> {
    const path = { params: { path: { project_id: this.project.id } }, body: { observation_ids: [this.observation.id] } };
    try {
      const job =
        kind === "prelabel"
          ? await call(api.POST("/api/projects/{project_id}/sam/prelabel", path))
          : await call(api.POST("/api/projects/{project_id}/sam/carry-forward", path));
      this.follow(job);
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  private follow(first: Schemas["JobRead"]): void {
    this.bar = progressBar(first.kind === "sam_prelabel" ? "SAM pre-label progress" : "SAM carry-forward progress");
    this.render(true);
    const show = (job: Schemas["JobRead"]): void => {
      const waiting = job.state === "queued";
      this.bar?.update({ fraction: waiting ? null : job.progress, message: waiting ? "waiting for a SAM worker" : job.message, etaS: job.eta_s });
      this.element.dataset["state"] = job.state;
    };
    show(first);
    this.job?.dispose();
    this.job = poller({
      intervalMs: POLL_MS,
      tick: async () => {
        const job = await call(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: first.id } } }));
        show(job);
        if (job.state === "queued" || job.state === "running") return true;
        void this.finished(job);
        return false;
      },
    });
    this.job.poke();
  }

  private async finished(job: Schemas["JobRead"]): Promise<void> {
    if (job.state === "succeeded") {
      await this.onDone();
      toast(job.kind === "sam_prelabel" ? "SAM's pre-labels are in the predictions." : "SAM carried the regions forward.", "success");
    } else toast(`SAM: ${job.error ?? job.state}`, "error");
    this.bar = null;
    this.render();
    this.element.dataset["state"] = job.state;
  }

  dispose(): void {
    this.job?.dispose();
  }
}
