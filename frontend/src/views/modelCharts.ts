// The Models page's charts, drawn with the hand-written SVG chart (ui/chart.ts; why not a library:
// docs/adr/2026-12-02-model-charts-in-the-svg-chart.md): test IoU per version, and one version's training
// curve (loss, validation IoU per class), drawn again at each poll while it trains.
import type { Project, Schemas } from "../api/client";
import { h } from "../ui/dom";
import { lineChart, type ChartSeries } from "../ui/chart";

type Version = Schemas["ModelVersionRead"];

const MEAN_COLOUR = "#1d2327";
const SPARE_COLOURS = ["#2271b1", "#d63638", "#00a32a", "#dba617", "#8c5fc8", "#e26f00", "#008a8a"];

export const score = (value: number | null | undefined): string =>
  value === null || value === undefined ? "–" : value.toFixed(3);

/** A colour per class: the labeling config's, else one of a few that stay apart ("mining" when binary). */
export function classColours(project: Project, labels: string[]): Map<string, string> {
  const configured = new Map(project.label_classes.map((c) => [c.name, c.color]));
  let spare = 0;
  return new Map(
    labels.map((label) => [label, configured.get(label) ?? SPARE_COLOURS[spare++ % SPARE_COLOURS.length] ?? MEAN_COLOUR]),
  );
}

/** Every class any of the versions was trained on, in the order they first appear. */
export function allClasses(versions: Version[]): string[] {
  return [...new Set(versions.flatMap((v) => v.classes))];
}

/** Test mean IoU (and each class's) per version number; versions without test metrics are left out. */
export function iouChart(project: Project, versions: Version[]): HTMLElement {
  const scored = [...versions]
    .filter((v) => v.metrics?.test?.mean_iou !== null && v.metrics?.test?.mean_iou !== undefined)
    .sort((a, b) => a.number - b.number);
  const holder = h("div", { class: "chart-holder", "data-testid": "iou-chart", "data-versions": scored.length });
  if (scored.length === 0) {
    holder.append(h("p", { class: "empty" }, "No version has test scores yet: they appear once a training ends."));
    return holder;
  }
  const labels = allClasses(scored);
  const colours = classColours(project, labels);
  const point = (v: Version, value: number, what: string): { x: number; y: number; title: string } => ({
    x: v.number,
    y: value,
    title: `${v.name}${v.is_champion ? " (champion)" : ""}\n${what}: ${score(value)}`,
  });
  const series: ChartSeries[] = [
    {
      name: "mean",
      colour: MEAN_COLOUR,
      points: scored.map((v) => point(v, v.metrics?.test?.mean_iou ?? 0, "mean test IoU")),
    },
    ...labels.map((label) => ({
      name: label,
      colour: colours.get(label) ?? MEAN_COLOUR,
      points: scored.flatMap((v) => {
        const iou = v.metrics?.test?.per_class.find((c) => c.label === label)?.iou;
        return iou === null || iou === undefined ? [] : [point(v, iou, `${label} test IoU`)];
      }),
    })),
  ];
  holder.append(
    lineChart({
      series,
      xLabel: "Model version",
      yLabel: "Test IoU",
      width: 560,
      height: 280,
      formatX: (x) => `version ${String(x)}`,
      formatY: score,
    }),
  );
  return holder;
}

/** One version's training curve: the losses, and the validation IoU per class, by epoch. */
export function curveCharts(project: Project, version: Version): HTMLElement {
  const curve = version.curve;
  const holder = h("div", {
    class: "curve-charts",
    "data-testid": "curve",
    "data-version": version.name,
    "data-epochs": curve.length,
    "data-state": version.state,
  });
  if (curve.length === 0) {
    const waiting =
      version.state === "queued" || version.state === "training"
        ? "The first epoch is on its way: the curve starts when it ends."
        : "This version has no training curve.";
    holder.append(h("p", { class: "empty" }, waiting));
    return holder;
  }
  const losses: ChartSeries[] = [
    { name: "training loss", colour: "#2271b1", points: curve.map((p) => ({ x: p.epoch, y: p.loss })) },
    {
      name: "validation loss",
      colour: "#e26f00",
      points: curve.flatMap((p) => (p.val_loss === null || p.val_loss === undefined ? [] : [{ x: p.epoch, y: p.val_loss }])),
    },
  ].filter((s) => s.points.length > 0);
  const labels = [...new Set([...version.classes, ...curve.flatMap((p) => Object.keys(p.val_iou ?? {}))])];
  const colours = classColours(project, labels);
  const ious: ChartSeries[] = labels
    .map((label) => ({
      name: label,
      colour: colours.get(label) ?? MEAN_COLOUR,
      points: curve.flatMap((p) => {
        const iou = p.val_iou?.[label];
        return iou === null || iou === undefined ? [] : [{ x: p.epoch, y: iou }];
      }),
    }))
    .filter((s) => s.points.length > 0);
  const options = { xLabel: "Epoch", width: 460, height: 240, formatX: (x: number | Date) => `epoch ${String(x)}` };
  holder.append(
    h("figure", { "data-chart": "loss" }, lineChart({ ...options, series: losses, yLabel: "Loss" })),
    ious.length
      ? h("figure", { "data-chart": "val-iou" }, lineChart({ ...options, series: ious, yLabel: "Validation IoU", formatY: score }))
      : h("p", { class: "muted" }, "No validation IoU: the dataset has no validation sites."),
  );
  return holder;
}
