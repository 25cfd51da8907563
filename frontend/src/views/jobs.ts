// A project's jobs (uploads, exports, thumbnails, probes): newest first, with progress while they run,
// the error of those that failed, the file of finished exports, and Cancel for those who may. The list
// refreshes itself while something is queued or running; rows are updated in place, so an open attempt
// log, a focused button and the bars' positions survive each refresh.
import "./lists.css";
import "./jobs.css";
import { api, ApiError, call, type Job, type JobState, type Schemas } from "../api/client";
import type { paths } from "../api/schema";
import { me, roleIn } from "../api/session";
import { compact, h, markView } from "../ui/dom";
import { poller } from "../ui/poll";
import { formatDuration, progressBar, type ProgressBar } from "../ui/progress";
import { toast } from "../ui/toast";
import { showPager } from "../ui/pager";
import type { Params } from "../router";
import { errorBox, shell } from "./shell";

export const JOB_STATES: readonly JobState[] = ["queued", "running", "succeeded", "failed", "cancelled"];
const ACTIVE: readonly JobState[] = ["queued", "running"];
const PAGE_SIZE = 25;
const POLL_MS = 1500;

type JobQuery = NonNullable<paths["/api/projects/{project_id}/jobs"]["get"]["parameters"]["query"]>;
/** A state, "active" (queued or running), or "" (any). */
type StateFilter = JobState | "active" | "";

const STATE_OPTIONS: [StateFilter, string][] = [
  ["", "Any state"],
  ["active", "Queued or running"],
  ...JOB_STATES.map((s): [StateFilter, string] => [s, s]),
];

interface Filters {
  state: StateFilter;
  page: number;
}

export function jobsPath(projectId: string, state: StateFilter = ""): string {
  return `/projects/${projectId}/jobs${state ? `?state=${state}` : ""}`;
}

export function isActive(job: Job): boolean {
  return ACTIVE.includes(job.state);
}

function readFilters(query: URLSearchParams): Filters {
  const state = query.get("state") ?? "";
  return {
    state: state === "active" || (JOB_STATES as readonly string[]).includes(state) ? (state as StateFilter) : "",
    page: Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1),
  };
}

function filterQuery(filters: Filters): string {
  const query = new URLSearchParams();
  if (filters.state) query.set("state", filters.state);
  if (filters.page > 1) query.set("page", String(filters.page));
  return query.toString();
}

async function fetchJobs(projectId: string, filters: Filters): Promise<Schemas["JobList"]> {
  const query: JobQuery = { limit: PAGE_SIZE, offset: (filters.page - 1) * PAGE_SIZE };
  if (filters.state === "active") query.state = [...ACTIVE];
  else if (filters.state) query.state = [filters.state];
  return call(api.GET("/api/projects/{project_id}/jobs", { params: { path: { project_id: projectId }, query } }));
}

// --- What a job is, in words ----------------------------------------------------------------------------

type Result = NonNullable<Job["result"]>;
const isExport = (r: Result): r is Schemas["ExportResult"] => "file_key" in r;
const isIngest = (r: Result): r is Schemas["IngestResult"] => "ready" in r && "failed" in r;
const isRender = (r: Result): r is Schemas["RenderResult"] => "sites" in r;
const isProbe = (r: Result): r is Schemas["ProbeResult"] => "postgis_version" in r;
const isGeoreference = (r: Result): r is Schemas["GeoreferenceResult"] => "written" in r;
const isDataset = (r: Result): r is Schemas["DatasetResult"] => "content_hash" in r;
const isTrain = (r: Result): r is Schemas["TrainResult"] => "promotion" in r;
const isPredict = (r: Result): r is Schemas["PredictResult"] => "km2" in r;

const KIND_LABELS: Record<Job["kind"], string> = {
  probe: "Health probe",
  ingest: "Image upload",
  render: "Thumbnails",
  georeference: "Georeferencing",
  export: "Export",
  sam_embed: "SAM embeddings",
  sam_prelabel: "SAM pre-labels",
  sam_carry_forward: "SAM carry-forward",
  dataset: "Training dataset",
  train: "Model training",
  predict: "Model pre-labels",
};

