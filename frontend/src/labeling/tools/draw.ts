// Draw (D) and Hole (H): click vertices; double-click or Enter finishes, Esc cancels, Backspace removes the
// last vertex. A hole is drawn inside the selected polygon and cut into it.
import Draw from "ol/interaction/Draw";
import Polygon from "ol/geom/Polygon";
import { primaryAction } from "ol/events/condition";
import type { Tool, ToolHost } from "./tool";

type Kind = "draw" | "hole";

const TEXT: Record<Kind, { label: string; key: string; keys: string[]; help: string }> = {
  draw: { label: "Draw", key: "D", keys: ["d", "n"], help: "Draw polygons: click vertices" },
  hole: { label: "Hole", key: "H", keys: ["h"], help: "Draw a hole in the selected polygon" },
};

export class DrawTool implements Tool {
  readonly label: string;
  readonly key: string;
  readonly keys: string[];
  readonly help: string;
  readonly edits = true;
  private draw: Draw | null = null;

  constructor(
    private readonly host: ToolHost,
    readonly id: Kind,
  ) {
    ({ label: this.label, key: this.key, keys: this.keys, help: this.help } = TEXT[id]);
  }

  refuse(): string | null {
    if (this.id === "hole" && !this.host.selected()) return "Select the polygon to cut a hole in first.";
    return null;
  }

  activate(): void {
    // A hole keeps the selection (Select stays on) so that the ring is cut into it.
    this.host.setInteractions(this.id === "hole", false);
    this.draw = this.makeDraw();
    this.host.map.addInteraction(this.draw);
    this.host.refreshSnap();
  }

  deactivate(): void {
    if (this.draw) this.host.map.removeInteraction(this.draw);
    this.draw = null;
  }

  dispose(): void {
    this.deactivate();
  }

  finish(): void {
    this.draw?.finishDrawing();
  }

  private get sketching(): boolean {
    return this.draw !== null && document.documentElement.dataset["drawVertices"] !== undefined;
  }

  abort(): boolean {
    if (!this.sketching) return false;
    this.draw?.abortDrawing();
    return true;
  }

  removeLast(): boolean {
    if (!this.sketching) return false;
    this.draw?.removeLastPoint();
    return true;
  }

  private makeDraw(): Draw {
    const draw = new Draw({
      type: "Polygon",
      condition: primaryAction,
      stopClick: true,
      style: undefined,
    });
    draw.on("drawstart", (event) => {
      const geometry = event.feature.getGeometry();
      const report = (): void => {
        const ring = geometry instanceof Polygon ? (geometry.getCoordinates()[0] ?? []) : [];
        // The sketch ring is [placed..., pointer, closing]; right after the first click it is [first, pointer].
        const placed = ring.length <= 2 ? Math.min(ring.length, 1) : ring.length - 2;
        document.documentElement.dataset["drawVertices"] = String(placed);
      };
      geometry?.on("change", report);
      report();
    });
    draw.on("drawabort", () => delete document.documentElement.dataset["drawVertices"]);
    draw.on("drawend", (event) => {
      delete document.documentElement.dataset["drawVertices"];
      const geometry = event.feature.getGeometry();
      if (!(geometry instanceof Polygon)) return;
      const ring = geometry.getCoordinates()[0] ?? [];
      const distinct = new Set(ring.map((c) => c.join(","))).size;
      if (distinct < 3) {
        this.host.message("A polygon needs at least three vertices.");
        return;
      }
      if (this.id === "draw") {
        this.host.addPolygon(geometry);
        return;
      }
      const done = this.host.cutHole(ring);
      queueMicrotask(() => {
        if (done) this.host.commit();
        else this.host.message("A hole must lie wholly inside the selected polygon.");
        this.host.setMode("select");
      });
    });
    return draw;
  }
}
