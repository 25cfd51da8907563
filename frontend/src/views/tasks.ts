import "./lists.css";
import { api, call, type Schemas, type Task, type TaskState } from "../api/client";
import type { paths } from "../api/schema";
import { me, roleIn } from "../api/session";
import { formatDate, h, markView } from "../ui/dom";
import { showPager } from "../ui/pager";
import { navigate, type Params } from "../router";
import { labelPath, sitePath } from "../paths";
import { errorBox, shell } from "./shell";

export const TASK_STATES: readonly TaskState[] = ["new", "in_progress", "submitted", "approved", "rejected"];
const PAGE_SIZE = 50;

type TaskQuery = NonNullable<paths["/api/projects/{project_id}/tasks"]["get"]["parameters"]["query"]>;

export function stateLabel(state: string): string {
  return state.replace(/_/g, " ");
}

export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `state state-${state}` }, stateLabel(state));
}

export function canLabel(role: string | null): boolean {
  return role === "admin" || role === "annotator";
}

export function canReview(role: string | null): boolean {
  return role === "admin" || role === "reviewer";
}

function say(status: HTMLElement, message: string, isError = false): void {
  status.className = isError ? "notice error" : "notice";
  status.textContent = message;
}

/** A button that runs `run` once at a time; `run` navigates away, or returns a message to show. */
function actionButton(
  label: string,
  action: string,
  status: HTMLElement,
  run: () => Promise<string | null>,
): HTMLElement {
  const button = h("button", { type: "button", class: "primary", "data-action": action }, label);
  button.addEventListener("click", () => {
    button.disabled = true;
    status.textContent = "";
    run()
      .then((message) => {
        if (message) say(status, message);
      })
      .catch((error: unknown) => say(status, error instanceof Error ? error.message : String(error), true))
      .finally(() => (button.disabled = false));
  });
  return button;
}

/** "Start labeling" (annotators, admins) and "Start reviewing" (reviewers, admins); their messages go to
 * `status`. */
export function startButtons(
  projectId: string,
  role: string | null,
  status: HTMLElement,
  reviewLabel = "Start reviewing",
): HTMLElement[] {
  const buttons: HTMLElement[] = [];
  if (canLabel(role)) {
    buttons.push(
      actionButton("Start labeling", "start-labeling", status, async () => {
        const answer = await call(
          api.POST("/api/projects/{project_id}/tasks/next", { params: { path: { project_id: projectId } } }),
        );
        if (!answer.task) return "No task left for you: every image is taken or done. Check back later.";
        navigate(labelPath(projectId, answer.task.observation_id, false));
        return null;
      }),
    );
  }
  if (canReview(role)) {
    buttons.push(
      actionButton(reviewLabel, "start-reviewing", status, async () => {
        const queue = await call(
          api.GET("/api/projects/{project_id}/review-queue", {
            params: { path: { project_id: projectId }, query: { limit: 1 } },
          }),
        );
        const first = queue.items[0];
        if (!first) return "Nothing waits for review right now.";
        navigate(labelPath(projectId, first.observation_id, true));
        return null;
      }),
    );
  }
  return buttons;
}

/** The task list's order: each site's series, or what the champion is least sure of first. */
type Sort = "series" | "uncertainty";

interface Filters {
  sort: Sort;
  state: TaskState | "";
  site: string;
  assignee: string;
  from: string;
  to: string;
  page: number;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function readFilters(query: URLSearchParams): Filters {
  const state = query.get("state") ?? "";
  const date = (name: string): string => {
    const value = query.get(name) ?? "";
    return ISO_DATE.test(value) ? value : "";
  };
  return {
    sort: query.get("sort") === "uncertainty" ? "uncertainty" : "series",
    state: (TASK_STATES as readonly string[]).includes(state) ? (state as TaskState) : "",
    site: query.get("site") ?? "",
    assignee: query.get("assignee") ?? "",
    from: date("from"),
    to: date("to"),
    page: Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1),
  };
}

