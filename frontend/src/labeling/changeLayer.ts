// What changed on this site since an earlier date, over this observation: gained area in green, lost area
// in red and dashed. The server computes it (on the ground in the site's UTM zone when both images are
// georeferenced) and answers the polygons in this image's pixels (crs=pixel). `G` shows or hides it.
import Feature from "ol/Feature";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import type Map from "ol/Map";
import { Fill, Stroke, Style } from "ol/style";
import { api, call, type Observation, type Project } from "../api/client";
import { toast } from "../ui/toast";
import { isArea, toMapGeometry } from "./geometry";

const STYLES: Record<string, Style> = {
  gained: new Style({ fill: new Fill({ color: "rgba(0, 163, 42, 0.35)" }), stroke: new Stroke({ color: "#00a32a", width: 2 }) }),
  lost: new Style({
    fill: new Fill({ color: "rgba(214, 54, 56, 0.2)" }),
    stroke: new Stroke({ color: "#d63638", width: 2, lineDash: [6, 4] }),
  }),
};

export class ChangeLayer {
  readonly source = new VectorSource<Feature>();
  readonly layer: VectorLayer<VectorSource<Feature>>;
  private loaded = false;

  /** `before`: the earlier observation to compare with (null: the date before this one that counts);
   * `allTasks`: count tasks not approved yet (staff, or a project that shares drafts). */
  constructor(
    map: Map,
    private readonly project: Project,
    private readonly observation: Observation,
    private readonly before: string | null,
    private readonly allTasks: boolean,
  ) {
    this.layer = new VectorLayer({
      source: this.source,
      style: (feature) => STYLES[String(feature.get("change"))],
      properties: { name: "change" },
      visible: false,
      zIndex: 6,
    });
    map.getLayers().insertAt(1, this.layer);
    document.documentElement.dataset["changeLayer"] = "off";
  }

  async toggle(): Promise<void> {
    if (this.layer.getVisible()) {
      this.layer.setVisible(false);
      document.documentElement.dataset["changeLayer"] = "off";
      return;
    }
    try {
      if (!this.loaded) await this.load();
    } catch (error) {
      toast((error as Error).message, "error");
      return;
    }
    this.layer.setVisible(true);
    document.documentElement.dataset["changeLayer"] = `on:${this.source.getFeatures().length}`;
  }

  private async load(): Promise<void> {
    const change = await call(
      api.GET("/api/projects/{project_id}/sites/{site_id}/change", {
        params: {
          path: { project_id: this.project.id, site_id: this.observation.site_id },
          query: {
            after: this.observation.id,
            ...(this.before ? { before: this.before } : {}),
            crs: "pixel",
            include: this.allTasks ? "all" : "approved",
          },
        },
      }),
    );
    this.source.clear();
    for (const item of change.features) {
      if (!isArea(item.geometry)) continue;
      const feature = new Feature({ geometry: toMapGeometry(item.geometry) });
      feature.setProperties({ ...item.properties });
      this.source.addFeature(feature);
    }
    this.loaded = true;
    const since = change.before.acquired_on ?? "the earlier date";
    const unit = change.unit === "ha" ? "ha" : "px";
    const sum = (kind: string): number =>
      change.features.filter((f) => f.properties.change === kind).reduce((total, f) => total + f.properties.area, 0);
    const digits = unit === "ha" ? 2 : 0;
    toast(`Since ${since}: +${sum("gained").toFixed(digits)} ${unit} gained (green), −${sum("lost").toFixed(digits)} ${unit} lost (red).`);
  }
}
