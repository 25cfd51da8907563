import type { RegionDraft } from "./regions";

/** Undo/redo as whole snapshots of the regions: simple, and exactly what autosave sends anyway. */
export class History {
  private past: RegionDraft[][] = [];
  private future: RegionDraft[][] = [];

  constructor(private present: RegionDraft[]) {}

  get current(): RegionDraft[] {
    return this.present;
  }

  push(next: RegionDraft[]): void {
    this.past.push(this.present);
    if (this.past.length > 500) this.past.shift();
    this.present = next;
    this.future = [];
  }

  /** Replaces the state without an undo step (loading, or taking the server's version). */
  reset(next: RegionDraft[]): void {
    this.present = next;
    this.past = [];
    this.future = [];
  }

  /** Replaces the present state in place (the server normalised it): no undo step, the future is kept. */
  replacePresent(next: RegionDraft[]): void {
    this.present = next;
  }

  undo(): RegionDraft[] | null {
    const previous = this.past.pop();
    if (!previous) return null;
    this.future.push(this.present);
    this.present = previous;
    return previous;
  }

  redo(): RegionDraft[] | null {
    const next = this.future.pop();
    if (!next) return null;
    this.past.push(this.present);
    this.present = next;
    return next;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }
}
