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

/**
 * A modal form: `submit` runs on OK (Enter in a field, or the button) and resolves with what to hand back,
 * or undefined to keep the dialog open (it has shown its errors on the form). Esc and Cancel resolve null.
 *
 * Args:
 *   title: the heading.
 *   body: the form's fields and texts.
 *   submitLabel: the OK button's text ("Train now").
 *   submit: sends the form; the button is busy while it runs.
 */
export function formDialog<T>(
  title: string,
  body: Node[],
  submitLabel: string,
  submit: () => Promise<T | undefined>,
): Promise<T | null> {
  return new Promise((resolve) => {
    const ok = h("button", { type: "submit", class: "primary", "data-action": "submit" }, submitLabel);
    const cancel = h("button", { type: "button", "data-cancel": "1" }, "Cancel");
    const form = h(
      "form",
      { method: "dialog", novalidate: true },
      h("h2", { id: "form-dialog-title" }, title),
      h("div", { class: "modal-body" }, ...body),
      h("div", { class: "modal-actions" }, ok, cancel),
    );
    const dialog = h("dialog", { class: "modal form-modal", "aria-labelledby": "form-dialog-title" }, form);
    // Keyboard users land back on what opened the dialog (the Train now button), not at the page's top.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    let busy = false;
    const finish = (value: T | null): void => {
      dialog.close();
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      ok.setAttribute("aria-busy", "true");
      void submit()
        .then((value) => {
          if (value !== undefined) finish(value);
        })
        .finally(() => {
          busy = false;
          ok.removeAttribute("aria-busy");
        });
    });
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(null);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    form.querySelector<HTMLElement>("input, select, textarea")?.focus();
  });
}
