// A site's page: its observations along a time axis, area per class per date (approved labels, and the
// champion model's predictions dashed), the table under the chart, what changed between two dates, and
// the downloads (CSV and JSON of the timeline, GeoJSON and GeoPackage of the change), and one region
// followed through time (its lineage: the regions it was copied forward from and to).
import "./lists.css";
import "./site.css";
import { api, call, type Project, type Schemas } from "../api/client";
import { roleIn } from "../api/session";
import { isoDate, lineChart, type ChartSeries } from "../ui/chart";
import { formatHectares, h, markView } from "../ui/dom";
import { labelPath, sitePath } from "../paths";
import { navigate, type Params, type Query } from "../router";
import { errorBox, shell } from "./shell";
import { canReview, stateBadge } from "./tasks";

type Timeline = Schemas["Timeline"];
type Entry = Schemas["TimelineEntry"];
type Change = Schemas["Change"];
type Lineage = Schemas["Lineage"];
type Include = "approved" | "all";

const FALLBACK_COLOURS = ["#8c5fc8", "#e26f00", "#008a8a", "#c2185b", "#50575e"];

function amount(value: number, unit: Timeline["unit"]): string {
  return unit === "ha" ? formatHectares(value) : `${Math.round(value).toLocaleString("en")} px`;
}

function apiUrl(path: string, query: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) search.set(key, value);
  const text = search.toString();
  return `${path}${text ? `?${text}` : ""}`;
}

function colourOf(project: Project, label: string, i: number): string {
  return (
    project.label_classes.find((c) => c.name === label)?.color ??
    FALLBACK_COLOURS[i % FALLBACK_COLOURS.length] ??
    "#50575e"
  );
}

function areaOf(areas: Schemas["AreaOnDate"][], label: string): number | null {
  return areas.find((a) => a.label === label)?.area ?? null;
}

/** The classes that have an area somewhere, in the labeling config's order first. */
function shownClasses(timeline: Timeline): string[] {
  const used = new Set(timeline.observations.flatMap((e) => [...e.labels, ...e.predicted].map((a) => a.label)));
  return [...timeline.classes.filter((c) => used.has(c)), ...[...used].filter((c) => !timeline.classes.includes(c))];
}

function when(entry: Entry): Date | number {
  return entry.acquired_on ? new Date(`${entry.acquired_on}T00:00:00Z`) : entry.index;
}

function timeAxis(project: Project, timeline: Timeline): HTMLElement {
  const items = timeline.observations.map((entry) =>
    h(
      "li",
      { "data-observation-id": entry.observation_id, "data-counted": String(entry.counted) },
      h(
        "a",
        { href: `#${labelPath(project.id, entry.observation_id, false)}`, title: "Open in the labeling view" },
        entry.thumbnail_url
          ? h("img", { class: "thumb", src: entry.thumbnail_url, alt: "", loading: "lazy" })
          : h("span", { class: "thumb missing" }),
        h("span", { class: "date" }, entry.acquired_on ?? `image ${entry.index}`),
      ),
      stateBadge(entry.task_state),
    ),
  );
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Observations"),
    h("ol", { class: "time-axis", "aria-label": "Observations in time order" }, items),
  );
}

