// The project's model settings (project admins): one class or each, automatic rounds, the order of next
// task, and the promotion rule. Saved with PATCH /api/projects/{id}; the server's messages go next to the
// field they name.
import { api, call, type Project } from "../api/client";
import { h } from "../ui/dom";
import { toast } from "../ui/toast";
import { checkboxField, checked, inputField, selectField, showErrors, clearErrors, type Field } from "../ui/form";

/**
 * The settings form, filled with the project's values.
 *
 * Args:
 *   project: the project as read.
 *   onSaved: told the project as saved.
 * Returns: the card holding the form.
 */
export function modelSettingsCard(project: Project, onSaved: (project: Project) => void): HTMLElement {
  const fields = {
    binary: checkboxField(
      "binary_mining",
      "Train one “mining” class",
      project.binary_mining,
      "The union of the project's classes, instead of a channel per class.",
    ),
    autoEvery: inputField("auto_train_every", "Train again after this many new approvals", project.auto_train_every, {
      type: "number",
      placeholder: "off",
      hint: "Empty: only Train now starts a round.",
    }),
    order: selectField(
      "next_task_order",
      "Next task hands out",
      project.next_task_order,
      [
        ["series", "Each site's series in order"],
        ["uncertainty", "What the champion is least sure of first"],
      ],
    ),
    margin: inputField("promotion_margin", "Promotion margin (mean test IoU)", project.promotion_margin, {
      type: "number",
      step: "any",
      hint: "A new version becomes champion when it beats the champion's mean test IoU by this much…",
    }),
    maxDrop: inputField("promotion_max_drop", "Largest drop of a class", project.promotion_max_drop, {
      type: "number",
      step: "any",
      hint: "…and no class's test IoU falls by more than this.",
    }),
  };
  const all: Field[] = Object.values(fields);
  const general = h("p", { class: "error form-error", role: "alert", tabindex: -1 });
  const save = h("button", { type: "submit", class: "primary", "data-action": "save-settings" }, "Save settings");
  const form = h(
    "form",
    { class: "model-settings", novalidate: true, "aria-label": "Model settings" },
    h("div", { class: "field-grid" }, all.map((f) => f.element)),
    general,
    h("div", { class: "toolbar" }, save),
  );

  /** A required number, or null after saying so next to the field (empty would mean "unchanged"). */
  const required = (field: Field): number | null => {
    const value = Number(field.input.value);
    if (field.input.value.trim() !== "" && Number.isFinite(value)) return value;
    field.error.textContent = "Enter a number.";
    field.element.classList.add("invalid");
    return null;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (save.getAttribute("aria-busy") === "true") return;
    clearErrors(all, general);
    const margin = required(fields.margin);
    const maxDrop = required(fields.maxDrop);
    const everyText = fields.autoEvery.input.value.trim();
    // Empty turns automatic rounds off (null); text that is no number would reach the server as null too,
    // so it is refused here rather than read as "off".
    const every = everyText === "" ? null : Number(everyText);
    if (every !== null && !Number.isFinite(every)) {
      fields.autoEvery.error.textContent = "Enter a whole number, or leave it empty.";
      fields.autoEvery.element.classList.add("invalid");
    }
    const firstBad = all.find((f) => f.element.classList.contains("invalid"));
    if (firstBad || margin === null || maxDrop === null) {
      firstBad?.input.focus();
      return;
    }
    save.setAttribute("aria-busy", "true");
    void call(
      api.PATCH("/api/projects/{project_id}", {
        params: { path: { project_id: project.id } },
        body: {
          binary_mining: checked(fields.binary),
          auto_train_every: every,
          next_task_order: fields.order.input.value as Project["next_task_order"],
          promotion_margin: margin,
          promotion_max_drop: maxDrop,
        },
      }),
    )
      .then((saved) => {
        toast("Model settings saved", "success");
        form.dataset["saved"] = String(Number(form.dataset["saved"] ?? "0") + 1);
        onSaved(saved);
      })
      .catch((error: unknown) => {
        (showErrors(all, general, error)?.input ?? general).focus();
      })
      .finally(() => save.removeAttribute("aria-busy"));
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "model-settings-title" },
    h("h2", { id: "model-settings-title" }, "Model settings"),
    form,
  );
}
