import { api, call } from "../api/client";
import { me } from "../api/session";
import { h, markView } from "../ui/dom";
import { errorBox, shell } from "./shell";

export async function renderProjects(root: HTMLElement): Promise<void> {
  const page = shell(root, [{ label: "Projects" }]);
  try {
    const projects = await call(api.GET("/api/projects"));
    const user = me();
    page.append(
      h("h1", {}, "Your projects"),
      projects.length === 0
        ? h(
            "p",
            { class: "empty" },
            user?.user.is_admin
              ? "No projects yet. Create one with `minelabel create-project` or POST /api/projects."
              : "You are not a member of any project yet. Ask a project admin to add you.",
          )
        : h(
            "ul",
            { class: "project-list" },
            projects.map((project) =>
              h(
                "li",
                { class: "card project", "data-project-id": project.id },
                h("h2", {}, h("a", { href: `#/projects/${project.id}` }, project.name)),
                project.description ? h("p", { class: "muted" }, project.description) : null,
                h(
                  "p",
                  { class: "classes" },
                  project.label_classes.map((cls) =>
                    h("span", { class: "chip", style: `--chip: ${cls.color}` }, cls.name),
                  ),
                ),
                h(
                  "p",
                  { class: "actions" },
                  project.my_role ? h("span", { class: "role" }, project.my_role) : null,
                  h("a", { class: "button", href: `#/projects/${project.id}/tasks` }, "Tasks"),
                  h("a", { class: "button", href: `#/projects/${project.id}` }, "Dashboard"),
                ),
              ),
            ),
          ),
    );
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
  }
  markView("projects");
}
