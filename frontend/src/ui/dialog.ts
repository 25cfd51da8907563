import { h } from "./dom";

export interface Choice<T> {
  label: string;
  value: T;
  primary?: boolean;
  hint?: string;
}

/** A modal with a message and buttons; resolves with the chosen value (Esc: the last choice). */
export function choose<T>(title: string, body: (Node | string)[], choices: Choice<T>[]): Promise<T> {
  return new Promise((resolve) => {
    const buttons = choices.map((choice) =>
      h(
        "button",
        { class: choice.primary ? "primary" : "", title: choice.hint ?? "", "data-choice": choice.label },
        choice.label,
      ),
    );
    const dialog = h(
      "dialog",
      { class: "modal", "aria-labelledby": "modal-title" },
      h("h2", { id: "modal-title" }, title),
      h("div", { class: "modal-body" }, ...body),
      h("div", { class: "modal-actions" }, ...buttons),
    );
    const finish = (value: T): void => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    buttons.forEach((button, i) => button.addEventListener("click", () => finish(choices[i]!.value)));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(choices[choices.length - 1]!.value);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    buttons.find((_, i) => choices[i]!.primary)?.focus();
  });
}

/** Asks for text (a comment, a rejection reason); resolves null when cancelled. */
export function askText(title: string, label: string, required = true): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h("textarea", { name: "text", rows: 4, "aria-label": label, required });
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      h("label", {}, label, input),
      error,
      h(
        "div",
        { class: "modal-actions" },
        h("button", { type: "submit", class: "primary", value: "ok" }, "OK"),
        h("button", { type: "button", value: "cancel", "data-cancel": "1" }, "Cancel"),
      ),
    );
    const dialog = h("dialog", { class: "modal" }, form);
    const finish = (value: string | null): void => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (required && !text) {
        error.textContent = "Please write something.";
        return;
      }
      finish(text);
    });
    form.querySelector("[data-cancel]")?.addEventListener("click", () => finish(null));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(null);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    input.focus();
  });
}
