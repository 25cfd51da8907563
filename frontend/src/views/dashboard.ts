import "./lists.css";
import { api, call, type Observation, type Project, type Schemas } from "../api/client";
import { roleIn } from "../api/session";
import { formatHectares, h, markView } from "../ui/dom";
import { isoDate, lineChart, type ChartSeries } from "../ui/chart";
import type { Params } from "../router";
import { errorBox, shell } from "./shell";
import { exportCard } from "./exportCard";
import { jobsPath } from "./jobs";
import { canTrain, modelsPath } from "./models";
import { changeOverviewPath, sitePath } from "../paths";
import { canReview, startButtons, stateBadge, TASK_STATES } from "./tasks";

type Progress = Schemas["ProgressReport"];
type ClassStat = Schemas["ClassStat"];

// Sites have no colour of their own; these stay apart from each other on a white background.
const SITE_COLOURS = [
  "#2271b1", "#d63638", "#00a32a", "#dba617", "#8c5fc8", "#e26f00", "#008a8a", "#c2185b", "#50575e",
];

const tasksHref = (projectId: string, state?: string): string =>
  `#/projects/${projectId}/tasks${state ? `?state=${state}` : ""}`;

/** Project admins' way to the jobs panel, saying how many run or wait now (checked once, on opening). */
async function jobsLink(projectId: string): Promise<HTMLElement> {
  const count = (state: "queued" | "running"): Promise<number> =>
    call(
      api.GET("/api/projects/{project_id}/jobs", {
        params: { path: { project_id: projectId }, query: { state: [state], limit: 1 } },
      }),
    ).then((list) => list.total);
  // The counts are a courtesy: without them (an error) the link is still there.
  const [running, queued] = await Promise.all([count("running"), count("queued")]).catch(() => [0, 0]);
  const busy = [running ? `${running} running` : null, queued ? `${queued} queued` : null].filter(Boolean);
  return h(
    "a",
    {
      class: "button",
      href: `#${jobsPath(projectId)}`,
      "data-action": "jobs",
      "data-active-jobs": running + queued,
    },
    "Jobs",
    busy.length ? h("span", { class: "jobs-badge" }, busy.join(", ")) : null,
  );
}

function table(headers: string[], rows: Node[][], numericFrom = 1): HTMLTableElement {
  const numeric = (column: number): string | null => (column >= numericFrom ? "num" : null);
  return h(
    "table",
    { class: "data" },
    h("thead", {}, h("tr", {}, headers.map((title, i) => h("th", { class: numeric(i) }, title)))),
    h(
      "tbody",
      {},
      rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { class: numeric(i) }, cell)))),
    ),
  );
}

function text(value: string | number): Text {
  return document.createTextNode(typeof value === "number" ? value.toLocaleString("en") : value);
}

function stateTiles(projectId: string, byState: Record<string, number>, total: number): HTMLElement {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Tasks by state"),
    h(
      "ul",
      { class: "state-tiles" },
      TASK_STATES.map((state) =>
        h(
          "li",
          { "data-state": state },
          h("a", { href: tasksHref(projectId, state), class: "count" }, text(byState[state] ?? 0)),
          stateBadge(state),
        ),
      ),
      h(
        "li",
        { "data-state": "all" },
        h("a", { href: tasksHref(projectId), class: "count" }, text(total)),
        h("span", { class: "muted" }, "all"),
      ),
    ),
  );
}

function annotatorTable(progress: Progress): HTMLElement {
  const rows = progress.per_annotator.map((a) => [
    text(a.email),
    text(a.in_progress),
    text(a.submitted),
    text(a.approved),
    text(a.rejected),
    text(a.regions),
    text(formatHectares(a.area_ha)),
  ]);
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Annotators"),
    rows.length
      ? table(["Email", "In progress", "Submitted", "Approved", "Rejected", "Regions", "Area"], rows)
      : h("p", { class: "empty" }, "Nobody has started labeling yet."),
  );
}

