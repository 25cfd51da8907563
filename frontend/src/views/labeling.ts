// The labeling view: the observation's tiles in its pixel grid and the regions being edited, with the side
// panel, the bars over the map, comments, predictions, the time series and the task's actions around them.
// An approved task opens read-only with its ground truth; review of a task with several annotations shows
// them all (src/labeling/annotations.ts). This module wires the parts (src/labeling/) together; `?` lists
// the keys.
import { Attribution } from "ol/control";
import { api, call, type Annotation, type Schemas, type TopologyWarning } from "../api/client";
import { me } from "../api/session";
import { h, markView } from "../ui/dom";
import { toast } from "../ui/toast";
import { navigate, type Params, type Query } from "../router";
import { AnnotationSwitcher } from "../labeling/annotations";
import { MapBars } from "../labeling/bars";
import { basemapLayer } from "../labeling/basemap";
import { uiConfig } from "../api/uiConfig";
import { Comments } from "../labeling/comments";
import { ConflictResolver } from "../labeling/conflicts";
import { Editor } from "../labeling/editor";
import { isArea, toMapGeometry } from "../labeling/geometry";
import { bindKeys } from "../labeling/keyboard";
import { CommentTool } from "../labeling/tools/comment";
import { SamTool } from "../labeling/tools/sam";
import { SamBatch } from "../labeling/prelabel";
import { SidePanel } from "../labeling/panels";
import { createPixelMap, imageExtent } from "../labeling/pixelMap";
import { Predictions } from "../labeling/predictions";
import { Saver, type SaveResult } from "../labeling/saver";
import type { LayerSettings } from "../labeling/styles";
import { copyPrevious, decideTask, reopenTask, submitTask } from "../labeling/taskActions";
import {
  approvedBanner, approvedRegions, drafts, editPermission, groundTruthOf, loadTask, type TaskData,
} from "../labeling/taskData";
import { labelPath, sitePath } from "../paths";
import { Swipe } from "../labeling/timeSeries";
import { ChangeLayer } from "../labeling/changeLayer";
import type { Workbench } from "../labeling/workbench";
import { errorBox, shell } from "./shell";
import "./labeling.css";

const HEARTBEAT_MS = 4 * 60_000;
const TEST_HOOKS = [
  "mapReady", "saveState", "savedVersion", "regions", "selected", "mode", "drawVertices", "basemap", "warnings", "swipe",
  "annotation", "annotations", "overlay", "agreement", "readOnly", "changeLayer", "sam", "samDecoder", "samPreview",
  "samPrompts", "ghosts", "liveRegions",
];

/** What the panel says about each topology rule (the panel already shows which region). */
const WARNING_TEXT: Record<Schemas["TopologyRule"], string> = {
  outside_outline: "Lies (partly) outside every Outline; mine parts should lie inside the mine grounds.",
  pit_overlaps_infrastructure: "Overlaps an Infrastructure region; pits and infrastructure are apart.",
};

