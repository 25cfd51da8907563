// A project's models (README "Retraining"): the versions with their per-class test scores beside the
// champion's, a chart of test IoU per version, the training curve of the version that trains now (drawn
// again at each poll), and for project admins Train now, Predict, Promote, Roll back and the model settings.
// While a round or a prediction runs, the page polls the versions and the jobs, as the jobs panel does.
import "./lists.css";
import "./jobs.css";
import "./models.css";
import { api, call, type Job, type Project, type Schemas } from "../api/client";
import { roleIn } from "../api/session";
import { compact, h, markView } from "../ui/dom";
import { choose } from "../ui/dialog";
import { poller } from "../ui/poll";
import { progressBar, type ProgressBar } from "../ui/progress";
import { toast } from "../ui/toast";
import type { Params } from "../router";
import { errorBox, shell } from "./shell";
import { jobsPath } from "./jobs";
import { canReview } from "./tasks";
import { curveCharts, iouChart } from "./modelCharts";
import { predictDialog, trainDialog } from "./modelDialogs";
import { modelSettingsCard } from "./modelSettings";
import { versionsTable, type TableContext } from "./modelTable";

type Version = Schemas["ModelVersionRead"];

const POLL_MS = 1500;
const MODEL_KINDS: readonly Job["kind"][] = ["dataset", "train", "predict"];
const KIND_WORDS: Record<string, string> = { dataset: "Freezing the dataset", train: "Training", predict: "Pre-labeling" };

export function modelsPath(projectId: string): string {
  return `/projects/${projectId}/models`;
}

/** May the role train, promote, roll back and predict (the permission table: project admins). */
export function canTrain(role: string | null): boolean {
  return role === "admin";
}

/** The version to draw the curve of: the one chosen, else the one training now, else the newest trained. */
function curveVersion(versions: Version[], chosen: string | null): Version | null {
  return (
    versions.find((v) => v.id === chosen) ??
    versions.find((v) => v.state === "training" || v.state === "queued") ??
    versions.find((v) => v.state === "trained") ??
    versions[0] ??
    null
  );
}

/** The champion that Roll back would bring back: the most recently promoted trained version before it. */
function previousChampion(versions: Version[]): Version | null {
  const earlier = versions
    .filter((v) => !v.is_champion && v.state === "trained" && v.promoted_at !== null)
    .sort((a, b) => Date.parse(b.promoted_at ?? "") - Date.parse(a.promoted_at ?? ""));
  return earlier[0] ?? null;
}

/** What a job of the page ended with, in words. */
function outcome(job: Job, versions: Version[]): string {
  if (job.state === "failed") return job.error ?? job.message;
  if (job.state === "cancelled") return job.message || "cancelled";
  const result = job.result;
  if (result && "promotion" in result) {
    const name = versions.find((v) => v.id === result.model_version_id)?.name ?? "the new version";
    return `${name} ${result.promoted ? "is the champion now" : "is kept as a candidate"}: ${result.promotion}`;
  }
  if (result && "km2" in result) {
    return `${result.model_version}: ${result.regions} regions on ${result.observations} images, ${result.skipped} skipped`;
  }
  if (result && "content_hash" in result) return `dataset ${result.content_hash.slice(0, 12)} frozen; training follows`;
  return "done";
}

interface ActivityRow {
  element: HTMLElement;
  bar: ProgressBar;
  body: HTMLElement;
}

