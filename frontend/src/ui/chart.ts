// A small SVG line chart with no dependencies: a dashboard needs one chart, not a charting library.
// Dates are placed and labelled in UTC, as the API's dates (acquired_on) carry no time zone.

const SVG_NS = "http://www.w3.org/2000/svg";
const DAY = 86_400_000;

export interface ChartPoint {
  x: number | Date;
  y: number;
  /** Tooltip text; by default "series\nx: y". */
  title?: string;
}

export interface ChartSeries {
  name: string;
  colour: string;
  points: ChartPoint[];
  /** Drawn dashed (a second kind of series, e.g. a model's predictions beside people's labels). */
  dashed?: boolean;
}

export interface LineChartOptions {
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Tooltip texts (tick labels keep their own compact forms). */
  formatX?: (x: number | Date) => string;
  formatY?: (y: number) => string;
}

type SvgAttrs = Record<string, string | number>;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: SvgAttrs = {},
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const tick = (value: number): string => compact.format(value);

export function isoDate(value: number | Date): string {
  return new Date(value).toISOString().slice(0, 10);
}

function defaultFormatX(x: number | Date): string {
  return x instanceof Date ? isoDate(x) : x.toLocaleString("en");
}

function defaultFormatY(y: number): string {
  return y.toLocaleString("en", { maximumFractionDigits: 2 });
}

/** 1, 2 or 5 times a power of ten, near `raw`: ticks people can read at a glance. */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function numberTicks(min: number, max: number, target: number, integer: boolean): number[] {
  let step = niceStep((max - min) / target);
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  // The epsilon keeps the last tick when floating point lands a hair past max.
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

interface TimeTicks {
  ticks: number[];
  format: (t: number) => string;
}

function timeTicks(min: number, max: number, target: number): TimeTicks {
  const span = max - min;
  for (const days of [1, 2, 7, 14]) {
    if (span / (days * DAY) <= target) {
      const step = days * DAY;
      const ticks: number[] = [];
      for (let t = Math.ceil(min / step) * step; t <= max; t += step) ticks.push(t);
      return { ticks, format: isoDate };
    }
  }
  const months = span / (30.44 * DAY);
  const monthStep = [1, 2, 3, 6].find((m) => months / m <= target);
  if (monthStep !== undefined) {
    return {
      ticks: calendarTicks(min, max, monthStep, false),
      format: (t) =>
        new Date(t).toLocaleDateString("en", { month: "short", year: "numeric", timeZone: "UTC" }),
    };
  }
  const years = months / 12;
  const yearStep = Math.max(1, niceStep(years / target));
  return {
    ticks: calendarTicks(min, max, yearStep, true),
    format: (t) => String(new Date(t).getUTCFullYear()),
  };
}

/** Starts of months (or years) that are multiples of `step`, between min and max. */
function calendarTicks(min: number, max: number, step: number, inYears: boolean): number[] {
  const start = new Date(min);
  const unit = inYears ? 12 : 1;
  let month = start.getUTCFullYear() * 12 + (inYears ? 0 : start.getUTCMonth());
  if (Date.UTC(Math.floor(month / 12), month % 12, 1) < min) month += unit;
  const stepMonths = step * unit;
  month = Math.ceil(month / stepMonths) * stepMonths;
  const ticks: number[] = [];
  for (; ; month += stepMonths) {
    const t = Date.UTC(Math.floor(month / 12), month % 12, 1);
    if (t > max) break;
    ticks.push(t);
  }
  return ticks;
}

function xValue(x: number | Date): number {
  return x instanceof Date ? x.getTime() : x;
}

/** A line chart of several series (x: numbers or dates), with axes, ticks, a legend and a tooltip on each
 * point. */
export function lineChart(options: LineChartOptions): SVGSVGElement {
  const width = options.width ?? 640;
  const plotHeight = options.height ?? 320;
  const formatX = options.formatX ?? defaultFormatX;
  const formatY = options.formatY ?? defaultFormatY;
  const margin = { top: 12, right: 20, bottom: 48, left: 68 };

  const points = options.series.flatMap((s) => s.points);
  const isTime = points.some((p) => p.x instanceof Date);
  const xs = points.map((p) => xValue(p.x));
  let xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMin === xMax) {
    // One x value: widen the domain so the point sits in the middle, not on the axis.
    const pad = isTime ? DAY : 1;
    xMin -= pad;
    xMax += pad;
  }
  const yTop = Math.max(0, ...points.map((p) => p.y));
  const yStep = niceStep((yTop || 1) / 5);
  const yMax = Math.ceil((yTop || 1) / yStep) * yStep;

  const plotW = width - margin.left - margin.right;
  const plotH = plotHeight - margin.top - margin.bottom;
  const sx = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number): number => margin.top + plotH - (y / yMax) * plotH;

  const legend = legendRows(options.series, plotW);
  const height = plotHeight + legend.height;
  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `${options.yLabel} by ${options.xLabel}`,
  });
  root.append(svg("title", {}, `${options.yLabel} by ${options.xLabel}`));

  const grid = svg("g", { class: "grid" });
  const yAxis = svg("g", { class: "axis axis-y" });
  for (const t of numberTicks(0, yMax, 5, false)) {
    const y = sy(t);
    grid.append(svg("line", { x1: margin.left, x2: margin.left + plotW, y1: y, y2: y }));
    yAxis.append(
      svg("text", { x: margin.left - 6, y, "text-anchor": "end", "dominant-baseline": "central" }, tick(t)),
    );
  }
  const xAxis = svg("g", { class: "axis axis-x" });
  const integerX = !isTime && xs.every((x) => Number.isInteger(x));
  const xTicks: TimeTicks = isTime
    ? timeTicks(xMin, xMax, 6)
    : { ticks: numberTicks(xMin, xMax, 6, integerX), format: defaultFormatX };
  const baseline = margin.top + plotH;
  for (const t of xTicks.ticks) {
    const x = sx(t);
    xAxis.append(
      svg("line", { x1: x, x2: x, y1: baseline, y2: baseline + 4 }),
      svg("text", { x, y: baseline + 16, "text-anchor": "middle" }, xTicks.format(t)),
    );
  }
  xAxis.append(
    svg("line", { class: "domain", x1: margin.left, x2: margin.left + plotW, y1: baseline, y2: baseline }),
    svg(
      "text",
      { class: "label", x: margin.left + plotW / 2, y: baseline + 38, "text-anchor": "middle" },
      options.xLabel,
    ),
  );
  yAxis.append(
    svg("line", { class: "domain", x1: margin.left, x2: margin.left, y1: margin.top, y2: baseline }),
    svg(
      "text",
      {
        class: "label",
        transform: `translate(14 ${margin.top + plotH / 2}) rotate(-90)`,
        "text-anchor": "middle",
      },
      options.yLabel,
    ),
  );
  root.append(grid, xAxis, yAxis);

  for (const series of options.series) {
    const sorted = [...series.points].sort((a, b) => xValue(a.x) - xValue(b.x));
    const group = svg("g", { class: "series", "data-series": series.name });
    const line: SvgAttrs = {
      points: sorted.map((p) => `${sx(xValue(p.x))},${sy(p.y)}`).join(" "),
      fill: "none",
      stroke: series.colour,
      "stroke-width": 2,
    };
    if (series.dashed) line["stroke-dasharray"] = "6 4";
    group.append(svg("polyline", line));
    for (const p of sorted) {
      const tip = p.title ?? `${series.name}\n${formatX(p.x)}: ${formatY(p.y)}`;
      group.append(
        svg("circle", { cx: sx(xValue(p.x)), cy: sy(p.y), r: 4, fill: series.colour }, svg("title", {}, tip)),
      );
    }
    root.append(group);
  }

  const legendGroup = svg("g", { class: "legend", transform: `translate(${margin.left} ${plotHeight})` });
  for (const item of legend.items) {
    legendGroup.append(
      svg(
        "g",
        { transform: `translate(${item.x} ${item.y})` },
        svg("title", {}, item.series.name),
        item.series.dashed
          ? svg("line", { x1: 0, x2: 12, y1: -4, y2: -4, stroke: item.series.colour, "stroke-width": 2,
              "stroke-dasharray": "4 2" })
          : svg("rect", { width: 12, height: 12, y: -10, rx: 2, fill: item.series.colour }),
        svg("text", { x: 16, y: 0 }, item.series.name),
      ),
    );
  }
  root.append(legendGroup);
  return root;
}

