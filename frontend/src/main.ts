import { fetchHealth, renderHealth } from "./health";
import "./style.css";

const table = document.querySelector<HTMLTableElement>("#health");
const summary = document.querySelector<HTMLElement>("#health-summary");

if (table && summary) {
  fetchHealth()
    .then((report) => renderHealth(table, summary, report))
    .catch((error: unknown) => {
      summary.textContent = `Could not reach the API: ${String(error)}`;
      table.dataset["ready"] = "error";
    });
}