export async function renderModels(root: HTMLElement, params: Params): Promise<void | (() => void)> {
  const projectId = params["projectId"] ?? "";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Models" }]);
  let project: Project;
  let sites: Schemas["SiteRead"][];
  try {
    const path = { params: { path: { project_id: projectId } } };
    [project, sites] = await Promise.all([
      call(api.GET("/api/projects/{project_id}", path)),
      call(api.GET("/api/projects/{project_id}/sites", path)),
    ]);
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
    markView("models");
    return;
  }
  page = shell(root, [...crumbs, { label: project.name, href: `/projects/${projectId}` }, { label: "Models" }]);
  const role = roleIn(projectId) ?? project.my_role ?? null;
  const admin = canTrain(role);

  let versions: Version[] = [];
  /** Jobs of the page's own making (Train now, Predict) and the rounds seen running: shown until left. */
  const followed = new Map<string, Job>();
  let chosen: string | null = null;
  let drawn = "";

  const status = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  const activity = h("section", { class: "card activity", "aria-label": "Under way", "data-testid": "activity" });
  const iouHolder = h("div");
  const curveTitle = h("h2", { id: "curve-title" }, "Training curve");
  const curveHolder = h("div");
  const tableHolder = h("div", { class: "models-table", "aria-busy": "true" });
  const showMore = h("input", { type: "checkbox", name: "more-metrics", "data-action": "more-metrics" });
  showMore.addEventListener("change", () => tableHolder.classList.toggle("show-more", showMore.checked));

  const trainButton = h("button", { type: "button", class: "primary", "data-action": "train" }, "Train now");
  const predictButton = h("button", { type: "button", "data-action": "predict" }, "Predict");
  const rollBackButton = h("button", { type: "button", class: "danger", "data-action": "roll-back" }, "Roll back");
  const toolbar = h(
    "div",
    { class: "toolbar" },
    ...compact([
      admin ? trainButton : null,
      admin ? predictButton : null,
      admin ? rollBackButton : null,
      admin ? h("a", { class: "button", href: `#${jobsPath(projectId)}`, "data-action": "jobs" }, "Jobs") : null,
      h("a", { class: "button", href: `#/projects/${projectId}/tasks?sort=uncertainty` }, "Tasks, most uncertain first"),
    ]),
  );

  page.append(
    h("h1", {}, "Models"),
    h(
      "p",
      { class: "muted" },
      "Each training round freezes a dataset of the approved tasks and trains a version on it; the champion pre-labels new tasks and says which ones it is least sure of.",
    ),
    toolbar,
    status,
    activity,
    h(
      "div",
      { class: "dashboard-grid" },
      h("section", { class: "card chart-card", "aria-labelledby": "iou-title" }, h("h2", { id: "iou-title" }, "Test IoU per version"), iouHolder),
      h("section", { class: "card chart-card", "aria-labelledby": "curve-title" }, curveTitle, curveHolder),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "versions-title" },
      h("div", { class: "card-head" }, h("h2", { id: "versions-title" }, "Versions"), h("label", { class: "row" }, showMore, "Show F1, precision and recall")),
      tableHolder,
    ),
  );
  if (admin) {
    page.append(
      modelSettingsCard(project, (saved) => {
        project = saved;
      }),
    );
  }

  // --- Jobs under way ------------------------------------------------------------------------------------
  const activityRows = new Map<string, ActivityRow>();
  const showActivity = (): void => {
    const jobs = [...followed.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    for (const id of [...activityRows.keys()]) if (!followed.has(id)) activityRows.delete(id);
    const elements = jobs.map((job) => {
      let row = activityRows.get(job.id);
      if (!row) {
        const bar = progressBar(`${KIND_WORDS[job.kind] ?? job.kind} progress`);
        const body = h("div", { class: "activity-body" });
        const element = h("div", { class: "activity-row" }, h("strong", {}, KIND_WORDS[job.kind] ?? job.kind), body);
        row = { element, bar, body };
        activityRows.set(job.id, row);
      }
      row.element.dataset["jobId"] = job.id;
      row.element.dataset["kind"] = job.kind;
      row.element.dataset["state"] = job.state;
      if (job.state === "queued" || job.state === "running") {
        const waiting = job.state === "queued";
        row.bar.update({
          fraction: waiting ? null : job.progress,
          message: waiting ? "waiting for a worker" : job.message,
          etaS: waiting ? null : job.eta_s,
        });
        if (row.bar.element.parentNode !== row.body) row.body.replaceChildren(row.bar.element);
      } else {
        const words = outcome(job, versions);
        const kind = job.state === "failed" ? "job-error" : "muted";
        row.body.replaceChildren(h("p", { class: kind, "data-testid": "outcome" }, words));
      }
      return row.element;
    });
    activity.hidden = elements.length === 0;
    activity.replaceChildren(h("h2", {}, "Under way"), ...elements);
  };

  // --- Versions, charts, table ---------------------------------------------------------------------------
  const ctx: TableContext = {
    mayDownload: canReview(role),
    mayPromote: admin,
    shown: null,
    promote: (version) => void promote(version),
    showCurve: (version) => {
      chosen = version.id;
      draw(true);
      tableHolder.querySelector<HTMLElement>(`tr[data-version-id='${version.id}'] [data-action=show-curve]`)?.focus();
    },
  };

  const draw = (force = false): void => {
    const curve = curveVersion(versions, chosen);
    const signature = JSON.stringify([versions, curve?.id ?? null]);
    if (!force && signature === drawn) return;
    drawn = signature;
    ctx.shown = curve?.id ?? null;
    iouHolder.replaceChildren(iouChart(project, versions));
    curveTitle.textContent = curve ? `Training curve · ${curve.name}` : "Training curve";
    curveHolder.replaceChildren(curve ? curveCharts(project, curve) : h("p", { class: "empty" }, "No version yet."));
    tableHolder.replaceChildren(
      versions.length
        ? versionsTable(versions, ctx)
        : h(
            "div",
            { class: "empty" },
            h("p", {}, "No model has been trained in this project yet."),
            h("p", { class: "muted" }, admin ? "Approve some tasks on two sites or more, then press Train now." : "A project admin starts the first training."),
          ),
    );
    const hasTrained = versions.some((v) => v.state === "trained");
    predictButton.disabled = !hasTrained;
    predictButton.title = hasTrained ? "Pre-label tasks with a model" : "No trained model yet";
    const previous = previousChampion(versions);
    rollBackButton.disabled = previous === null || !versions.some((v) => v.is_champion);
    rollBackButton.title = previous ? `Make ${previous.name} the champion again` : "No earlier champion to roll back to";
  };

  /** One load; true while a version trains or a job of the page is queued or running. */
  const load = async (): Promise<boolean> => {
    const path = { params: { path: { project_id: projectId } } };
    const [listed, active] = await Promise.all([
      call(api.GET("/api/projects/{project_id}/models", path)),
      call(
        api.GET("/api/projects/{project_id}/jobs", {
          params: { path: { project_id: projectId }, query: { state: ["queued", "running"], limit: 50 } },
        }),
      ),
    ]).catch((error: unknown) => {
      status.className = "notice error";
      status.textContent = error instanceof Error ? error.message : String(error);
      tableHolder.removeAttribute("aria-busy");
      markView("models");
      throw error;
    });
    for (const job of active.items) if (MODEL_KINDS.includes(job.kind)) followed.set(job.id, job);
    // The followed jobs that are no longer active: read once more to see how they ended.
    const activeIds = new Set(active.items.map((j) => j.id));
    const ended = [...followed.values()].filter((j) => !activeIds.has(j.id) && (j.state === "queued" || j.state === "running"));
    for (const job of await Promise.all(ended.map((j) => call(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: j.id } } }))))) {
      followed.set(job.id, job);
    }
    versions = listed;
    if (status.classList.contains("error")) status.replaceChildren();
    status.className = "notice";
    draw();
    showActivity();
    tableHolder.removeAttribute("aria-busy");
    const watching =
      versions.some((v) => v.state === "queued" || v.state === "training") ||
      [...followed.values()].some((j) => j.state === "queued" || j.state === "running");
    page.dataset["polling"] = String(watching);
    markView("models");
    return watching;
  };
  const poll = poller({ tick: load, intervalMs: POLL_MS });

  const follow = (job: Job, message: string): void => {
    followed.set(job.id, job);
    showActivity();
    toast(message, "success");
    poll.poke();
  };

  const promote = async (version: Version): Promise<void> => {
    const current = versions.find((v) => v.is_champion);
    const yes = await choose(
      `Make ${version.name} the champion?`,
      [
        h(
          "p",
          {},
          `Predict and the uncertainty order of next task use the champion.${current ? ` ${current.name} stays as a candidate; Roll back makes it champion again.` : ""}`,
        ),
      ],
      [
        { label: "Promote", value: true, primary: true },
        { label: "Cancel", value: false },
      ],
    );
    if (!yes) return;
    try {
      const done = await call(api.POST("/api/models/{model_version_id}/promote", { params: { path: { model_version_id: version.id } } }));
      toast(`${done.name} is the champion now`, "success");
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
    poll.poke();
  };

  trainButton.addEventListener("click", () => {
    void trainDialog(projectId, versions[0] ?? null, versions.some((v) => v.is_champion)).then((job) => {
      if (job) follow(job, "Training round started: the dataset is frozen first");
    });
  });
  predictButton.addEventListener("click", () => {
    void predictDialog(projectId, versions, sites).then((job) => {
      if (job) follow(job, "Pre-labeling started");
    });
  });
  rollBackButton.addEventListener("click", () => {
    const current = versions.find((v) => v.is_champion);
    const previous = previousChampion(versions);
    if (!current || !previous) return;
    void choose(
      `Roll back from ${current.name}?`,
      [h("p", {}, `${previous.name} becomes the champion again; ${current.name} stays as a candidate and can be promoted later.`)],
      [
        { label: `Roll back to ${previous.name}`, value: true, primary: true },
        { label: "Cancel", value: false },
      ],
    ).then(async (yes) => {
      if (!yes) return;
      try {
        const back = await call(api.POST("/api/projects/{project_id}/models/roll-back", { params: { path: { project_id: projectId } } }));
        toast(`${back.name} is the champion again`, "success");
      } catch (error) {
        toast(error instanceof Error ? error.message : String(error), "error");
      }
      poll.poke();
    });
  });
  const onSignedIn = (): void => poll.poke();
  window.addEventListener("minelabel:signed-in", onSignedIn);

  showActivity();
  poll.poke();
  return () => {
    poll.dispose();
    window.removeEventListener("minelabel:signed-in", onSignedIn);
  };
}
