import { signOut, me } from "../api/session";
import { h } from "../ui/dom";
import { navigate } from "../router";

export interface Crumb {
  label: string;
  href?: string;
}

/** The top bar: where you are (breadcrumbs), who you are, sign out. Returns the page's content area. */
export function shell(root: HTMLElement, crumbs: Crumb[], extra: Node[] = []): HTMLElement {
  const user = me();
  const signOutButton = h("button", { class: "link", "data-action": "sign-out" }, "Sign out");
  signOutButton.addEventListener("click", () => {
    void signOut().then(() => navigate("/sign-in"));
  });
  const trail = h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" });
  crumbs.forEach((crumb, i) => {
    if (i > 0) trail.append(h("span", { class: "sep" }, "›"));
    trail.append(crumb.href ? h("a", { href: `#${crumb.href}` }, crumb.label) : h("span", {}, crumb.label));
  });
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "#/" }, "MineLabel"),
    trail,
    h("div", { class: "spacer" }),
    ...extra,
    user ? h("span", { class: "who", title: user.user.email }, user.user.email) : null,
    user ? signOutButton : null,
  );
  const content = h("div", { class: "page" });
  root.replaceChildren(header, content);
  return content;
}

export function errorBox(message: string): HTMLElement {
  return h("p", { class: "error", role: "alert" }, message);
}