function chartCard(project: Project, timeline: Timeline, classes: string[]): HTMLElement {
  const counted = timeline.observations.filter((e) => e.counted);
  const dated = timeline.observations.every((e) => e.acquired_on !== null);
  const series: ChartSeries[] = classes.flatMap((label, i) => {
    const colour = colourOf(project, label, i);
    const labels: ChartSeries = {
      name: label,
      colour,
      points: counted.map((e) => ({ x: dated ? when(e) : e.index, y: areaOf(e.labels, label) ?? 0 })),
    };
    const predicted = timeline.observations.filter((e) => areaOf(e.predicted, label) !== null);
    const model: ChartSeries[] = predicted.length
      ? [
          {
            name: `${label} · ${timeline.champion ?? "model"}`,
            colour,
            dashed: true,
            points: predicted.map((e) => ({ x: dated ? when(e) : e.index, y: areaOf(e.predicted, label) ?? 0 })),
          },
        ]
      : [];
    return [...(labels.points.length ? [labels] : []), ...model];
  });
  const unitLabel = timeline.unit === "ha" ? "Area (ha)" : "Area (pixels: not georeferenced)";
  const body = series.length
    ? lineChart({
        series,
        xLabel: dated ? "Acquisition date" : "Image in series (acquisition dates missing)",
        yLabel: unitLabel,
        width: 760,
        height: 320,
        formatX: (x) => (x instanceof Date ? isoDate(x) : `image ${x}`),
        formatY: (y) => amount(y, timeline.unit),
      })
    : h("p", { class: "empty" }, "No approved labels on this site yet: the chart fills in as tasks are approved.");
  return h(
    "section",
    { class: "card chart-card", "data-testid": "site-chart" },
    h("h2", {}, "Area per class over time"),
    body,
    timeline.reason ? h("p", { class: "notice", "data-testid": "unit-reason" }, timeline.reason.message) : null,
    h(
      "p",
      { class: "muted" },
      timeline.include === "approved"
        ? "Approved tasks only: each one's ground truth."
        : "All tasks: ground truth where approved, else the latest annotation.",
      timeline.champion ? ` Dashed: the champion model ${timeline.champion}'s predictions.` : "",
    ),
  );
}

function areaTable(timeline: Timeline, classes: string[]): HTMLElement {
  const model = timeline.champion;
  const headers = [
    "Date",
    "State",
    ...classes,
    ...(model ? classes.map((c) => `${c} (${model})`) : []),
  ];
  const cell = (value: number | null): HTMLElement =>
    h("td", { class: "num" }, value === null ? "–" : amount(value, timeline.unit));
  const rows = timeline.observations.map((e) =>
    h(
      "tr",
      { "data-observation-id": e.observation_id, class: e.counted ? null : "uncounted" },
      h("td", {}, e.acquired_on ?? `image ${e.index}`),
      h("td", {}, stateBadge(e.task_state)),
      classes.map((c) => cell(e.counted ? (areaOf(e.labels, c) ?? 0) : null)),
      model ? classes.map((c) => cell(areaOf(e.predicted, c))) : [],
    ),
  );
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Areas by date"),
    h(
      "table",
      { class: "data", "data-testid": "site-table" },
      h("thead", {}, h("tr", {}, headers.map((t, i) => h("th", { class: i >= 2 ? "num" : null }, t)))),
      h("tbody", {}, rows),
    ),
  );
}

function changeTable(change: Change): HTMLElement {
  const unit = change.unit;
  const rows = change.classes.map((c) =>
    h(
      "tr",
      { "data-label": c.label },
      h("td", {}, c.label),
      [c.before, c.after, c.gained, c.lost, c.unchanged].map((v) => h("td", { class: "num" }, amount(v, unit))),
    ),
  );
  return h(
    "div",
    {},
    h(
      "table",
      { class: "data", "data-testid": "change-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Class", "Before", "After", "Gained", "Lost", "Unchanged"].map((t, i) =>
            h("th", { class: i ? "num" : null }, t),
          ),
        ),
      ),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6 }, "No labels on either date."))),
    ),
    h(
      "p",
      { class: "muted" },
      change.space === "utm"
        ? `Compared on the ground in ${change.metric_crs ?? "the site's UTM zone"}; hectares on the ellipsoid.`
        : "Compared in the images' shared pixel grid (not both georeferenced).",
    ),
  );
}