function classTable(project: Project, progress: Progress): HTMLElement {
  const colours = new Map(project.label_classes.map((c) => [c.name, c.color]));
  const byLabel = new Map(progress.per_class.map((c) => [c.label, c]));
  // Configured classes first (in their order, even unused), then labels no longer in the config.
  const labels = [...colours.keys(), ...[...byLabel.keys()].filter((label) => !colours.has(label))];
  const rows = labels.map((label) => {
    const area = byLabel.get(label);
    const colour = colours.get(label);
    return [
      h(
        "span",
        {
          class: colour ? "chip" : "chip retired",
          style: `--chip: ${colour ?? "#a7aaad"}`,
          title: colour ? null : "Not in the labeling config any more",
        },
        label,
      ),
      text(area?.regions ?? 0),
      // Without georeferencing there are no hectares: the pixel area, and no approved hectares either.
      area && area.area_ha === null
        ? h("span", { title: "Not georeferenced: pixels" }, `${Math.round(area.area_px).toLocaleString("en")} px²`)
        : text(formatHectares(area ? area.area_ha : 0)),
      text(area && area.area_ha === null ? "–" : formatHectares(area?.approved_area_ha ?? 0)),
    ];
  });
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Classes"),
    rows.length
      ? table(["Class", "Regions", "Area", "Approved"], rows)
      : h("p", { class: "empty" }, "No label classes are configured."),
  );
}

async function allObservations(projectId: string): Promise<Observation[]> {
  const all: Observation[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await call(
      api.GET("/api/projects/{project_id}/observations", {
        params: { path: { project_id: projectId }, query: { limit: 1000, offset } },
      }),
    );
    all.push(...page.items);
    if (page.items.length === 0 || all.length >= page.total) return all;
  }
}

const pixels = (value: number): string => `${value.toLocaleString("en", { maximumFractionDigits: 0 })} px`;

interface AreaChart {
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  hectares: boolean;
  dated: boolean;
}

/** Labeled area per observation, one series per site. Hectares and dates only when every plotted
 * observation has them: a chart that mixes units or axes would mislead. */
function areaChart(stats: ClassStat[], observations: Observation[], label: string | null): AreaChart {
  const byId = new Map(observations.map((o) => [o.id, o]));
  const totals = new Map<string, { px: number; ha: number | null }>();
  for (const stat of stats) {
    if (label !== null && stat.label !== label) continue;
    const sum = totals.get(stat.observation_id) ?? { px: 0, ha: 0 };
    sum.px += stat.area_px;
    sum.ha = sum.ha === null || stat.area_ha === null ? null : sum.ha + stat.area_ha;
    totals.set(stat.observation_id, sum);
  }
  const plotted = [...totals.entries()].flatMap(([id, sum]) => {
    const observation = byId.get(id);
    return observation ? [{ observation, ...sum }] : [];
  });
  const hectares = plotted.every((p) => p.ha !== null);
  const dated = plotted.every((p) => p.observation.acquired_on !== null);
  const sites = [...new Set(plotted.map((p) => p.observation.site_name))].sort((a, b) => a.localeCompare(b));
  const series = sites.map((site, i) => ({
    name: site,
    colour: SITE_COLOURS[i % SITE_COLOURS.length] ?? "#2271b1",
    points: plotted
      .filter((p) => p.observation.site_name === site)
      .map((p) => {
        const o = p.observation;
        const y = hectares ? (p.ha ?? 0) : p.px;
        const x = dated && o.acquired_on ? new Date(`${o.acquired_on}T00:00:00Z`) : o.index;
        const when = o.acquired_on ?? "no date";
        const amount = hectares ? formatHectares(y) : pixels(y);
        return { x, y, title: `${site}, image ${o.index} (${when})\n${o.original_filename}\n${amount}` };
      }),
  }));
  return {
    series,
    hectares,
    dated,
    xLabel: dated ? "Acquisition date" : "Image in series (acquisition dates missing)",
    yLabel: hectares ? "Labeled area (ha)" : "Labeled area (pixels: not georeferenced)",
  };
}

/** Which annotation the areas come from (the backend's one rule, app/repositories/ground_truth.py). */
function areaRule(project: Project): string {
  const rule =
    "Areas count one annotation per image: its ground truth once the task is approved, before that its most recently saved annotation.";
  return project.annotators_per_task > 1
    ? `${rule} Each image is labeled by ${project.annotators_per_task} annotators; their areas never add up.`
    : rule;
}

