/** Fetches /api/health and renders one row per component (the placeholder page until the map client). */

export interface ComponentHealth {
  ok: boolean;
  detail: string;
  latency_ms: number;
}

export interface HealthReport {
  status: "ok" | "degraded" | "down";
  version: string;
  database: ComponentHealth;
  postgis: ComponentHealth;
  redis: ComponentHealth;
  workers: ComponentHealth & { workers: string[]; queues: Record<string, string[]> };
}

const COMPONENTS = ["database", "postgis", "redis", "workers"] as const;

export async function fetchHealth(): Promise<HealthReport> {
  const response = await fetch("/api/health", { headers: { Accept: "application/json" } });
  if (!response.ok && response.status !== 503) {
    throw new Error(`GET /api/health answered ${response.status}`);
  }
  return (await response.json()) as HealthReport;
}

/** Renders with textContent only, so nothing from the server can run as markup. */
export function renderHealth(table: HTMLTableElement, summary: HTMLElement, report: HealthReport): void {
  const body = table.tBodies[0] ?? table.createTBody();
  body.replaceChildren();
  for (const name of COMPONENTS) {
    const component = report[name];
    const row = body.insertRow();
    row.dataset["component"] = name;
    row.dataset["ok"] = String(component.ok);
    row.insertCell().textContent = name;
    row.insertCell().textContent = component.ok ? "ok" : "failing";
    row.insertCell().textContent = component.detail;
  }
  summary.textContent = `MineLabel ${report.version}: ${report.status}`;
  table.dataset["ready"] = "true";
}