export async function renderLabeling(root: HTMLElement, params: Params, query: Query): Promise<() => void> {
  const projectId = params["projectId"] ?? "";
  const review = query.get("mode") === "review";
  const loading = shell(root, [{ label: "Projects", href: "/" }, { label: "…" }]);
  let data: TaskData;
  // Performance marks (labeling:*) of the opening's steps, for the browser benchmark and profiles.
  performance.mark("labeling:start");
  // The basemap's settings come while the task loads (asked for after it, they were a round trip more).
  const uiLoading = uiConfig().catch(() => null);
  try {
    data = await loadTask(projectId, params["observationId"] ?? "", review);
  } catch (error) {
    loading.append(errorBox(error instanceof Error ? error.message : String(error)));
    markView("labeling-error");
    return () => undefined;
  }
  performance.mark("labeling:data");
  const user = me()!;
  const { project, observation, series } = data;
  const role = project.my_role ?? (user.user.is_admin ? "admin" : null);
  const mine = data.task.assignments.find((a) => a.user_id === user.user.id);
  let task = data.task;
  // An annotator back on a rejected task starts the rework at once (the reviewer's comments show).
  if (!review && task.state === "rejected" && mine) {
    try {
      task = await call(api.POST("/api/observations/{observation_id}/task/rework", { params: { path: { observation_id: observation.id } } }));
      toast("The task came back from review: fix what the comments say, then submit again.");
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  const content = shell(root, [
    { label: "Projects", href: "/" },
    { label: project.name, href: `/projects/${project.id}` },
    { label: "Tasks", href: `/projects/${project.id}/tasks` },
    { label: `Site ${observation.site_name}`, href: sitePath(project.id, observation.site_id) },
    { label: observation.acquired_on ?? `#${observation.index}` },
  ]);
  content.classList.add("labeling-page");
  // The map's element is in the page before the map is made, so OpenLayers knows its size.
  const mapTarget = h("div", { class: "map", id: "map", tabindex: 0, "aria-label": "Image and regions" });
  const mapArea = h("div", { class: "map-area" }, mapTarget);
  const layout = h("div", { class: "labeling" }, mapArea);
  content.append(layout);

  const { map, base } = createPixelMap(mapTarget, observation);
  const ui = await uiLoading;
  const basemap = ui ? basemapLayer(observation, map.getView().getProjection(), ui) : null;
  if (basemap) {
    map.getLayers().insertAt(0, basemap);
    map.addControl(new Attribution({ collapsible: false }));
  }
  // The image's tiles are asked for now, by a drawing of the map without the regions: the first drawing with
  // them is one long task (~0.4 s with 10,000 regions), and the tiles would be asked for only after it.
  map.renderSync();
  const settings: LayerSettings = { hidden: new Set(), opacity: 0.35 };
  const warnings = new Map<string, string[]>();

  // The parts call each other through late-bound references: they are made one after the other below.
  let panel: SidePanel | undefined;
  let bars: MapBars | undefined;
  let predictions: Predictions | undefined;
  let conflicts: ConflictResolver | undefined;
  const editor = new Editor(map, project, settings, data.regions, {
    onChange: (regions) => {
      saver.change(regions);
      // The panels after the save's request has left (the saver sends in a microtask queued just now), still
      // before the next frame: the predictions' list alone looks at all 10,000 regions.
      queueMicrotask(() => {
        panel?.renderSelection();
        predictions?.render();
        bars?.renderModeBar();
      });
    },
    onSelect: () => panel?.renderSelection(),
    onMode: () => bars?.renderModeBar(),
    onMessage: (message) => toast(message),
  });
  performance.mark("labeling:editor");
  const renderSaveState = (): void => {
    const open = conflicts?.open;
    const status = saver.current;
    bars?.renderSaveState(status, {
      resolve: open ? () => void conflicts?.resolve(open) : undefined,
      repair: () => saver.repair(),
    });
    // A refused region is selected, so the user sees which one the message means.
    const refused = status.state === "error" ? status.refused?.id : undefined;
    if (refused && editor.selected()?.getId() !== refused) editor.selectById(refused);
  };
  const saver = new Saver({
    userId: user.user.id,
    observationId: observation.id,
    annotationId: data.annotationId,
    version: data.version,
    regions: data.regions,
    warnings: data.warnings,
    onStatus: renderSaveState,
    onSaved: (result) => {
      showWarnings(result.warnings);
      takeServerChanges(result);
      wb.annotations?.saved(result.version, result.count);
      if (!saver.hasUnsaved) editor.settleSoon();
    },
    onConflict: (conflict) => void conflicts?.resolve(conflict),
  });
  conflicts = new ConflictResolver(map, editor, saver, renderSaveState);
  const comments = new Comments(map, observation.id, editor);
  editor.register(new CommentTool(editor.host, () => comments));
  predictions = new Predictions(map, project, observation, editor, role === "admin", series.previous);
  const swipe = new Swipe(map, observation);
  // `?change=ID` (from the site page) compares with that date, and shows the change at once.
  const changeLayer = new ChangeLayer(map, project, observation, query.get("change"), role !== "annotator" || project.annotators_see_others);
  // Review of a task with several annotations: all of them, one on the map to edit, the others dashed.
  const several = review && !data.groundTruth && data.annotations.length > 1 && data.annotationId !== null;
  const annotations = several
    ? new AnnotationSwitcher(map, project, observation.id, user.user.id, data.emails, data.annotations, data.annotationId ?? "", settings, {
        beforeSwitch: () => saver.flush(),
        onSwitch: (annotation) => showAnnotation(annotation),
        onChange: () => panel?.renderActions(),
        onError: (message) => toast(message, "error"),
      })
    : null;

  const wb: Workbench = {
    project, observation, series, review, role, task, map, base, basemap, settings, editor, saver, comments,
    predictions, swipe, warnings, annotations, groundTruth: data.groundTruth, readOnly: "",
    actions: {
      goTo: (target) => navigate(labelPath(project.id, target.id, review)),
      toggleCompare: () => {
        if (swipe.active) swipe.hide();
        else if (series.previous) swipe.show(series.previous);
        bars?.renderSeriesBar();
      },
      copyPrevious: () => copyPrevious(wb),
      setBasemap: (visible) => {
        if (!basemap) {
          toast(observation.transform ? "No basemap is configured (MAP__BASEMAP_URL)." : "This image is not georeferenced: there is no basemap for it.");
          return;
        }
        basemap.setVisible(visible);
        // A test hook: "on" once the basemap's tiles are drawn.
        if (visible) map.once("rendercomplete", () => (document.documentElement.dataset["basemap"] = "on"));
        else document.documentElement.dataset["basemap"] = "off";
        panel?.renderLayers();
      },
      // The Layers panel's checkbox follows G (and G the checkbox), once the layer has loaded.
      toggleChange: () => void changeLayer.toggle().then(() => panel?.renderLayers()),
      changeShown: () => changeLayer.layer.getVisible(),
      togglePredictions: () => {
        predictions?.layer.setVisible(!predictions.layer.getVisible());
        panel?.renderLayers();
      },
      fit: () => map.getView().fit(imageExtent(observation), { padding: [16, 16, 16, 16], duration: 200 }),
      submit: () => submitTask(wb),
      decide: (decision, groundTruth) => decideTask(wb, decision, groundTruth ?? null),
      reopen: () => reopenTask(wb),
      taskChanged: () => taskChanged(),
    },
  };
  panel = new SidePanel(wb);
  bars = new MapBars(wb);
  mapArea.append(...bars.elements, swipe.control);
  layout.append(panel.element);
  // The panel narrows the map: measured now, before the first drawing. Otherwise OpenLayers draws the map
  // at the width it had without the panel and again when its resize observer reports the change (with
  // 10,000 regions each drawing of the regions' image is ~0.6 s here).
  map.updateSize();

  /** Topology warnings from the server: dashed orange on the map, listed when the region is selected. */
  function showWarnings(list: TopologyWarning[]): void {
    const before = new Set(editor.warned);
    warnings.clear();
    editor.warned.clear();
    for (const warning of list) {
      editor.warned.add(warning.region_id);
      // A Pit over two Infrastructure regions has two warnings of one rule: the panel says it once.
      const texts = warnings.get(warning.region_id) ?? [];
      const text = WARNING_TEXT[warning.code] ?? `Topology rule not met: ${warning.code}.`; // a newer rule
      if (!texts.includes(text)) warnings.set(warning.region_id, [...texts, text]);
    }
    document.documentElement.dataset["warnings"] = String(editor.warned.size);
    // Only the regions whose warning state changed are drawn again (the image of all regions only when one
    // of them is in it: a save's answer about the region just drawn redraws that region alone).
    const changed = [...before].filter((id) => !editor.warned.has(id));
    for (const id of editor.warned) if (!before.has(id)) changed.push(id);
    if (changed.length > 0) editor.restyle(changed);
    panel?.renderSelection();
  }

  /** Another annotation of the task goes on the map to be edited (saves go to it from now on). */
  function showAnnotation(annotation: Annotation): void {
    const regions = drafts(annotation.regions);
    saver.retarget(annotation.id, annotation.version, regions, annotation.warnings ?? []);
    editor.history.reset(regions);
    editor.load(regions);
    showWarnings(annotation.warnings ?? []);
    comments.render();
    predictions?.render();
    bars?.render();
  }

  /** Regions the server cut to the image or repaired take the server's shape (no undo step, no new save). */
  function takeServerChanges(result: SaveResult): void {
    if (result.changes.length === 0 || saver.hasUnsaved) return;
    const server = new Map(result.regions.map((region) => [region.id, region]));
    for (const change of result.changes) {
      const geometry = server.get(change.region_id)?.geometry;
      const feature = editor.source.getFeatureById(change.region_id);
      if (feature && isArea(geometry)) feature.setGeometry(toMapGeometry(geometry));
    }
    editor.history.replacePresent(editor.snapshot());
    panel?.renderSelection();
    toast(`The server ${result.changes.map((c) => c.message).join("; ")}.`);
  }

  /** Editing on or off as the task's state and the user's role allow; an approved task says so. */
  function applyAccess(): void {
    const access = editPermission(wb.task, review, role);
    editor.setEditable(access.editable);
    wb.readOnly = access.why;
    if (wb.groundTruth) bars?.showBanner(approvedBanner(wb.groundTruth), "approved");
    else bars?.showBanner(access.why);
    // Nothing is saved from a read-only view: no save badge either.
    if (bars) bars.saveBadge.hidden = !access.editable;
    // Test hook: whether the regions can be edited here.
    document.documentElement.dataset["readOnly"] = String(!access.editable);
  }

  /** After approving or rejecting: an approved task shows its ground truth, read-only, like on opening. */
  async function taskChanged(): Promise<void> {
    if (wb.task.state === "approved") {
      const features = await approvedRegions(observation.id);
      // The switcher's list has the copies made since opening; it shares the emails it learnt.
      wb.groundTruth = groundTruthOf(wb.task, wb.annotations?.list ?? data.annotations, data.emails, features);
      wb.annotations?.dispose();
      wb.annotations = null;
      const regions = drafts(features);
      editor.history.reset(regions);
      editor.load(regions);
      showWarnings([]);
    }
    applyAccess();
    comments.render();
    predictions?.render();
    panel?.render();
    bars?.render();
  }

  applyAccess();

  let closed = false;
  let samBatch: SamBatch | null = null;
  const unbindKeys = bindKeys(wb, () => panel?.renderPalette());
  // Keeps the task reserved while the view is open (edits renew the lease too).
  const heartbeat = window.setInterval(() => {
    if (!editor.editable || review) return;
    void api.POST("/api/observations/{observation_id}/task/lease", { params: { path: { observation_id: observation.id } } });
  }, HEARTBEAT_MS);

  panel.render();
  bars.render();
  wb.annotations?.render();
  renderSaveState();
  showWarnings(data.warnings);
  document.documentElement.dataset["mode"] = "select";

  performance.mark("labeling:built");
  // What else the view shows is asked for now, before the outbox is read: awaiting it lets the map's first
  // drawing (hundreds of milliseconds with 10,000 regions) run, and these requests overlap it.
  // SAM's tool, where SAM is set up (GET /api/sam/status); without it the mode bar has no SAM button.
  void api.GET("/api/sam/status").then(({ data }) => {
    if (!data?.ready || closed) return;
    const sam = new SamTool(editor.host, observation, user.user.id);
    editor.register(sam);
    mapArea.append(sam.panel);
    bars?.renderModeBar();
    // SAM's batch jobs on this image: project admins (the backend's permission table).
    if (role === "admin") {
      samBatch = new SamBatch(project, observation, series.previous, () => predictions?.load() ?? Promise.resolve());
      predictions?.setBatch(samBatch.element);
    }
  });
  // Annotators read the comments of their own tasks only (the permission table); others see a note.
  const commentsVisible = role !== "annotator" || mine !== undefined;
  const loadingComments = commentsVisible ? comments.load() : Promise.resolve(comments.unavailable());
  const loadingAgreement = wb.annotations ? wb.annotations.loadAgreement() : Promise.resolve();
  // Handled from now on (a failure is reported once all have settled, below).
  const loadingRest = Promise.all([loadingComments, predictions.load(), loadingAgreement]).catch((error: unknown) =>
    toast((error as Error).message, "error"),
  );

  // Edits kept in this browser from an earlier visit go back on the map and to the server.
  const pending = await saver.pending().catch(() => null);
  if (pending && editor.editable) {
    // Under review with several annotations, the edits may be of another one than the view opened.
    if (wb.annotations && pending.annotationId) wb.annotations.markSelected(pending.annotationId);
    const regions = saver.resume(pending);
    editor.history.reset(regions);
    editor.load(regions);
    predictions.render(); // the predictions accepted by those edits leave the list
    toast(`Restored ${pending.edits} unsaved edit${pending.edits === 1 ? "" : "s"} from this browser.`);
  }

  await loadingRest;
  panel.renderSelection();
  performance.mark("labeling:loaded");

  // Ready once the first tiles have been drawn: tests (and people) then see the image.
  map.once("rendercomplete", () => {
    performance.mark("labeling:ready");
    document.documentElement.dataset["mapReady"] = observation.id;
    editor.opened();
  });
  if (query.has("change")) void changeLayer.toggle().then(() => panel?.renderLayers());
  map.render();
  markView("labeling");

  return () => {
    closed = true;
    unbindKeys();
    editor.dispose();
    samBatch?.dispose();
    window.clearInterval(heartbeat);
    saver.dispose();
    wb.annotations?.dispose();
    map.setTarget(undefined);
    for (const hook of TEST_HOOKS) delete document.documentElement.dataset[hook];
  };
}
