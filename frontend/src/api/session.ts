import { api, call, csrfToken, type Me } from "./client";

/** Who is signed in (null: nobody); loaded once at start and after sign-in. */
let current: Me | null = null;

export function me(): Me | null {
  return current;
}

export async function loadMe(): Promise<Me | null> {
  // Sign-in sets the CSRF cookie beside the session cookie (which scripts cannot read): without it there
  // is no session to ask about, and asking would only log a 401 in the console.
  if (csrfToken() === null) {
    current = null;
    return null;
  }
  const { data, response } = await api.GET("/api/auth/me");
  current = response.ok && data ? data : null;
  return current;
}

export async function signIn(email: string, password: string): Promise<Me> {
  current = await call(api.POST("/api/auth/sign-in", { body: { email, password } }));
  return current;
}

export async function signUp(email: string, password: string): Promise<Me> {
  current = await call(api.POST("/api/auth/sign-up", { body: { email, password } }));
  return current;
}

export async function signOut(): Promise<void> {
  await api.POST("/api/auth/sign-out");
  current = null;
}

export function roleIn(projectId: string): string | null {
  if (!current) return null;
  const membership = current.memberships.find((m) => m.project_id === projectId);
  if (membership) return membership.role;
  return current.user.is_admin ? "admin" : null;
}