function changeCard(project: Project, timeline: Timeline): HTMLElement {
  const counted = timeline.observations.filter((e) => e.counted);
  const card = h("section", { class: "card", "data-testid": "change-card" }, h("h2", {}, "What changed"));
  if (counted.length < 2) {
    card.append(h("p", { class: "empty" }, "Change needs two dates that count; this site has " + counted.length + "."));
    return card;
  }
  const option = (e: Entry): HTMLOptionElement =>
    h("option", { value: e.observation_id }, e.acquired_on ?? `image ${e.index}`);
  const before = h("select", { name: "before", "aria-label": "Earlier date" }, counted.map(option));
  const after = h("select", { name: "after", "aria-label": "Later date" }, counted.map(option));
  before.value = counted[counted.length - 2]?.observation_id ?? "";
  after.value = counted[counted.length - 1]?.observation_id ?? "";
  const result = h("div", { class: "change-result", "aria-live": "polite" });
  const downloads = h("span", { class: "downloads" });
  const path = `/api/projects/${project.id}/sites/${timeline.site_id}`;
  const load = async (): Promise<void> => {
    const query = { before: before.value, after: after.value, include: timeline.include };
    downloads.replaceChildren(
      h("a", { class: "button", href: apiUrl(`${path}/change.geojson`, query), download: "", "data-action": "change-geojson" }, "GeoJSON"),
      h("a", { class: "button", href: apiUrl(`${path}/change.gpkg`, query), download: "", "data-action": "change-gpkg" }, "GeoPackage"),
      h(
        "a",
        { class: "button", href: `#${labelPath(project.id, after.value, false)}?change=${before.value}`, "data-action": "change-on-map" },
        "On the map",
      ),
    );
    try {
      const change = await call(
        api.GET("/api/projects/{project_id}/sites/{site_id}/change", {
          params: { path: { project_id: project.id, site_id: timeline.site_id }, query },
        }),
      );
      result.replaceChildren(changeTable(change));
    } catch (error) {
      result.replaceChildren(errorBox(error instanceof Error ? error.message : String(error)));
    }
    document.documentElement.dataset["changeReady"] = `${before.value}:${after.value}`;
  };
  before.addEventListener("change", () => void load());
  after.addEventListener("change", () => void load());
  card.append(
    h("div", { class: "toolbar" }, h("label", {}, "From ", before), h("label", {}, "to ", after), downloads),
    result,
  );
  void load();
  return card;
}

function lineageResult(project: Project, lineage: Lineage): HTMLElement {
  const dated = lineage.steps.every((s) => s.acquired_on !== null);
  const at = (s: Lineage["steps"][number]): Date | number =>
    s.acquired_on ? new Date(`${s.acquired_on}T00:00:00Z`) : s.index;
  const name = lineage.steps.find((s) => s.region_ids.includes(lineage.region_id))?.labels.join(", ") ?? "Region";
  const chart = lineage.steps.length > 1
    ? lineChart({
        series: [{ name, colour: colourOf(project, name, 0), points: lineage.steps.map((s) => ({ x: at(s), y: s.area })) }],
        xLabel: dated ? "Acquisition date" : "Image in series (acquisition dates missing)",
        yLabel: lineage.unit === "ha" ? "Area (ha)" : "Area (pixels: not georeferenced)",
        width: 760,
        height: 220,
        formatX: (x) => (x instanceof Date ? isoDate(x) : `image ${x}`),
        formatY: (y) => amount(y, lineage.unit),
      })
    : h("p", { class: "muted" }, "This region has no ancestor or descendant on another date that counts.");
  const rows = lineage.steps.map((s) =>
    h(
      "tr",
      { "data-observation-id": s.observation_id, class: s.region_ids.includes(lineage.region_id) ? "chosen" : null },
      h("td", {}, s.acquired_on ?? `image ${s.index}`),
      h("td", {}, stateBadge(s.task_state)),
      h("td", {}, s.labels.join(", ")),
      h("td", { class: "num" }, String(s.region_ids.length)),
      h("td", { class: "num" }, amount(s.area, lineage.unit)),
    ),
  );
  return h(
    "div",
    {},
    chart,
    lineage.reason ? h("p", { class: "notice" }, lineage.reason.message) : null,
    h(
      "table",
      { class: "data", "data-testid": "lineage-table" },
      h("thead", {}, h("tr", {}, ["Date", "State", "Class", "Regions", "Area"].map((t, i) => h("th", { class: i >= 3 ? "num" : null }, t)))),
      h("tbody", {}, rows),
    ),
  );
}