const plural = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString("en")} ${n === 1 ? one : many}`;

function kindDetail(job: Job): string {
  const params = job.params;
  if ("format" in params) return params.format;
  if ("observation_ids" in params) return plural(params.observation_ids.length, "image");
  if ("steps" in params) return plural(params.steps, "step");
  if (job.kind === "georeference") return "an image written again after a correction";
  return job.kind === "render" ? "after a display change" : "";
}

const dateFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

function when(iso: string): HTMLTimeElement {
  return h("time", { datetime: iso, title: iso }, dateFormat.format(new Date(iso)));
}

function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toLocaleString("en", { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
}

function took(job: Job): string | null {
  if (!job.started_at || !job.finished_at) return null;
  return `took ${formatDuration((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000)}`;
}

/** What a finished job left: the file of an export (for those who may download it), counts otherwise. */
function resultSummary(job: Job, mayDownload: boolean): Node[] {
  const result = job.result;
  const time = took(job);
  const line = (...parts: (string | null)[]): HTMLElement =>
    h("p", { class: "muted small" }, parts.filter((p): p is string => Boolean(p)).join(" · "));
  if (!result) return [line("done", time)];
  if (isExport(result)) {
    const report = result.report;
    const counts = `${plural(report.tasks, "task")}, ${plural(report.regions, "region")}`;
    return [
      mayDownload
        ? h(
            "a",
            {
              class: "button small",
              href: `/api/jobs/${job.id}/file`,
              download: result.filename,
              "data-action": "download",
            },
            "Download",
          )
        : h("p", { class: "muted small" }, "Only its maker and project admins can download the file."),
      line(result.filename, bytes(result.size_bytes), counts, time),
    ];
  }
  if (isIngest(result)) {
    const failed = result.failed.length ? `${result.failed.length} failed` : null;
    const summary = line(`${plural(result.ready, "image")} ready`, failed, time);
    if (!result.failed.length) return [summary];
    return [
      summary,
      h(
        "details",
        { class: "failed-images" },
        h("summary", {}, `Why ${result.failed.length === 1 ? "it" : "they"} failed`),
        h("ul", {}, result.failed.map((f) => h("li", {}, h("strong", {}, f.filename), `: ${f.error}`))),
      ),
    ];
  }
  if (isRender(result)) return [line(`${plural(result.sites, "site")} rendered again`, time)];
  if (isGeoreference(result)) {
    const what = result.written ? "image written with its new georeferencing" : "superseded by a later correction";
    return [line(what, time)];
  }
  if (isDataset(result)) {
    const chips = Object.values(result.splits).reduce((n, s) => n + s.chips, 0);
    return [line(`${plural(chips, "chip")}`, `hash ${result.content_hash.slice(0, 12)}`, time)];
  }
  if (isTrain(result)) return [line(result.promoted ? "promoted to champion" : "kept as a candidate", result.promotion, time)];
  if (isPredict(result)) {
    return [line(`${plural(result.regions, "region")} on ${plural(result.observations, "image")}`, `${result.skipped} skipped`, time)];
  }
  if (isProbe(result)) {
    return [line(`${result.hostname} (${result.queue} queue)`, `PostGIS ${result.postgis_version}`, time)];
  }
  return [line("done", time)];
}

const OUTCOMES: Record<Schemas["AttemptRead"]["outcome"], string> = {
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  retrying: "will be retried",
  lost: "lost its worker",
  requeued: "re-queued",
};

function attemptItem(entry: Schemas["AttemptRead"]): HTMLElement {
  return h(
    "li",
    { "data-outcome": entry.outcome },
    h("strong", {}, `Attempt ${entry.attempt}`),
    ` ${OUTCOMES[entry.outcome]}`,
    entry.host ? h("span", { class: "muted" }, ` on ${entry.host}`) : null,
    entry.started_at ? h("span", { class: "muted" }, " · started ", when(entry.started_at)) : null,
    entry.ended_at ? h("span", { class: "muted" }, " · ended ", when(entry.ended_at)) : null,
    entry.reason ? h("div", { class: "reason" }, entry.reason) : null,
  );
}

// --- One row, updated in place --------------------------------------------------------------------------

interface RowContext {
  /** Who made it, in words ("you", an email), or null when unknown (not a member). */
  who: (userId: string | null) => string | null;
  /** May the caller cancel it and download its file (the same rule: admins any, others their own). */
  mayManage: (job: Job) => boolean;
  cancel: (job: Job) => Promise<void>;
}

interface JobRow {
  readonly element: HTMLTableRowElement;
  update(job: Job): void;
}

function jobRow(first: Job, ctx: RowContext): JobRow {
  const kindCell = h("td", { class: "kind" });
  const stateCell = h("td");
  const progressCell = h("td", { class: "job-progress" });
  const createdCell = h("td", { class: "created" });
  const attemptsCell = h("td", { class: "attempts" });
  const actionCell = h("td", { class: "actions" });
  const element = h("tr", {}, kindCell, stateCell, progressCell, createdCell, attemptsCell, actionCell);
  const bar: ProgressBar = progressBar(`${KIND_LABELS[first.kind]} progress`);
  // The attempt log stays the same element, so one a person opened stays open through refreshes.
  const attemptSummary = h("summary", {});
  const attemptList = h("ol", { class: "attempt-log" });
  const attemptDetails = h("details", {}, attemptSummary, attemptList);
  const cancelButton = h(
    "button",
    { type: "button", class: "small danger", "data-action": "cancel", title: `Cancel this ${first.kind} job` },
    "Cancel",
  );
  let job = first;
  let seen = "";
  let outcome = "";

  cancelButton.addEventListener("click", () => {
    if (cancelButton.getAttribute("aria-disabled") === "true") return;
    cancelButton.setAttribute("aria-disabled", "true");
    void ctx.cancel(job).finally(() => {
      if (!job.cancel_requested) cancelButton.removeAttribute("aria-disabled");
    });
  });

  const update = (next: Job): void => {
    const signature = JSON.stringify(next);
    if (signature === seen) return;
    seen = signature;
    job = next;
    const active = isActive(job);
    const cancelling = active && job.cancel_requested;
    element.dataset["jobId"] = job.id;
    element.dataset["kind"] = job.kind;
    element.dataset["state"] = job.state;
    element.dataset["progress"] = String(job.progress);
    element.dataset["cancelRequested"] = String(job.cancel_requested);

    const detail = kindDetail(job);
    kindCell.replaceChildren(
      h("strong", {}, KIND_LABELS[job.kind]),
      ...compact([detail ? h("div", { class: "muted small" }, detail) : null]),
    );
    stateCell.replaceChildren(
      cancelling
        ? h("span", { class: "state state-cancelling" }, "cancelling…")
        : h("span", { class: `state state-${job.state}` }, job.state),
    );

    if (active) {
      const waiting = job.state === "queued";
      const message = waiting && job.message === "queued" ? "waiting for a worker" : job.message;
      bar.update({ fraction: waiting ? null : job.progress, message, etaS: waiting ? null : job.eta_s });
      if (outcome !== "active") progressCell.replaceChildren(bar.element);
      outcome = "active";
    } else if (outcome !== job.state) {
      // A final state does not change again: drawn once.
      outcome = job.state;
      if (job.state === "failed") {
        const error = job.error ?? job.message;
        progressCell.replaceChildren(h("p", { class: "job-error", "data-testid": "job-error" }, error));
      } else if (job.state === "cancelled") {
        progressCell.replaceChildren(h("p", { class: "muted small" }, job.message || "cancelled"));
      } else {
        progressCell.replaceChildren(...resultSummary(job, ctx.mayManage(job)));
      }
    }

    const maker = ctx.who(job.created_by);
    createdCell.replaceChildren(
      ...compact([when(job.created_at), maker ? h("div", { class: "muted small" }, `by ${maker}`) : null]),
    );

    const tries = `${job.attempts} of ${job.max_attempts}`;
    if (job.attempt_log.length) {
      attemptSummary.textContent = tries;
      attemptSummary.setAttribute("aria-label", `Attempts: ${tries}; show the log`);
      attemptList.replaceChildren(...job.attempt_log.map(attemptItem));
      if (attemptDetails.parentNode !== attemptsCell) attemptsCell.replaceChildren(attemptDetails);
    } else {
      attemptsCell.replaceChildren(h("span", { title: "Attempts so far, of the most it gets" }, tries));
    }

    if (active && ctx.mayManage(job)) {
      if (cancelling) {
        // Kept (not disabled), so the focus stays where it was; it goes when the job has ended.
        cancelButton.setAttribute("aria-disabled", "true");
        cancelButton.textContent = "Cancelling…";
      }
      if (cancelButton.parentNode !== actionCell) actionCell.replaceChildren(cancelButton);
    } else {
      actionCell.replaceChildren();
    }
  };
  update(first);
  return { element, update };
}

// --- The view -------------------------------------------------------------------------------------------

export async function renderJobs(
  root: HTMLElement,
  params: Params,
  query: URLSearchParams,
): Promise<void | (() => void)> {
  const projectId = params["projectId"] ?? "";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Jobs" }]);
  let project: Schemas["ProjectRead"];
  let members: Schemas["MemberRead"][];
  try {
    const path = { params: { path: { project_id: projectId } } };
    [project, members] = await Promise.all([
      call(api.GET("/api/projects/{project_id}", path)),
      call(api.GET("/api/projects/{project_id}/members", path)),
    ]);
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
    markView("jobs");
    return;
  }
  page = shell(root, [...crumbs, { label: project.name, href: `/projects/${projectId}` }, { label: "Jobs" }]);
  const role = roleIn(projectId) ?? project.my_role ?? null;
  const user = me()?.user;
  const emails = new Map(members.map((m) => [m.user_id, m.email]));
  const filters = readFilters(query);

  const status = h("div", { class: "jobs-status" });
  const summary = h("p", { class: "summary muted", "aria-live": "polite" });
  // Busy until the first answer; later refreshes change rows in place and say nothing.
  const list = h("div", { class: "job-list", "aria-busy": "true" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const stateSelect = h(
    "select",
    { name: "state" },
    STATE_OPTIONS.map(([value, text]) => h("option", { value, selected: value === filters.state }, text)),
  );
  const refresh = h("button", { type: "button", "data-action": "refresh" }, "Refresh");
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter jobs" },
    h("label", {}, "State", stateSelect),
    refresh,
  );
  page.append(
    h("h1", {}, "Jobs"),
    h(
      "p",
      { class: "muted" },
      "Uploads, exports and thumbnails run in the background as jobs; they show here with their progress.",
    ),
    form,
    status,
    summary,
    list,
    pager,
  );

  const ctx: RowContext = {
    who: (userId) => {
      if (!userId) return null;
      if (userId === user?.id) return "you";
      return emails.get(userId) ?? null;
    },
    mayManage: (job) => Boolean(user && (user.is_admin || role === "admin" || job.created_by === user.id)),
    cancel: async (job) => {
      try {
        const path = { params: { path: { job_id: job.id } } };
        const answer = await call(api.POST("/api/jobs/{job_id}/cancel", path));
        // "cancelling…" until a refresh finds it final (the poller runs: the job was queued or running).
        rows.get(answer.id)?.update(answer);
      } catch (error) {
        // It ended meanwhile: a refresh shows how.
        if (!(error instanceof ApiError && error.code === "job_finished")) {
          toast(error instanceof Error ? error.message : String(error), "error");
        }
        poll.poke();
      }
    },
  };

  const rows = new Map<string, JobRow>();
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "data jobs" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Job", "State", "Progress or outcome", "Created", "Attempts", ""].map((title) =>
          h("th", { scope: "col" }, title),
        ),
      ),
    ),
    tbody,
  );

  const apply = (): void => {
    // As in the task list: the URL keeps the filters (a reload finds them), the list reloads in place.
    const search = filterQuery(filters);
    history.replaceState(history.state, "", `#${jobsPath(projectId)}${search ? `?${search}` : ""}`);
    poll.poke();
  };

  const show = (items: Job[], total: number): void => {
    const seen = new Set<string>();
    const ordered = items.map((job) => {
      seen.add(job.id);
      const existing = rows.get(job.id);
      if (existing) {
        existing.update(job);
        return existing.element;
      }
      const made = jobRow(job, ctx);
      rows.set(job.id, made);
      return made.element;
    });
    for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
    // Rows are moved only when the order changed: moving a row would take the focus out of it.
    const current = Array.from(tbody.children);
    if (current.length !== ordered.length || current.some((row, i) => row !== ordered[i])) {
      tbody.replaceChildren(...ordered);
    }
    const running = items.filter((j) => j.state === "running").length;
    const queued = items.filter((j) => j.state === "queued").length;
    summary.textContent = compact([
      total ? `${items.length} of ${plural(total, "job")}` : null,
      running ? `${running} running` : null,
      queued ? `${queued} queued` : null,
    ]).join(" · ");
    if (items.length === 0) {
      const showAll = (): void => {
        filters.state = "";
        stateSelect.value = "";
        filters.page = 1;
        apply();
      };
      list.replaceChildren(emptyMessage(filters.state, showAll));
    } else if (table.parentNode !== list) {
      list.replaceChildren(table);
    }
  };

  const turnTo = (to: number): void => {
    filters.page = to;
    apply();
  };

  /** One load; true while something shown is queued or running (the poller then loads again). */
  const load = async (): Promise<boolean> => {
    const asked = filterQuery(filters);
    let result: Schemas["JobList"];
    try {
      result = await fetchJobs(projectId, filters);
    } catch (error) {
      list.removeAttribute("aria-busy");
      status.replaceChildren(errorBox(error instanceof Error ? error.message : String(error)));
      markView("jobs");
      // The server said no (signed out, not a member): asking again will not help. Anything else (the
      // network, a restarting server) is tried again, less often each time.
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        return false;
      }
      throw error;
    }
    // The filters changed while this was on its way: the poller loads again at once.
    if (asked !== filterQuery(filters)) return true;
    list.removeAttribute("aria-busy");
    status.replaceChildren();
    const pages = Math.max(1, Math.ceil(result.total / PAGE_SIZE));
    if (filters.page > pages && result.total > 0) {
      // A stale page number (the list shrank): the last page instead of an empty one.
      filters.page = pages;
      apply();
      return true;
    }
    show(result.items, result.total);
    showPager(pager, filters.page, pages, turnTo);
    const watching = result.items.some(isActive);
    list.dataset["polling"] = String(watching);
    markView("jobs");
    return watching;
  };

  const poll = poller({ tick: load, intervalMs: POLL_MS });
  stateSelect.addEventListener("change", () => {
    filters.state = stateSelect.value as StateFilter;
    filters.page = 1;
    apply();
  });
  refresh.addEventListener("click", () => poll.poke());
  form.addEventListener("submit", (event) => event.preventDefault());
  // Signed in again after the session ended (the dialog over this page): pick up where it stopped.
  const onSignedIn = (): void => poll.poke();
  window.addEventListener("minelabel:signed-in", onSignedIn);

  poll.poke();
  return () => {
    poll.dispose();
    window.removeEventListener("minelabel:signed-in", onSignedIn);
  };
}

function emptyMessage(state: StateFilter, clearFilter: () => void): HTMLElement {
  if (state) {
    const which = state === "active" ? "queued or running" : state;
    return h(
      "div",
      { class: "empty" },
      h("p", {}, `No ${which} jobs.`),
      h("button", { type: "button", class: "link", onclick: clearFilter }, "Show all jobs"),
    );
  }
  return h(
    "div",
    { class: "empty" },
    h("p", {}, "This project has no jobs yet."),
    h("p", { class: "muted" }, "Uploading images, exporting labels and re-rendering thumbnails each start one."),
  );
}