function filterQuery(filters: Filters): string {
  const query = new URLSearchParams();
  if (filters.sort !== "series") query.set("sort", filters.sort);
  if (filters.state) query.set("state", filters.state);
  if (filters.site) query.set("site", filters.site);
  if (filters.assignee) query.set("assignee", filters.assignee);
  if (filters.from) query.set("from", filters.from);
  if (filters.to) query.set("to", filters.to);
  if (filters.page > 1) query.set("page", String(filters.page));
  return query.toString();
}

function hasFilters(filters: Filters): boolean {
  return Boolean(filters.state || filters.site || filters.assignee || filters.from || filters.to);
}

/** One page of tasks, filtered by the server. */
async function fetchTasks(projectId: string, filters: Filters): Promise<{ items: Task[]; total: number }> {
  const query: TaskQuery = { limit: PAGE_SIZE, offset: (filters.page - 1) * PAGE_SIZE, sort: filters.sort };
  if (filters.state) query.state = [filters.state];
  if (filters.site) query.site_id = filters.site;
  if (filters.assignee) query.assignee = filters.assignee;
  if (filters.from) query.acquired_from = filters.from;
  if (filters.to) query.acquired_to = filters.to;
  return call(api.GET("/api/projects/{project_id}/tasks", { params: { path: { project_id: projectId }, query } }));
}

function actionFor(projectId: string, task: Task, role: string | null): { label: string; path: string } {
  if (task.state === "submitted" && canReview(role)) {
    return { label: "Review", path: labelPath(projectId, task.observation_id, true) };
  }
  const label = role === "reviewer" || task.state === "approved" ? "Open" : "Label";
  return { label, path: labelPath(projectId, task.observation_id, false) };
}

function taskRow(projectId: string, task: Task, role: string | null): HTMLTableRowElement {
  const action = actionFor(projectId, task, role);
  const thumb = h("img", {
    class: "thumb",
    src: `/api/observations/${task.observation_id}/thumbnail`,
    alt: "",
    loading: "lazy",
    decoding: "async",
    width: 64,
    height: 64,
  });
  // A thumbnail not made yet answers 404: show an empty frame rather than a broken image.
  thumb.addEventListener(
    "error",
    () => thumb.replaceWith(h("span", { class: "thumb missing", title: "No thumbnail yet" })),
    { once: true },
  );
  const emails = task.assignments.map((a) => a.email);
  return h(
    "tr",
    { "data-observation-id": task.observation_id, "data-href": action.path, "data-state": task.state },
    h("td", {}, thumb),
    h(
      "td",
      {},
      // The row opens the task; the site's name opens the site's page (its change over time).
      h(
        "a",
        {
          href: `#${sitePath(task.project_id, task.site_id)}`,
          "data-action": "open-site",
          onclick: (event: Event) => event.stopPropagation(),
        },
        task.site_name,
      ),
    ),
    h("td", { class: "num" }, task.index),
    h("td", {}, formatDate(task.acquired_on)),
    h("td", { class: "file", title: task.original_filename }, task.original_filename),
    h("td", {}, stateBadge(task.state)),
    h(
      "td",
      {
        class: "assignees",
        title: task.assignments.map((a) => `${a.email}: ${stateLabel(a.state)}`).join("\n"),
      },
      emails.length ? emails.join(", ") : h("span", { class: "muted" }, "nobody"),
    ),
    uncertaintyCell(task),
    h(
      "td",
      { class: "num" },
      task.open_comments ? h("span", { class: "comments", title: "Open comments" }, task.open_comments) : "",
    ),
    h("td", {}, h("a", { class: "button", href: `#${action.path}`, "data-action": "open" }, action.label)),
  );
}

/** How unsure the champion was of the task (0: sure, 1: a coin toss), and which version said so. */
function uncertaintyCell(task: Task): HTMLElement {
  if (task.uncertainty === null || task.uncertainty === undefined) {
    return h("td", { class: "num uncertainty muted", title: "No model has pre-labeled this task" }, "–");
  }
  return h(
    "td",
    {
      class: "num uncertainty",
      "data-uncertainty": task.uncertainty,
      title: `How unsure ${task.uncertainty_model ?? "the model"} is (0: sure, 1: a coin toss)`,
    },
    task.uncertainty.toFixed(3),
  );
}

