// The project overview of change: every site ranked by the change in its last interval (the last two dates
// that count), with a sparkline of its areas, filtered by class and date range, and the table as CSV.
import "./lists.css";
import "./site.css";
import { api, call, type Schemas } from "../api/client";
import { roleIn } from "../api/session";
import { sparkline } from "../ui/chart";
import { formatHectares, h, markView } from "../ui/dom";
import { changeOverviewPath, sitePath } from "../paths";
import { navigate, type Params, type Query } from "../router";
import { errorBox, shell } from "./shell";
import { canReview } from "./tasks";

type Overview = Schemas["ChangeOverview"];
type Summary = Schemas["SiteChangeSummary"];

function amount(value: number | null | undefined, unit: Overview["unit"]): string {
  if (value === null || value === undefined) return "–";
  return unit === "ha" ? formatHectares(value) : `${Math.round(value).toLocaleString("en")} px`;
}

function signed(value: number | null, unit: Overview["unit"]): string {
  if (value === null) return "–";
  return `${value > 0 ? "+" : value < 0 ? "−" : ""}${amount(Math.abs(value), unit)}`;
}

function growth(site: Summary): string {
  if (site.growth_pct === null) return site.change !== null && site.change > 0 ? "new" : "–";
  return `${site.growth_pct > 0 ? "+" : ""}${site.growth_pct.toLocaleString("en", { maximumFractionDigits: 1 })} %`;
}

function row(projectId: string, overview: Overview, site: Summary, rank: number): HTMLElement {
  const dateOf = (p: Summary["before"]): string => (p ? (p.acquired_on ?? `image ${p.index}`) : "–");
  return h(
    "tr",
    { "data-site-id": site.site_id },
    h("td", { class: "num" }, String(rank)),
    h("td", {}, h("a", { href: `#${sitePath(projectId, site.site_id)}`, "data-action": "open-site" }, site.site_name)),
    h("td", { class: "num" }, String(site.dates)),
    h(
      "td",
      {},
      sparkline(
        site.series.map((p) => p.area),
        { label: `${site.site_name}: ${site.series.map((p) => `${p.acquired_on ?? p.index} ${amount(p.area, overview.unit)}`).join(", ")}` },
      ),
    ),
    h("td", { class: "num" }, `${dateOf(site.before)} → ${dateOf(site.after)}`),
    h("td", { class: "num" }, amount(site.after?.area, overview.unit)),
    h("td", { class: "num", "data-testid": "site-change" }, signed(site.change, overview.unit)),
    h("td", { class: "num" }, growth(site)),
  );
}

export async function renderChangeOverview(root: HTMLElement, params: Params, query: Query): Promise<void> {
  const projectId = params["projectId"] ?? "";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Change overview" }]);
  const given = (name: string): Record<string, string> => {
    const value = query.get(name);
    return value ? { [name]: value } : {};
  };
  const filters: { include: "approved" | "all"; order: "change" | "growth"; label?: string; from?: string; to?: string } = {
    include: query.get("include") === "all" ? "all" : "approved",
    order: query.get("order") === "growth" ? "growth" : "change",
    ...given("label"),
    ...given("from"),
    ...given("to"),
  };
  try {
    const project = await call(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } }));
    page = shell(root, [...crumbs, { label: project.name, href: `/projects/${project.id}` }, { label: "Change overview" }]);
    const overview = await call(
      api.GET("/api/projects/{project_id}/change-overview", {
        params: { path: { project_id: projectId }, query: filters },
      }),
    );
    const role = roleIn(projectId) ?? project.my_role ?? null;
    const mayAskAll = canReview(role) || project.annotators_see_others;
    const label = h(
      "select",
      { name: "label", "aria-label": "Class" },
      h("option", { value: "" }, "All classes"),
      project.label_classes.map((c) => h("option", { value: c.name }, c.name)),
    );
    label.value = filters.label ?? "";
    const from = h("input", { type: "date", name: "from", "aria-label": "From date", value: filters.from ?? "" });
    const to = h("input", { type: "date", name: "to", "aria-label": "To date", value: filters.to ?? "" });
    const order = h(
      "select",
      { name: "order", "aria-label": "Rank by" },
      h("option", { value: "change" }, "Rank by area gained"),
      h("option", { value: "growth" }, "Rank by % growth"),
    );
    order.value = filters.order;
    const include = h(
      "select",
      { name: "include", "aria-label": "Which tasks count" },
      h("option", { value: "approved" }, "Approved tasks only"),
      h("option", { value: "all" }, "All tasks (drafts too)"),
    );
    include.value = filters.include;
    const chosen = (): Record<string, string> => {
      const values: Record<string, string> = {
        label: label.value,
        from: from.value,
        to: to.value,
        order: order.value === "change" ? "" : order.value,
        include: include.value === "approved" ? "" : include.value,
      };
      return Object.fromEntries(Object.entries(values).filter(([, v]) => v));
    };
    const apply = (): void => {
      const search = new URLSearchParams(chosen()).toString();
      navigate(`${changeOverviewPath(projectId)}${search ? `?${search}` : ""}`);
    };
    for (const control of [label, from, to, order, include]) control.addEventListener("change", apply);
    const csvQuery = new URLSearchParams(chosen());
    const csv = `/api/projects/${projectId}/change-overview.csv${csvQuery.toString() ? `?${csvQuery.toString()}` : ""}`;
    const headers = ["#", "Site", "Dates", "Trend", "Last interval", "Area now", "Change", "Growth"];
    page.append(
      h("h1", {}, "Change overview"),
      h(
        "div",
        { class: "toolbar" },
        h("label", {}, "Class ", label),
        h("label", {}, "From ", from),
        h("label", {}, "to ", to),
        order,
        mayAskAll ? include : null,
        h("a", { class: "button", href: csv, download: "", "data-action": "overview-csv" }, "CSV"),
      ),
      h("p", { class: "notice", "data-testid": "unit-reason" }, overview.reason?.message ?? ""),
      h(
        "section",
        { class: "card" },
        h(
          "p",
          { class: "muted" },
          `${overview.label ?? "All classes"} · ${overview.include === "approved" ? "approved tasks only" : "all tasks"}. `,
          "The last interval is each site's last two dates that count; its change is the difference of their areas.",
        ),
        h(
          "table",
          { class: "data", "data-testid": "overview-table" },
          h("thead", {}, h("tr", {}, headers.map((t, i) => h("th", { class: [0, 2, 4, 5, 6, 7].includes(i) ? "num" : null }, t)))),
          h(
            "tbody",
            {},
            overview.sites.length
              ? overview.sites.map((site, i) => row(projectId, overview, site, i + 1))
              : h("tr", {}, h("td", { colspan: headers.length }, "No sites yet.")),
          ),
        ),
      ),
    );
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
  }
  markView("change-overview");
}
