import type { FeatureLike } from "ol/Feature";
import { Circle, Fill, Stroke, Style, Text } from "ol/style";
import MultiPoint from "ol/geom/MultiPoint";
import Polygon from "ol/geom/Polygon";
import MultiPolygon from "ol/geom/MultiPolygon";
import type { Project } from "../api/client";

export interface LayerSettings {
  hidden: Set<string>;
  opacity: number;
}

/** CSS colour -> rgba with the given alpha (via a canvas, so any CSS colour name works). */
const colourCache = new Map<string, [number, number, number]>();
function rgb(colour: string): [number, number, number] {
  const cached = colourCache.get(colour);
  if (cached) return cached;
  const ctx = document.createElement("canvas").getContext("2d");
  let value: [number, number, number] = [255, 0, 255];
  if (ctx) {
    ctx.fillStyle = colour;
    const hex = ctx.fillStyle;
    if (/^#[0-9a-f]{6}$/i.test(hex)) {
      value = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
    }
  }
  colourCache.set(colour, value);
  return value;
}

export function rgba(colour: string, alpha: number): string {
  const [r, g, b] = rgb(colour);
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

function vertices(feature: FeatureLike): MultiPoint | undefined {
  const geometry = feature.getGeometry();
  if (geometry instanceof Polygon) return new MultiPoint(geometry.getCoordinates().flat());
  if (geometry instanceof MultiPolygon) return new MultiPoint(geometry.getCoordinates().flat(2));
  return undefined;
}

export function classColour(project: Project, label: string): string {
  return project.label_classes.find((c) => c.name === label)?.color ?? "#ff00ff";
}

/** Zoomed out beyond this many image pixels per screen pixel, outlines are 1 px wide (docs/adr/
 * 2026-12-03-thin-outlines-when-zoomed-out.md): a 1 px stroke is a hairline that software canvases draw ~7
 * times faster than a 2 px one, and there regions are a few pixels across, where thick outlines blur them. */
export const THIN_OUTLINES_FROM = 1;

/** Regions of the annotation: class colour, fill opacity from the layer panel, warnings in dashed orange.
 * Styles are made once per class, opacity, warning state and outline width: thousands of regions share a
 * few objects. */
export function regionStyle(project: Project, settings: LayerSettings, warned: Set<string>) {
  const cache = new Map<string, Style[]>();
  return (feature: FeatureLike, resolution: number): Style[] | undefined => {
    const label = String(feature.get("label"));
    if (settings.hidden.has(label)) return undefined;
    const warning = warned.has(String(feature.getId()));
    const thin = resolution > THIN_OUTLINES_FROM;
    const key = `${label}|${settings.opacity}|${warning}|${thin}`;
    let styles = cache.get(key);
    if (!styles) {
      const colour = classColour(project, label);
      styles = [
        new Style({
          fill: new Fill({ color: rgba(colour, settings.opacity) }),
          stroke: new Stroke({ color: colour, width: thin ? 1 : 2 }),
        }),
      ];
      if (warning) {
        const stroke = thin
          ? new Stroke({ color: "#ff8c00", width: 1, lineDash: [4, 3] })
          : new Stroke({ color: "#ff8c00", width: 4, lineDash: [8, 6] });
        styles.push(new Style({ stroke }));
      }
      cache.set(key, styles);
    }
    return styles;
  };
}

export function selectedStyle(project: Project, settings: LayerSettings) {
  return (feature: FeatureLike): Style[] => {
    const colour = classColour(project, String(feature.get("label")));
    const vertexStyle = new Style({
      image: new Circle({ radius: 4, fill: new Fill({ color: "#fff" }), stroke: new Stroke({ color: colour, width: 2 }) }),
      geometry: vertices,
    });
    return [
      new Style({
        fill: new Fill({ color: rgba(colour, Math.min(settings.opacity + 0.15, 0.9)) }),
        stroke: new Stroke({ color: "#ffffff", width: 4 }),
      }),
      new Style({ stroke: new Stroke({ color: colour, width: 2 }) }),
      vertexStyle,
    ];
  };
}

export function predictionStyle(project: Project) {
  return (feature: FeatureLike): Style => {
    const colour = classColour(project, String(feature.get("label")));
    const score = feature.get("score") as number | null;
    return new Style({
      fill: new Fill({ color: rgba(colour, 0.12) }),
      stroke: new Stroke({ color: colour, width: 2, lineDash: [6, 4] }),
      text: new Text({
        text: score === null || score === undefined ? "" : `${Math.round(score * 100)}%`,
        fill: new Fill({ color: "#fff" }),
        stroke: new Stroke({ color: "#000", width: 3 }),
        overflow: true,
      }),
    });
  };
}

/** One colour per annotator of a task (the others' regions, dashed, while reviewing several annotations):
 * away from the warnings' orange, the conflict layer's cyan and the comment pins' yellow. */
const ANNOTATOR_COLOURS = ["#ff4fd8", "#76ff03", "#b388ff", "#ffffff", "#2979ff", "#ff1744"];

export function annotatorColour(index: number): string {
  return ANNOTATOR_COLOURS[index % ANNOTATOR_COLOURS.length] ?? "#ffffff";
}

/** The other annotations of a task: outlines dashed in their annotator's colour (the feature's `colour`),
 * a faint fill; classes hidden in the palette stay hidden. One style per colour. */
export function othersStyle(settings: LayerSettings) {
  const cache = new Map<string, Style>();
  return (feature: FeatureLike): Style | undefined => {
    if (settings.hidden.has(String(feature.get("label")))) return undefined;
    const colour = String(feature.get("colour"));
    let style = cache.get(colour);
    if (!style) {
      style = new Style({
        fill: new Fill({ color: rgba(colour, 0.06) }),
        stroke: new Stroke({ color: colour, width: 2, lineDash: [10, 6] }),
      });
      cache.set(colour, style);
    }
    return style;
  };
}

export function theirsStyle(): Style {
  return new Style({
    fill: new Fill({ color: "rgba(255,255,255,0.08)" }),
    stroke: new Stroke({ color: "#00e5ff", width: 2, lineDash: [2, 4] }),
  });
}

export function commentPinStyle(feature: FeatureLike): Style {
  const resolved = Boolean(feature.get("resolved"));
  return new Style({
    image: new Circle({
      radius: 9,
      fill: new Fill({ color: resolved ? "#8a8f98" : "#ffd400" }),
      stroke: new Stroke({ color: "#000", width: 1.5 }),
    }),
    text: new Text({ text: String(feature.get("number") ?? ""), fill: new Fill({ color: "#000" }), font: "bold 11px sans-serif" }),
    stroke: new Stroke({ color: resolved ? "#8a8f98" : "#ffd400", width: 3, lineDash: [4, 4] }),
  });
}

