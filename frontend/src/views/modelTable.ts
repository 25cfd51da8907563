// The versions table of the Models page: each version's state, lineage, dataset, per-class test scores
// beside those of the champion it was measured against (the same test chips: `champion_test`), the
// promotion verdict, downloads, and Promote for candidates.
import type { Schemas } from "../api/client";
import { compact, h } from "../ui/dom";
import { allClasses, score } from "./modelCharts";

type Version = Schemas["ModelVersionRead"];
type ClassScore = Schemas["ClassScore"];

/** What a version is now, in words: champion, candidate, or its training state. */
export function versionState(version: Version): string {
  if (version.is_champion) return "champion";
  return version.state === "trained" ? "candidate" : version.state;
}

export interface TableContext {
  /** May download checkpoints and ONNX models (staff). */
  mayDownload: boolean;
  /** May promote (project admins). */
  mayPromote: boolean;
  /** The version whose curve is shown. */
  shown: string | null;
  promote(version: Version): void;
  showCurve(version: Version): void;
}

const dateFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

function signed(delta: number): string {
  return `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(3)}`;
}

/** F1, precision and recall of a class (shown when asked for). */
function more(scoreOf: ClassScore | undefined): HTMLElement {
  return h(
    "span",
    { class: "more-metrics small muted" },
    `F1 ${score(scoreOf?.f1)} · P ${score(scoreOf?.precision)} · R ${score(scoreOf?.recall)}`,
  );
}

/** This version's test IoU of `label`, and beside it the champion's on the same test sites. */
function classCell(version: Version, label: string, parentName: string | null): HTMLElement {
  const mine = version.metrics?.test?.per_class.find((c) => c.label === label);
  const theirs = version.metrics?.champion_test?.per_class.find((c) => c.label === label);
  const cell = h("td", { class: "num metric", "data-class": label });
  if (!mine) {
    cell.append(h("span", { class: "muted" }, "–"));
    return cell;
  }
  cell.append(
    h("span", { class: "iou", "data-testid": "test-iou", "data-iou": mine.iou ?? "" }, score(mine.iou)),
    more(mine),
  );
  if (theirs) {
    const delta = mine.iou !== null && theirs.iou !== null ? mine.iou - theirs.iou : null;
    const who = parentName ?? "the champion";
    cell.append(
      h(
        "span",
        {
          class: `versus small ${delta === null ? "" : delta >= 0 ? "better" : "worse"}`,
          "data-testid": "champion-iou",
          "data-iou": theirs.iou ?? "",
          title: `${who} on the same test sites`,
        },
        `${who} ${score(theirs.iou)}${delta === null ? "" : ` (${signed(delta)})`}`,
      ),
      more(theirs),
    );
  }
  return cell;
}

function meanCell(version: Version): HTMLElement {
  const mine = version.metrics?.test?.mean_iou;
  const theirs = version.metrics?.champion_test?.mean_iou;
  return h(
    "td",
    { class: "num metric", "data-class": "mean" },
    h("span", { class: "iou", "data-iou": mine ?? "" }, score(mine)),
    theirs === null || theirs === undefined ? null : h("span", { class: "versus small" }, `vs ${score(theirs)}`),
  );
}

function verdictCell(version: Version): HTMLElement {
  if (version.error) return h("td", { class: "verdict" }, h("p", { class: "job-error" }, version.error));
  if (version.state === "queued" || version.state === "training") {
    const epochs = version.curve.length;
    const of = version.settings.epochs;
    return h("td", { class: "verdict muted" }, version.state === "queued" ? "waiting for a worker" : `epoch ${epochs} of ${of}`);
  }
  return h("td", { class: "verdict", "data-testid": "verdict" }, version.promotion ?? (version.state === "trained" ? "kept as a candidate" : ""));
}

function downloadsCell(version: Version, ctx: TableContext): HTMLElement {
  if (!ctx.mayDownload) return h("td", {});
  const link = (what: string, href: string, action: string): HTMLElement =>
    h("a", { class: "button small", href, download: "", "data-action": action, title: `Download ${version.name}'s ${what}` }, what);
  return h(
    "td",
    { class: "downloads" },
    ...compact([
      version.has_checkpoint ? link("Checkpoint", `/api/models/${version.id}/checkpoint`, "download-checkpoint") : null,
      version.has_onnx ? link("ONNX", `/api/models/${version.id}/model.onnx`, "download-onnx") : null,
    ]),
  );
}

function actionsCell(version: Version, ctx: TableContext): HTMLElement {
  const curve = h(
    "button",
    {
      type: "button",
      class: "small",
      "data-action": "show-curve",
      "aria-pressed": String(ctx.shown === version.id),
      title: `Show ${version.name}'s training curve`,
    },
    "Curve",
  );
  curve.addEventListener("click", () => ctx.showCurve(version));
  const promote =
    ctx.mayPromote && version.state === "trained" && !version.is_champion
      ? h("button", { type: "button", class: "small primary", "data-action": "promote", title: `Make ${version.name} the champion` }, "Promote")
      : null;
  promote?.addEventListener("click", () => ctx.promote(version));
  return h("td", { class: "actions" }, curve, promote);
}

/**
 * The versions table (newest first, as the API lists them).
 *
 * Args:
 *   versions: the project's versions.
 *   ctx: who may do what, and the actions.
 */
export function versionsTable(versions: Version[], ctx: TableContext): HTMLElement {
  const labels = allClasses(versions);
  const names = new Map(versions.map((v) => [v.id, v.name]));
  const headers = [
    "Version",
    "State",
    "Parent",
    "Dataset",
    "Created",
    ...labels.map((l) => `${l} test IoU`),
    "Mean",
    "Verdict",
    "Downloads",
    "",
  ];
  const rows = versions.map((v) => {
    const parent = v.parent_id ? (names.get(v.parent_id) ?? "an older version") : null;
    const state = versionState(v);
    return h(
      "tr",
      { "data-version-id": v.id, "data-name": v.name, "data-state": state, class: ctx.shown === v.id ? "shown" : null },
      h("th", { scope: "row" }, h("strong", {}, v.name), h("div", { class: "muted small" }, `${v.settings.encoder}, ${v.settings.epochs} epochs`)),
      h("td", {}, h("span", { class: `state model-${state}` }, state)),
      h("td", {}, parent ?? h("span", { class: "muted" }, "none")),
      h("td", {}, v.dataset_hash ? h("code", { title: v.dataset_hash, "data-testid": "dataset-hash" }, v.dataset_hash.slice(0, 12)) : h("span", { class: "muted" }, "–")),
      h("td", {}, h("time", { datetime: v.created_at, title: v.created_at }, dateFormat.format(new Date(v.created_at)))),
      ...labels.map((label) => classCell(v, label, parent)),
      meanCell(v),
      verdictCell(v),
      downloadsCell(v, ctx),
      actionsCell(v, ctx),
    );
  });
  return h(
    "table",
    { class: "data models" },
    h("thead", {}, h("tr", {}, headers.map((title, i) => h("th", { scope: "col", class: i >= 5 && i < 6 + labels.length ? "num" : null }, title)))),
    h("tbody", {}, rows),
  );
}
