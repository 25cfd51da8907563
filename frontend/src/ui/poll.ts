// Refreshing a view while something on the server is still moving (a job queued or running): one request
// at a time, slower while the tab is hidden, backing off after errors, stopped when nothing moves or the
// view goes away.

export interface PollerOptions {
  /** Loads once; resolves true while there is still something to watch (keep polling), false when not.
   * A rejection counts as an error: the next try waits twice as long (up to `maxBackoffMs`). */
  tick: () => Promise<boolean>;
  /** Pause between loads while watching. */
  intervalMs: number;
  /** Pause while the page is hidden (another tab): nobody looks, so the server is spared. */
  hiddenMs?: number;
  /** The longest pause after errors in a row. */
  maxBackoffMs?: number;
}

export interface Poller {
  /** Load now (or right after the load in flight), and keep polling while `tick` says so. */
  poke(): void;
  /** Whether a next load is scheduled or in flight. */
  readonly active: boolean;
  /** Stops for good: no more loads, listeners removed. */
  dispose(): void;
}

/**
 * A poller that runs `tick` now and again while it resolves true.
 *
 * Args:
 *   options: see PollerOptions.
 * Returns: the poller; nothing runs until the first `poke()`.
 */
export function poller(options: PollerOptions): Poller {
  const hiddenMs = options.hiddenMs ?? Math.max(options.intervalMs, 15_000);
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  let timer: number | null = null;
  let inFlight = false;
  let again = false; // poked while a load was in flight: load once more right after it
  let watching = false; // the last load said there is something to watch (or failed)
  let failures = 0;
  let disposed = false;

  const schedule = (delay: number): void => {
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      timer = null;
      void run();
    }, delay);
  };

  const nextDelay = (): number => {
    if (failures > 0) return Math.min(maxBackoffMs, options.intervalMs * 2 ** failures);
    return document.hidden ? hiddenMs : options.intervalMs;
  };

  const run = async (): Promise<void> => {
    if (disposed) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    again = false;
    try {
      watching = await options.tick();
      failures = 0;
    } catch {
      // The view shows its own error; here it only means "try again, later each time".
      watching = true;
      failures += 1;
    } finally {
      inFlight = false;
    }
    if (disposed) return;
    if (again) void run();
    else if (watching) schedule(nextDelay());
  };

  // Back in view: load now rather than at the end of the long hidden pause.
  const onVisible = (): void => {
    if (!document.hidden && watching && timer !== null && failures === 0) schedule(0);
  };
  document.addEventListener("visibilitychange", onVisible);

  return {
    poke(): void {
      if (disposed) return;
      if (timer !== null) {
        window.clearTimeout(timer);
        timer = null;
      }
      failures = 0;
      void run();
    },
    get active(): boolean {
      return !disposed && (inFlight || timer !== null);
    },
    dispose(): void {
      disposed = true;
      if (timer !== null) window.clearTimeout(timer);
      timer = null;
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