/** A select's value and text. */
type Option = [string, string];

function select(name: string, label: string, value: string, options: Option[]): HTMLLabelElement {
  const control = h("select", { name });
  for (const [optionValue, text] of options) {
    control.append(h("option", { value: optionValue, selected: optionValue === value }, text));
  }
  return h("label", {}, label, control);
}

function typingIn(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.closest("input, select, textarea, [contenteditable]") !== null)
  );
}

export async function renderTasks(
  root: HTMLElement,
  params: Params,
  query: URLSearchParams,
): Promise<void | (() => void)> {
  const projectId = params["projectId"] ?? "";
  const crumbs = [{ label: "Projects", href: "/" }];
  let page = shell(root, [...crumbs, { label: "Tasks" }]);
  let project: Schemas["ProjectRead"];
  let sites: Schemas["SiteRead"][];
  let members: Schemas["MemberRead"][];
  try {
    const path = { params: { path: { project_id: projectId } } };
    [project, sites, members] = await Promise.all([
      call(api.GET("/api/projects/{project_id}", path)),
      call(api.GET("/api/projects/{project_id}/sites", path)),
      call(api.GET("/api/projects/{project_id}/members", path)),
    ]);
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
    markView("tasks");
    return;
  }
  page = shell(root, [
    ...crumbs,
    { label: project.name, href: `/projects/${projectId}` },
    { label: "Tasks" },
  ]);
  const role = roleIn(projectId) ?? project.my_role ?? null;
  const filters = readFilters(query);

  const status = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  const toolbar = h(
    "div",
    { class: "toolbar" },
    startButtons(projectId, role, status),
    h("a", { class: "button", href: `#/projects/${projectId}` }, "Dashboard"),
  );

  const myId = me()?.user.id;
  const people: Option[] = members
    .filter((m) => m.role !== "reviewer" && m.user_id !== myId)
    .sort((a, b) => a.email.localeCompare(b.email))
    .map((m) => [m.user_id, m.email]);
  const assigneeOptions: Option[] = [["", "Anyone"], ...(myId ? [[myId, "Me"] as Option] : []), ...people];
  if (filters.assignee && !assigneeOptions.some(([id]) => id === filters.assignee)) {
    assigneeOptions.push([filters.assignee, "Another user"]);
  }
  const siteOptions: Option[] = [["", "All sites"], ...sites.map((s): Option => [s.id, s.name])];
  const stateOptions: Option[] = [["", "Any state"], ...TASK_STATES.map((s): Option => [s, stateLabel(s)])];

  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter tasks" },
    select("sort", "Order", filters.sort, [
      ["series", "Series order"],
      ["uncertainty", "Most uncertain first"],
    ]),
    select("state", "State", filters.state, stateOptions),
    select("site", "Site", filters.site, siteOptions),
    select("assignee", "Assignee", filters.assignee, assigneeOptions),
    h("label", {}, "Acquired from", h("input", { type: "date", name: "from", value: filters.from })),
    h("label", {}, "to", h("input", { type: "date", name: "to", value: filters.to })),
    h("button", { type: "reset", class: "link" }, "Clear filters"),
  );
  const summary = h("p", { class: "summary muted" });
  const list = h("div", { class: "task-list" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  page.append(h("h1", {}, "Tasks"), toolbar, status, form, summary, list, pager);

  let rows: HTMLTableRowElement[] = [];
  let highlighted = -1;
  let generation = 0;

  const highlight = (index: number): void => {
    rows[highlighted]?.classList.remove("highlighted");
    rows[highlighted]?.removeAttribute("aria-selected");
    highlighted = Math.max(0, Math.min(rows.length - 1, index));
    const row = rows[highlighted];
    if (!row) return;
    row.classList.add("highlighted");
    row.setAttribute("aria-selected", "true");
    row.scrollIntoView({ block: "nearest" });
  };

  const apply = (): void => {
    // replaceState, not navigate: the list reloads in place (focus stays in the filters), and a reload of
    // the page still finds the filters in the URL.
    const search = filterQuery(filters);
    history.replaceState(history.state, "", `#/projects/${projectId}/tasks${search ? `?${search}` : ""}`);
    void load();
  };

  const load = async (): Promise<void> => {
    const mine = ++generation;
    list.setAttribute("aria-busy", "true");
    let result: { items: Task[]; total: number };
    try {
      result = await fetchTasks(projectId, filters);
    } catch (error) {
      if (mine !== generation) return;
      list.replaceChildren(errorBox(error instanceof Error ? error.message : String(error)));
      list.removeAttribute("aria-busy");
      markView("tasks");
      return;
    }
    if (mine !== generation) return;
    const { items, total } = result;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (filters.page > pages && total > 0) {
      // A stale page number (the list shrank): show the last page instead of an empty one.
      filters.page = pages;
      apply();
      return;
    }
    rows = items.map((task) => taskRow(projectId, task, role));
    highlighted = -1;
    rows.forEach((row, i) => row.addEventListener("click", () => highlight(i)));
    summary.textContent = total ? `${items.length} of ${total} tasks` : "";
    if (items.length === 0) {
      list.replaceChildren(emptyMessage(hasFilters(filters), role, () => form.reset()));
    } else {
      list.replaceChildren(
        h(
          "table",
          { class: "data tasks" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["", "Site", "#", "Acquired", "File", "State", "Assignees", "Uncertainty", "Comments", ""].map((title) =>
                h("th", { scope: "col", class: ["#", "Uncertainty", "Comments"].includes(title) ? "num" : null }, title),
              ),
            ),
          ),
          h("tbody", {}, rows),
        ),
        h("p", { class: "hint muted" }, "Keys: j / k move, Enter opens."),
      );
    }
    showPager(pager, filters.page, pages, (to) => {
      filters.page = to;
      apply();
    });
    list.removeAttribute("aria-busy");
    markView("tasks");
  };

  form.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement || target instanceof HTMLSelectElement)) return;
    const name = target.name as keyof Filters;
    if (name === "sort") filters.sort = target.value === "uncertainty" ? "uncertainty" : "series";
    else if (name === "state") filters.state = target.value as TaskState | "";
    else if (name === "site" || name === "assignee") filters[name] = target.value;
    else if (name === "from" || name === "to") {
      filters[name] = ISO_DATE.test(target.value) ? target.value : "";
    }
    filters.page = 1;
    apply();
  });
  form.addEventListener("reset", (event) => {
    // The form's own reset would restore the values it was built with (the old filters): clear them.
    event.preventDefault();
    // The order is not a filter: it stays.
    for (const control of Array.from(form.elements)) {
      if (control instanceof HTMLInputElement || control instanceof HTMLSelectElement) {
        if (control.name !== "sort") control.value = "";
      }
    }
    Object.assign(filters, { state: "", site: "", assignee: "", from: "", to: "", page: 1 });
    apply();
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  const onKey = (event: KeyboardEvent): void => {
    if (!list.isConnected) {
      document.removeEventListener("keydown", onKey);
      return;
    }
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typingIn(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      highlight(highlighted < 0 ? 0 : highlighted + (event.key === "j" ? 1 : -1));
    } else if (event.key === "Enter" && highlighted >= 0) {
      // Enter on a focused link or button already does its own thing.
      if (event.target instanceof HTMLElement && event.target.closest("a, button")) return;
      const path = rows[highlighted]?.dataset["href"];
      if (path) {
        event.preventDefault();
        navigate(path);
      }
    }
  };
  document.addEventListener("keydown", onKey);

  await load();
  return () => document.removeEventListener("keydown", onKey);
}

function emptyMessage(filtered: boolean, role: string | null, clearFilters: () => void): HTMLElement {
  if (filtered) {
    return h(
      "div",
      { class: "empty" },
      h("p", {}, "No tasks match these filters."),
      h("button", { type: "button", class: "link", onclick: clearFilters }, "Clear filters"),
    );
  }
  return h(
    "div",
    { class: "empty" },
    h("p", {}, "This project has no tasks yet."),
    h(
      "p",
      { class: "muted" },
      role === "admin"
        ? "Upload images to the project: each processed image becomes a task."
        : "Tasks appear once a project admin uploads images.",
    ),
  );
}
