import { ApiError, type Me } from "../api/client";
import { signIn, signUp } from "../api/session";
import { uiConfig } from "../api/uiConfig";
import { h, markView } from "../ui/dom";
import { navigate, type Params, type Query } from "../router";

type Send = (email: string, password: string) => Promise<Me>;

function signInForm(onDone: () => void, title: string, note?: string, send: Send = signIn, id = "sign-in"): HTMLFormElement {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: send === signIn ? "current-password" : "new-password",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, send === signIn ? "Sign in" : "Create the account");
  const form = h(
    "form",
    { id, class: "card narrow" },
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
    send(email.value.trim(), password.value)
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
  const done = (): void => navigate(next && next.startsWith("/") ? next : "/");
  const form = signInForm(done, "Sign in to MineLabel");
  const page = h(
    "div",
    { class: "sign-in-page" },
    h("p", { class: "brand big" }, "MineLabel"),
    h("p", { class: "tagline" }, "Reviewed labels and trained models from satellite imagery of mines."),
    form,
  );
  root.replaceChildren(page);
  // Where the server allows sign-up, the same form can create an account instead.
  const config = await uiConfig().catch(() => null);
  if (config?.allow_signup) {
    const toggle = h("button", { class: "link", type: "button", "data-action": "sign-up" }, "No account? Create one");
    toggle.addEventListener("click", () => {
      const signUpForm = signInForm(done, "Create your MineLabel account", "Project admins add you to their projects.", signUp, "sign-up");
      page.replaceChild(signUpForm, page.querySelector("form")!);
      toggle.remove();
    });
    page.append(h("p", {}, toggle));
  }
  markView("sign-in");
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