interface LegendLayout {
  items: { series: ChartSeries; x: number; y: number }[];
  height: number;
}

/** Legend entries in rows under the plot; text widths are estimated, as nothing is measured before the
 * chart is on the page. */
function legendRows(series: ChartSeries[], maxWidth: number): LegendLayout {
  const rowHeight = 20;
  const items: LegendLayout["items"] = [];
  let x = 0;
  let y = 0;
  for (const s of series) {
    const itemWidth = 16 + s.name.length * 7 + 20;
    if (x > 0 && x + itemWidth > maxWidth) {
      x = 0;
      y += rowHeight;
    }
    items.push({ series: s, x, y: y + 12 });
    x += itemWidth;
  }
  return { items, height: series.length ? y + rowHeight + 4 : 0 };
}

/** A sparkline: one series' shape in a small box, no axes (the overview's row per site). */
export function sparkline(values: number[], options: { width?: number; height?: number; label: string }): SVGSVGElement {
  const width = options.width ?? 96;
  const height = options.height ?? 24;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img" });
  root.append(svg("title", {}, options.label));
  if (values.length === 0) return root;
  const min = Math.min(0, ...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const x = (i: number): number => (values.length === 1 ? width / 2 : 2 + (i * (width - 4)) / (values.length - 1));
  const y = (v: number): number => height - 2 - ((v - min) / span) * (height - 4);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  root.append(svg("polyline", { points, fill: "none", stroke: "#2271b1", "stroke-width": 1.5 }));
  const last = values.length - 1;
  root.append(svg("circle", { cx: x(last).toFixed(1), cy: y(values[last] ?? 0).toFixed(1), r: 2, fill: "#2271b1" }));
  return root;
}
