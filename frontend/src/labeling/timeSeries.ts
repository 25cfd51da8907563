// The site's other observations: previous/next one keypress away, a swipe view that shows the previous
// observation left of a draggable divider (same map, so position and zoom are always in sync), and copying
// the previous observation's approved regions as a start.
import type Map from "ol/Map";
import type TileLayer from "ol/layer/Tile";
import type XYZ from "ol/source/XYZ";
import type RenderEvent from "ol/render/Event";
import { getRenderPixel } from "ol/render";
import { api, call, type Observation } from "../api/client";
import { h } from "../ui/dom";
import { pixelProjection, pixelTileLayer } from "./pixelMap";
import { draftFromServer, newId, type RegionDraft } from "./regions";

export interface Series {
  previous: Observation | null;
  next: Observation | null;
  position: number;
  total: number;
}

export async function loadSeries(observation: Observation): Promise<Series> {
  const list = await call(
    api.GET("/api/projects/{project_id}/observations", {
      params: { path: { project_id: observation.project_id }, query: { site_id: observation.site_id, limit: 1000 } },
    }),
  );
  const items = [...list.items].sort((a, b) => a.index - b.index);
  const at = items.findIndex((o) => o.id === observation.id);
  const ready = (o: Observation | undefined): Observation | null => (o && o.status === "ready" ? o : null);
  return { previous: ready(items[at - 1]), next: ready(items[at + 1]), position: at + 1, total: items.length };
}

/** The previous observation's approved regions, with new ids, ready to add to this annotation; each names
 * the region it was copied from as its ancestor (region lineage). */
export async function approvedRegionsOf(observation: Observation): Promise<RegionDraft[]> {
  const collection = await call(
    api.GET("/api/observations/{observation_id}/approved-regions", {
      params: { path: { observation_id: observation.id } },
    }),
  );
  return collection.features
    .map(draftFromServer)
    .filter((draft): draft is RegionDraft => draft !== null)
    .map((draft) => ({ ...draft, id: newId(), source: draft.source, accepted_from: null, ancestor_id: draft.id }));
}

export class Swipe {
  private layer: TileLayer<XYZ> | null = null;
  private fraction = 0.5;
  readonly control: HTMLElement;
  private readonly slider: HTMLInputElement;

  constructor(
    private readonly map: Map,
    private readonly current: Observation,
  ) {
    this.slider = h("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "Swipe position", class: "swipe-slider" });
    this.slider.addEventListener("input", () => {
      this.fraction = Number(this.slider.value) / 100;
      this.divider.style.left = `${this.fraction * 100}%`;
      this.map.render();
    });
    this.control = h("div", { class: "swipe-control", hidden: true }, this.slider);
    this.divider = h("div", { class: "swipe-divider", hidden: true });
    map.getTargetElement()?.parentElement?.append(this.divider);
  }

  private readonly divider: HTMLElement;

  get active(): boolean {
    return this.layer !== null;
  }

  show(previous: Observation): void {
    this.hide();
    const layer = pixelTileLayer(previous, this.map.getView().getProjection() ?? pixelProjection(this.current));
    layer.setZIndex(1);
    layer.on("prerender", (event) => this.clip(event));
    layer.on("postrender", (event) => (event.context as CanvasRenderingContext2D | undefined)?.restore());
    // A test hook: the previous observation's tiles are drawn.
    this.map.once("rendercomplete", () => (document.documentElement.dataset["swipe"] = "ready"));
    this.map.getLayers().insertAt(1, layer);
    this.layer = layer;
    this.control.hidden = false;
    this.divider.hidden = false;
    this.divider.style.left = `${this.fraction * 100}%`;
    this.control.dataset["label"] = `${previous.acquired_on ?? `#${previous.index}`} ◀ ▶ ${this.current.acquired_on ?? `#${this.current.index}`}`;
  }

  hide(): void {
    if (this.layer) this.map.removeLayer(this.layer);
    this.layer = null;
    this.control.hidden = true;
    this.divider.hidden = true;
    delete document.documentElement.dataset["swipe"];
  }

  private clip(event: RenderEvent): void {
    const ctx = event.context as CanvasRenderingContext2D | undefined;
    const size = this.map.getSize();
    if (!ctx || !size) return;
    const width = size[0]! * this.fraction;
    const tl = getRenderPixel(event, [0, 0]);
    const tr = getRenderPixel(event, [width, 0]);
    const bl = getRenderPixel(event, [0, size[1]!]);
    const br = getRenderPixel(event, [width, size[1]!]);
    ctx.save();
    ctx.beginPath();
    ctx.moveTo(tl[0]!, tl[1]!);
    ctx.lineTo(bl[0]!, bl[1]!);
    ctx.lineTo(br[0]!, br[1]!);
    ctx.lineTo(tr[0]!, tr[1]!);
    ctx.closePath();
    ctx.clip();
  }
}
