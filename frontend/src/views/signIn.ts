import { ApiError } from "../api/client";
import { signIn } from "../api/session";
import { h, markView } from "../ui/dom";
import { navigate, type Params, type Query } from "../router";

function signInForm(onDone: () => void, title: string, note?: string): HTMLFormElement {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { id: "sign-in", class: "card narrow" },
    h("h1", {}, title),
    note ? h("p", { class: "muted" }, note) : null,
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    error,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    signIn(email.value.trim(), password.value)
      .then(onDone)
      .catch((reason: unknown) => {
        error.textContent =
          reason instanceof ApiError ? reason.message : "The server cannot be reached. Try again.";
        password.select();
      })
      .finally(() => (submit.disabled = false));
  });
  queueMicrotask(() => email.focus());
  return form;
}

export async function renderSignIn(root: HTMLElement, _: Params, query: Query): Promise<void> {
  const next = query.get("next");
  const form = signInForm(() => navigate(next && next.startsWith("/") ? next : "/"), "Sign in to MineLabel");
  root.replaceChildren(
    h(
      "div",
      { class: "sign-in-page" },
      h("p", { class: "brand big" }, "MineLabel"),
      h("p", { class: "tagline" }, "Reviewed labels and trained models from satellite imagery of mines."),
      form,
    ),
  );
  markView("sign-in");
  return Promise.resolve();
}

/** The session ended mid-work: sign in again in a dialog over the screen; unsaved edits stay put. */
export function showSignInAgain(): void {
  if (document.getElementById("sign-in-again")) return;
  const dialog = h("dialog", { id: "sign-in-again", class: "modal" });
  dialog.append(
    signInForm(
      () => {
        dialog.close();
        dialog.remove();
        window.dispatchEvent(new Event("minelabel:signed-in"));
      },
      "Your session ended",
      "Sign in again to go on. Your edits are kept in this browser and will be saved.",
    ),
  );
  dialog.addEventListener("cancel", (event) => event.preventDefault());
  document.body.append(dialog);
  dialog.showModal();
}