/** Two dates in two maps that pan and zoom together, each with its own labels (views/sideBySide.ts, loaded
 * with OpenLayers only when asked for). */
function sideBySideCard(project: Project, timeline: Timeline): { card: HTMLElement; dispose: () => void } {
  const card = h("section", { class: "card", "data-testid": "side-by-side-card" }, h("h2", {}, "Side by side"));
  const counted = timeline.observations.filter((e) => e.counted);
  let current: { dispose(): void } | null = null;
  const dispose = (): void => {
    current?.dispose();
    current = null;
  };
  if (counted.length < 2) {
    card.append(h("p", { class: "empty" }, "Side by side needs two dates that count."));
    return { card, dispose };
  }
  const option = (e: Entry): HTMLOptionElement => h("option", { value: e.observation_id }, e.acquired_on ?? `image ${e.index}`);
  const left = h("select", { name: "side-left", "aria-label": "Left map's date" }, counted.map(option));
  const right = h("select", { name: "side-right", "aria-label": "Right map's date" }, counted.map(option));
  left.value = counted[counted.length - 2]?.observation_id ?? "";
  right.value = counted[counted.length - 1]?.observation_id ?? "";
  const show = h("button", { type: "button", "data-action": "side-by-side" }, "Show side by side");
  const area = h("div", { class: "side-area" });
  const approved = new Set(timeline.observations.filter((e) => e.task_state === "approved").map((e) => e.observation_id));
  const open = async (): Promise<void> => {
    dispose();
    try {
      const { SideBySide } = await import("./sideBySide");
      const view = await SideBySide.open(project, left.value, right.value, approved);
      area.replaceChildren(view.element);
      view.attached();
      current = view;
      show.textContent = "Show again";
    } catch (error) {
      area.replaceChildren(errorBox(error instanceof Error ? error.message : String(error)));
    }
  };
  show.addEventListener("click", () => void open());
  left.addEventListener("change", () => current && void open());
  right.addEventListener("change", () => current && void open());
  card.append(
    h("div", { class: "toolbar" }, h("label", {}, "Left ", left), h("label", {}, "right ", right), show),
    h("p", { class: "muted" }, "Both maps pan and zoom together: drag either, or Tab to a map and use the arrow keys, + and −."),
    area,
  );
  return { card, dispose };
}

/** One region through time: pick a date and one of its approved regions (or come with ?region= from the
 * labeling view), and see its area on every date its lineage reaches. */
