// Export from the dashboard (reviewers and admins): a format and which tasks, then a plain download link
// to the streaming export route, so even a large project downloads without holding it in the page.
import { api, call } from "../api/client";
import { h } from "../ui/dom";

const STATES: [string, string][] = [
  ["approved", "Approved tasks"],
  ["submitted", "Submitted tasks"],
  ["all", "All tasks"],
];

export async function exportCard(projectId: string): Promise<HTMLElement> {
  const exports = (await call(api.GET("/api/export-formats")))["exports"] ?? {};
  const format = h("select", { name: "export-format", "aria-label": "Format" });
  for (const [name, info] of Object.entries(exports)) {
    format.append(h("option", { value: name, title: info["description"] ?? "" }, name));
  }
  const which = h("select", { name: "export-state", "aria-label": "Which tasks" });
  for (const [value, text] of STATES) which.append(h("option", { value }, text));
  const download = h("a", { class: "button primary", "data-action": "export", download: "" }, "Download");
  const describe = h("p", { class: "muted small" });
  const update = (): void => {
    const query = new URLSearchParams({ format: format.value });
    if (which.value === "all") query.set("all_states", "true");
    else query.set("state", which.value);
    download.setAttribute("href", `/api/projects/${projectId}/export?${query.toString()}`);
    describe.textContent = exports[format.value]?.["description"] ?? "";
  };
  format.addEventListener("change", update);
  which.addEventListener("change", update);
  update();
  return h(
    "section",
    { class: "card export-card" },
    h("h2", {}, "Export labels"),
    h("div", { class: "toolbar" }, format, which, download),
    describe,
  );
}
