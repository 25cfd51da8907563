// A progress bar for anything long (jobs now; SAM embeddings and training next): one element with
// role=progressbar whose value and text (percent, time left, what it does) screen readers read as one.
import "./progress.css";
import { h } from "./dom";

export interface ProgressState {
  /** Fraction done, 0 to 1; null while unknown (a job still waiting for a worker). */
  fraction: number | null;
  /** What it is doing now ("converting 0854_000.tif (1 of 3)"). */
  message?: string | null | undefined;
  /** Seconds left, where known. */
  etaS?: number | null | undefined;
}

export interface ProgressBar {
  readonly element: HTMLElement;
  /** Shows a new state in place (the bar slides instead of being redrawn). */
  update(state: ProgressState): void;
}

/** "under 1 s", "45 s", "1 min 20 s", "2 h 5 min": a duration as people say it, to the second under an
 * hour. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  if (total < 1) return "under 1 s";
  if (total < 60) return `${total} s`;
  if (total < 3600) {
    const minutes = Math.floor(total / 60);
    const rest = total % 60;
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const inMinutes = Math.round(total / 60);
  const hours = Math.floor(inMinutes / 60);
  const minutes = inMinutes % 60;
  return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

/** Whole percent done, never 100 before the end (a bar at 100% that keeps running looks stuck). */
export function percent(fraction: number): number {
  const clamped = Math.min(1, Math.max(0, fraction));
  return clamped < 1 ? Math.min(99, Math.floor(clamped * 100)) : 100;
}

/** "42% · 1 min 20 s left · converting 0854_000.tif (1 of 3)"; the parts that are unknown are left out. */
export function progressText(state: ProgressState): string {
  const parts: string[] = [];
  if (state.fraction !== null) parts.push(`${percent(state.fraction)}%`);
  if (state.etaS !== null && state.etaS !== undefined && state.fraction !== null && state.fraction < 1) {
    parts.push(`${formatDuration(state.etaS)} left`);
  }
  if (state.message) parts.push(state.message);
  return parts.join(" · ");
}

/**
 * A progress bar labelled `label` (what it measures, for screen readers: "Export progress").
 *
 * Args:
 *   label: the accessible name (aria-label).
 *   state: what to show first; `update` shows the next.
 * Returns: the element and its update function.
 */
export function progressBar(label: string, state: ProgressState = { fraction: null }): ProgressBar {
  const fill = h("div", { class: "progress-fill" });
  const text = h("span", { class: "progress-text" });
  const element = h(
    "div",
    { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100 },
    h("div", { class: "progress-track" }, fill),
    text,
  );
  const update = (next: ProgressState): void => {
    const words = progressText(next);
    if (next.fraction === null) {
      // Indeterminate: no value at all (ARIA), and a bar that says "waiting" rather than "0%".
      element.removeAttribute("aria-valuenow");
      element.classList.add("indeterminate");
      fill.style.width = "";
    } else {
      const value = percent(next.fraction);
      element.setAttribute("aria-valuenow", String(value));
      element.classList.remove("indeterminate");
      fill.style.width = `${Math.min(1, Math.max(0, next.fraction)) * 100}%`;
    }
    if (words) element.setAttribute("aria-valuetext", words);
    else element.removeAttribute("aria-valuetext");
    text.textContent = words;
  };
  update(state);
  return { element, update };
}