function lineageCard(project: Project, timeline: Timeline, chosen: string | null): HTMLElement {
  const card = h("section", { class: "card", "data-testid": "lineage-card" }, h("h2", {}, "One region through time"));
  const approved = timeline.observations.filter((e) => e.counted && e.task_state === "approved");
  const date = h(
    "select",
    { name: "lineage-date", "aria-label": "Date to pick a region from" },
    approved.map((e) => h("option", { value: e.observation_id }, e.acquired_on ?? `image ${e.index}`)),
  );
  date.value = approved[approved.length - 1]?.observation_id ?? "";
  const region = h("select", { name: "lineage-region", "aria-label": "Region to follow" });
  const result = h("div", { class: "lineage-result", "aria-live": "polite" });
  const follow = async (regionId: string): Promise<void> => {
    try {
      const lineage = await call(
        api.GET("/api/projects/{project_id}/sites/{site_id}/regions/{region_id}/lineage", {
          params: {
            path: { project_id: project.id, site_id: timeline.site_id, region_id: regionId },
            query: { include: timeline.include },
          },
        }),
      );
      result.replaceChildren(lineageResult(project, lineage));
    } catch (error) {
      result.replaceChildren(errorBox(error instanceof Error ? error.message : String(error)));
    }
    document.documentElement.dataset["lineageReady"] = regionId;
  };
  const regionsOf = async (observationId: string): Promise<void> => {
    const collection = await call(
      api.GET("/api/observations/{observation_id}/approved-regions", { params: { path: { observation_id: observationId } } }),
    );
    const unit = timeline.unit;
    region.replaceChildren(
      h("option", { value: "" }, "Choose a region…"),
      ...[...collection.features]
        .filter((f) => f.properties.label)
        .sort((a, b) => (b.properties.area_px ?? 0) - (a.properties.area_px ?? 0))
        .map((f, i) =>
          h(
            "option",
            { value: f.id },
            `${f.properties.label ?? ""} ${i + 1} · ${amount(unit === "ha" ? (f.properties.area_ha ?? 0) : f.properties.area_px, unit)}`,
          ),
        ),
    );
    if (chosen && collection.features.some((f) => f.id === chosen)) region.value = chosen;
  };
  date.addEventListener("change", () => void regionsOf(date.value));
  region.addEventListener("change", () => {
    if (region.value) void follow(region.value);
  });
  if (approved.length) {
    void regionsOf(date.value);
    card.append(h("div", { class: "toolbar" }, h("label", {}, "On ", date), h("label", {}, "follow ", region)));
  }
  if (chosen) void follow(chosen);
  else if (!approved.length) card.append(h("p", { class: "empty" }, "No approved date yet: approve a task to follow its regions."));
  card.append(result);
  return card;
}

export async function renderSite(root: HTMLElement, params: Params, query: Query): Promise<() => void> {
  const projectId = params["projectId"] ?? "";
  const siteId = params["siteId"] ?? "";
  const include: Include = query.get("include") === "all" ? "all" : "approved";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Site" }]);
  let cleanup = (): void => {};
  try {
    const project = await call(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } }));
    const timeline = await call(
      api.GET("/api/projects/{project_id}/sites/{site_id}/timeline", {
        params: { path: { project_id: projectId, site_id: siteId }, query: { include } },
      }),
    );
    page = shell(root, [
      ...crumbs,
      { label: project.name, href: `/projects/${project.id}` },
      { label: `Site ${timeline.site_name}` },
    ]);
    const role = roleIn(projectId) ?? project.my_role ?? null;
    const path = `/api/projects/${projectId}/sites/${siteId}`;
    const picker = h(
      "select",
      { name: "include", "aria-label": "Which tasks count" },
      h("option", { value: "approved" }, "Approved tasks only"),
      h("option", { value: "all" }, "All tasks (drafts too)"),
    );
    picker.value = include;
    picker.addEventListener("change", () =>
      navigate(`${sitePath(projectId, siteId)}${picker.value === "all" ? "?include=all" : ""}`),
    );
    // Annotators of a project that keeps drafts private see approved labels only (the API says so too).
    const mayAskAll = canReview(role) || project.annotators_see_others;
    const classes = shownClasses(timeline);
    const sideBySide = sideBySideCard(project, timeline);
    cleanup = sideBySide.dispose;
    page.append(
      h("h1", {}, `Site ${timeline.site_name}`),
      h(
        "div",
        { class: "toolbar" },
        mayAskAll ? picker : null,
        h("a", { class: "button", href: apiUrl(`${path}/timeline.csv`, { include }), download: "", "data-action": "timeline-csv" }, "CSV"),
        h("a", { class: "button", href: apiUrl(`${path}/timeline`, { include }), download: `timeline-${timeline.site_name}.json`, "data-action": "timeline-json" }, "JSON"),
      ),
      timeAxis(project, timeline),
      chartCard(project, timeline, classes),
      areaTable(timeline, classes),
      changeCard(project, timeline),
      sideBySide.card,
      lineageCard(project, timeline, query.get("region")),
    );
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
  }
  markView("site");
  return cleanup;
}
