// Hash routes (#/projects/ID/tasks ...): the backend serves one index.html, so any URL can be reloaded.

export type Params = Record<string, string>;
export type Query = URLSearchParams;
export type ViewRender = (root: HTMLElement, params: Params, query: Query) => Promise<void | (() => void)>;

interface Route {
  pattern: RegExp;
  keys: string[];
  render: ViewRender;
}

const routes: Route[] = [];
let cleanup: (() => void) | null = null;
let renderCount = 0;

export function route(path: string, render: ViewRender): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
      keys.push(key);
      return "([^/]+)";
    })}$`,
  );
  routes.push({ pattern, keys, render });
}

export function navigate(path: string): void {
  if (window.location.hash === `#${path}`) void render();
  else window.location.hash = path;
}

export function currentPath(): string {
  return window.location.hash.replace(/^#/, "") || "/";
}

/** Runs before a route renders; returns a path to go to instead (the sign-in page), or null. */
let guard: (path: string) => string | null = () => null;
export function setGuard(check: (path: string) => string | null): void {
  guard = check;
}

export async function render(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) return;
  const [pathPart, queryPart] = currentPath().split("?");
  const path = pathPart ?? "/";
  const redirect = guard(path);
  if (redirect && redirect !== path) {
    navigate(redirect);
    return;
  }
  const count = ++renderCount;
  cleanup?.();
  cleanup = null;
  for (const candidate of routes) {
    const match = candidate.pattern.exec(path);
    if (!match) continue;
    const params: Params = {};
    candidate.keys.forEach((key, i) => (params[key] = decodeURIComponent(match[i + 1] ?? "")));
    root.replaceChildren();
    const done = await candidate.render(root, params, new URLSearchParams(queryPart ?? ""));
    if (count === renderCount && typeof done === "function") cleanup = done;
    else if (typeof done === "function") done();
    return;
  }
  navigate("/");
}

export function startRouter(): void {
  window.addEventListener("hashchange", () => void render());
  void render();
}
