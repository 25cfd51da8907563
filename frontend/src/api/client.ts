// The typed API client: paths and bodies come from the backend's OpenAPI schema (schema.d.ts, made by
// scripts/api-client.sh), so a renamed field is a type error here, not a bug in the browser.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["MeRead"];
export type Project = Schemas["ProjectRead"];
export type Task = Schemas["TaskRead"];
export type Observation = Schemas["ObservationRead"];
/** An annotation as the task's list sends it (warnings without text); the whole reads are a superset. */
export type Annotation = Schemas["AnnotationOpenRead"];
export type RegionFeature = Schemas["RegionFeature"];
export type RegionProperties = Schemas["RegionProperties"];
export type RegionIn = Schemas["RegionIn"];
/** A topology warning as the client uses it: by `code` (the whole reads also carry a `message`). */
export type TopologyWarning = Schemas["TopologyWarningCodeRead"];
export type GeometryChange = Schemas["GeometryChangeRead"];
export type GeometryProblem = Schemas["GeometryProblem"];
export type Comment = Schemas["CommentRead"];
export type TaskState = Schemas["TaskState"];
export type Job = Schemas["JobRead"];
export type JobState = Schemas["JobState"];

const CSRF_COOKIE = "minelabel_csrf";

/** The CSRF token of the browser session: sent back in a header with every change. */
export function csrfToken(): string | null {
  const match = document.cookie.split("; ").find((part) => part.startsWith(`${CSRF_COOKIE}=`));
  return match ? decodeURIComponent(match.slice(CSRF_COOKIE.length + 1)) : null;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      const token = csrfToken();
      if (token) request.headers.set("X-CSRF-Token", token);
    }
    return request;
  },
};

/** Listeners told when the server says the session is gone (401), so the app can ask to sign in again. */
const signedOutListeners = new Set<() => void>();
export function onSignedOut(listener: () => void): void {
  signedOutListeners.add(listener);
}

const unauthorised: Middleware = {
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith("/api/auth/sign-in")) {
      signedOutListeners.forEach((listener) => listener());
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: "same-origin" });
api.use(csrf, unauthorised);

/** Which region a refused save is about, from the error body's own fields (never from its message). */
export interface RefusedRegion {
  /** The region's id, where it has one. */
  id: string | null;
  /** Its position in the request's `regions` (null for single-region routes). */
  index: number | null;
  /** Why its geometry was refused (region_geometry_invalid only). */
  reason: GeometryProblem | null;
}

/** The API's error answers: `{"detail": "...", "code": "..."}` (with `region_id`, `region_index` and `reason`
 * when a region was refused, see Schemas["RegionErrorRead"]), or FastAPI's list of validation errors. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly body: unknown,
    readonly region: RefusedRegion | null = null,
  ) {
    super(message);
  }
}

/** The refused region of an error body, if it names one. */
function refusedRegion(body: unknown): RefusedRegion | null {
  if (!body || typeof body !== "object" || !("region_id" in body || "region_index" in body)) return null;
  const fields = body as Partial<Schemas["RegionErrorRead"]>;
  return {
    id: typeof fields.region_id === "string" ? fields.region_id : null,
    index: typeof fields.region_index === "number" ? fields.region_index : null,
    reason: typeof fields.reason === "string" ? fields.reason : null,
  };
}

export function errorMessage(body: unknown, status: number): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item: { loc?: unknown[]; msg?: string }) => {
          const where = (item.loc ?? []).filter((part) => part !== "body").join(".");
          return where ? `${where}: ${item.msg ?? ""}` : (item.msg ?? "");
        })
        .join("; ");
    }
  }
  if (status === 0) return "The server cannot be reached. Check your connection.";
  return `The server answered ${status}.`;
}

/** The ApiError for an answer that is not 2xx, with the server's own message and code. */
export function apiError(error: unknown, response: Response): ApiError {
  const code =
    error && typeof error === "object" && "code" in error ? String((error as { code: unknown }).code) : null;
  return new ApiError(response.status, errorMessage(error, response.status), code, error, refusedRegion(error));
}

/** Unwraps an openapi-fetch answer: the data, or an ApiError with the server's own message. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) throw apiError(error, response);
  return data as T;
}