function chartSection(project: Project, stats: ClassStat[], observations: Observation[]): HTMLElement {
  const holder = h("div", { class: "chart-holder" });
  const draw = (label: string | null): void => {
    const chart = areaChart(stats, observations, label);
    if (chart.series.length === 0) {
      const message = label
        ? `No ${label} regions yet.`
        : "Nothing labeled yet: the chart fills in as regions are drawn.";
      holder.replaceChildren(h("p", { class: "empty" }, message));
      return;
    }
    holder.replaceChildren(
      lineChart({
        series: chart.series,
        xLabel: chart.xLabel,
        yLabel: chart.yLabel,
        width: 720,
        height: 320,
        formatX: (x) => (x instanceof Date ? isoDate(x) : `image ${x}`),
        formatY: (y) => (chart.hectares ? formatHectares(y) : pixels(y)),
      }),
    );
  };
  const labels = [...new Set([...project.label_classes.map((c) => c.name), ...stats.map((s) => s.label)])];
  const picker = h(
    "select",
    { name: "class", "aria-label": "Class" },
    h("option", { value: "" }, "All classes"),
    labels.map((l) => h("option", { value: l }, l)),
  );
  picker.addEventListener("change", () => draw(picker.value || null));
  draw(null);
  return h(
    "section",
    { class: "card chart-card" },
    h("div", { class: "card-head" }, h("h2", {}, "Labeled area over time"), picker),
    holder,
    h("p", { class: "muted", "data-testid": "area-rule" }, areaRule(project)),
  );
}

/** Every site, each opening its page: its dates and what changed between them. */
function sitesCard(projectId: string, sites: Schemas["SiteRead"][]): HTMLElement {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Sites"),
    h("p", {}, h("a", { href: `#${changeOverviewPath(projectId)}`, "data-action": "change-overview" }, "Change overview: sites ranked by change")),
    sites.length
      ? h(
          "ul",
          { class: "site-links" },
          sites.map((site) =>
            h(
              "li",
              {},
              h("a", { href: `#${sitePath(projectId, site.id)}`, "data-action": "open-site" }, site.name),
              h("span", { class: "muted" }, ` · ${site.observation_count} observations`),
            ),
          ),
        )
      : h("p", { class: "empty" }, "No images yet."),
  );
}

/** Annotators may not read the progress report; the task list's totals give them the counts. */
async function countsFromTaskList(
  projectId: string,
): Promise<{ byState: Record<string, number>; total: number }> {
  const totals = await Promise.all(
    TASK_STATES.map((state) =>
      call(
        api.GET("/api/projects/{project_id}/tasks", {
          params: { path: { project_id: projectId }, query: { state: [state], limit: 1 } },
        }),
      ).then((list) => [state, list.total] as const),
    ),
  );
  const byState = Object.fromEntries(totals);
  return { byState, total: totals.reduce((sum, [, n]) => sum + n, 0) };
}

export async function renderDashboard(root: HTMLElement, params: Params): Promise<void> {
  const projectId = params["projectId"] ?? "";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Project" }]);
  try {
    const path = { params: { path: { project_id: projectId } } };
    const project = await call(api.GET("/api/projects/{project_id}", path));
    page = shell(root, [...crumbs, { label: project.name }]);
    const role = roleIn(projectId) ?? project.my_role ?? null;
    const staff = canReview(role);

    const status = h("p", { class: "notice", role: "status", "aria-live": "polite" });
    const jobs = role === "admin" ? await jobsLink(projectId) : null;
    page.append(
      h("h1", {}, project.name),
      ...(project.description ? [h("p", { class: "muted" }, project.description)] : []),
      h(
        "div",
        { class: "toolbar" },
        startButtons(projectId, role, status, "Review queue"),
        h("a", { class: "button", href: tasksHref(projectId), "data-action": "all-tasks" }, "All tasks"),
        jobs,
        // Those who may train (project admins) get the way to the models; the page reads for any member.
        canTrain(role)
          ? h("a", { class: "button", href: `#${modelsPath(projectId)}`, "data-action": "models" }, "Models")
          : null,
      ),
      status,
    );

    const sites = await call(api.GET("/api/projects/{project_id}/sites", path));
    if (!staff) {
      const counts = await countsFromTaskList(projectId);
      page.append(
        stateTiles(projectId, counts.byState, counts.total),
        sitesCard(projectId, sites),
        h("p", { class: "muted" }, "Progress per annotator and per class is shown to reviewers and admins."),
      );
    } else {
      const [progress, stats, observations, exporting] = await Promise.all([
        call(api.GET("/api/projects/{project_id}/progress", path)),
        call(api.GET("/api/projects/{project_id}/label-stats", path)),
        allObservations(projectId),
        exportCard(projectId),
      ]);
      page.append(
        stateTiles(projectId, progress.tasks_by_state, progress.tasks_total),
        h("div", { class: "dashboard-grid" }, annotatorTable(progress), classTable(project, progress)),
        chartSection(project, stats, observations),
        sitesCard(projectId, sites),
        exporting,
      );
    }
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
  }
  markView("dashboard");
}
