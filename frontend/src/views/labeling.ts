// The labeling view: the observation's tiles in its pixel grid, the regions being edited, and around them
// the class palette, layers, the selected region, comments, predictions, the time series and the task's
// actions (submit; approve/reject in review mode). Keyboard first: `?` lists the shortcuts.
import type Feature from "ol/Feature";
import Polygon from "ol/geom/Polygon";
import MultiPolygon from "ol/geom/MultiPolygon";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { Attribution } from "ol/control";
import { api, ApiError, call, type Observation, type Project, type Task } from "../api/client";
import { me } from "../api/session";
import { compact, formatHectares, h, markView } from "../ui/dom";
import { choose } from "../ui/dialog";
import { askText } from "../ui/dialog";
import { toast } from "../ui/toast";
import { navigate, type Params, type Query } from "../router";
import { createPixelMap, imageExtent, pixelSizeM2 } from "../labeling/pixelMap";
import { Editor, type Mode } from "../labeling/editor";
import { Saver, type Conflict, type SaveResult, type SaveStatus } from "../labeling/saver";
import { draftFromServer, featureFromDraft, type RegionDraft } from "../labeling/regions";
import { pixelArea, pointToPixel } from "../labeling/geometry";
import { Comments } from "../labeling/comments";
import { Predictions } from "../labeling/predictions";
import { approvedRegionsOf, loadSeries, Swipe, type Series } from "../labeling/timeSeries";
import { classColour, theirsStyle, type LayerSettings } from "../labeling/styles";
import { shortcutsHelp } from "../labeling/shortcuts";
import { basemapLayer, uiConfig } from "../labeling/basemap";
import { errorBox, shell } from "./shell";
import "./labeling.css";

const HEARTBEAT_MS = 4 * 60_000;

interface Loaded {
  project: Project;
  observation: Observation;
  task: Task;
  annotationId: string | null;
  version: number;
  regions: RegionDraft[];
  warnings: SaveResult["warnings"];
  series: Series;
}

async function load(projectId: string, observationId: string, review: boolean): Promise<Loaded> {
  const user = me();
  if (!user) throw new Error("Not signed in.");
  const [project, observation, task, annotations] = await Promise.all([
    call(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } })),
    call(api.GET("/api/observations/{observation_id}", { params: { path: { observation_id: observationId } } })),
    call(api.GET("/api/observations/{observation_id}/task", { params: { path: { observation_id: observationId } } })),
    call(
      api.GET("/api/observations/{observation_id}/annotations", { params: { path: { observation_id: observationId } } }),
    ),
  ]);
  // Reviewers look at (and may fix) the submitted work; everyone else edits their own annotation.
  const submitted = task.assignments.find((a) => a.state === "submitted" && a.annotation_id)?.annotation_id;
  const annotation = review
    ? (annotations.find((a) => a.id === submitted) ?? annotations[annotations.length - 1])
    : annotations.find((a) => a.created_by === user.user.id);
  const regions = (annotation?.regions ?? [])
    .map(draftFromServer)
    .filter((draft): draft is RegionDraft => draft !== null);
  const series = await loadSeries(observation);
  return {
    project,
    observation,
    task,
    annotationId: annotation?.id ?? null,
    version: annotation?.version ?? 0,
    regions,
    warnings: (annotation?.warnings ?? []) as SaveResult["warnings"],
    series,
  };
}

function canEdit(task: Task, review: boolean, role: string | null): { editable: boolean; why: string } {
  const user = me();
  if (role === "admin") return { editable: true, why: "" };
  if (review) {
    return task.state === "submitted"
      ? { editable: true, why: "" }
      : { editable: false, why: `Reviewers fix regions only while the task waits for review; it is ${task.state}.` };
  }
  const mine = task.assignments.find((a) => a.user_id === user?.user.id);
  if (!mine) return { editable: false, why: "This task is not assigned to you: use “Start labeling” to take one." };
  if (mine.state !== "in_progress") return { editable: false, why: "You submitted this task; it waits for review." };
  return { editable: true, why: "" };
}

export async function renderLabeling(root: HTMLElement, params: Params, query: Query): Promise<() => void> {
  const projectId = params["projectId"] ?? "";
  const observationId = params["observationId"] ?? "";
  const review = query.get("mode") === "review";
  const page = shell(root, [{ label: "Projects", href: "/" }, { label: "…" }]);
  page.classList.add("labeling-page");
  let data: Loaded;
  try {
    data = await load(projectId, observationId, review);
  } catch (error) {
    page.append(errorBox(error instanceof Error ? error.message : String(error)));
    markView("labeling-error");
    return () => undefined;
  }
  const user = me()!;
  const { project, observation, series } = data;
  let task = data.task;
  const role = project.my_role ?? (user.user.is_admin ? "admin" : null);

  // An annotator back on a rejected task starts the rework at once (the reviewer's comments show).
  const mine = task.assignments.find((a) => a.user_id === user.user.id);
  if (!review && task.state === "rejected" && mine) {
    try {
      task = await call(api.POST("/api/observations/{observation_id}/task/rework", { params: { path: { observation_id: observation.id } } }));
      toast("The task came back from review: fix what the comments say, then submit again.");
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  shell(root, [
    { label: "Projects", href: "/" },
    { label: project.name, href: `/projects/${project.id}` },
    { label: "Tasks", href: `/projects/${project.id}/tasks` },
    { label: `${observation.site_name} · ${observation.acquired_on ?? `#${observation.index}`}` },
  ]);
  const content = root.querySelector<HTMLElement>(".page")!;
  content.classList.add("labeling-page");

  // ---- layout ---------------------------------------------------------------------------------
  const mapTarget = h("div", { class: "map", id: "map", tabindex: 0, "aria-label": "Image and regions" });
  const modeBar = h("div", { class: "mode-bar", role: "toolbar", "aria-label": "Tools" });
  const saveBadge = h("div", { class: "save-state", role: "status", "aria-live": "polite", "data-state": "saved" });
  const seriesBar = h("div", { class: "series-bar" });
  const banner = h("div", { class: "banner", hidden: true, role: "alert" });
  const side = h("aside", { class: "side", "aria-label": "Task panel" });
  const mapArea = h("div", { class: "map-area" }, mapTarget, modeBar, seriesBar, saveBadge, banner);
  content.append(h("div", { class: "labeling" }, mapArea, side));

  const { map, base } = createPixelMap(mapTarget, observation);
  const ui = await uiConfig().catch(() => null);
  const basemap = ui ? basemapLayer(observation, map.getView().getProjection(), ui) : null;
  if (basemap) {
    map.getLayers().insertAt(0, basemap);
    map.addControl(new Attribution({ collapsible: false }));
  }
  const settings: LayerSettings = { hidden: new Set(), opacity: 0.35 };
  const m2PerPixel = pixelSizeM2(observation);
  let conflictLayer: VectorLayer<VectorSource<Feature>> | null = null;
  let pendingConflict: Conflict | null = null;

  const selectedPanel = h("section", { class: "selected", "aria-label": "Selected region" });
  const warningsFor = new Map<string, string[]>();

  const editor = new Editor(map, project, settings, data.regions, {
    onChange: (regions) => {
      saver.change(regions);
      renderSelected();
      predictions.render();
      renderModeBar();
    },
    onSelect: () => renderSelected(),
    onMode: () => renderModeBar(),
    onMessage: (message) => toast(message),
  });
  const access = canEdit(task, review, role);
  editor.setEditable(access.editable);
  if (!access.editable) showBanner(access.why);

  const saver = new Saver({
    userId: user.user.id,
    observationId: observation.id,
    annotationId: data.annotationId,
    version: data.version,
    onStatus: renderSaveState,
    onSaved: (result) => showWarnings(result.warnings),
    onConflict: (conflict) => void resolveConflict(conflict),
  });

  /** Topology warnings from the server: dashed orange on the map, listed when the region is selected. */
  function showWarnings(warnings: SaveResult["warnings"]): void {
    warningsFor.clear();
    editor.warned.clear();
    for (const warning of warnings) {
      if (!warning.region) continue;
      editor.warned.add(warning.region);
      const text = (warning.message ?? warning.rule ?? "").replace(/^Region [0-9a-f-]+ /, "");
      warningsFor.set(warning.region, [...(warningsFor.get(warning.region) ?? []), text.charAt(0).toUpperCase() + text.slice(1)]);
    }
    document.documentElement.dataset["warnings"] = String(editor.warned.size);
    editor.restyle();
    renderSelected();
  }

  const comments = new Comments(map, observation.id, editor);
  const predictions = new Predictions(map, project, observation, editor, role === "admin");
  const swipe = new Swipe(map, observation);
  mapArea.append(swipe.control);

  // ---- save state and conflicts ---------------------------------------------------------------
  function renderSaveState(status: SaveStatus): void {
    saveBadge.dataset["state"] = status.state;
    const pending = status.pendingEdits > 0 ? ` · ${status.pendingEdits} edit${status.pendingEdits > 1 ? "s" : ""} pending` : "";
    saveBadge.replaceChildren(h("span", { class: "dot" }), `${status.message}${pending}`);
    if (status.state === "conflict" && pendingConflict) {
      const again = h("button", { class: "small" }, "Resolve…");
      again.addEventListener("click", () => void resolveConflict(pendingConflict!));
      saveBadge.append(again);
    }
  }

  function showTheirs(conflict: Conflict | null): void {
    if (conflictLayer) map.removeLayer(conflictLayer);
    conflictLayer = null;
    if (!conflict) return;
    conflictLayer = new VectorLayer({
      source: new VectorSource({ features: conflict.theirs.map(featureFromDraft) }),
      style: theirsStyle(),
      zIndex: 10,
    });
    map.addLayer(conflictLayer);
  }

  async function resolveConflict(conflict: Conflict): Promise<void> {
    pendingConflict = conflict;
    const choice = await choose(
      "Someone else saved this annotation",
      [
        h("p", {}, `While you were editing, the annotation was saved by someone else (now version ${conflict.theirVersion}, with ${conflict.theirs.length} regions).`),
        h("p", { class: "muted" }, "Keep mine: save your regions over theirs. Take theirs: drop your unsaved edits. See both: show theirs dashed in cyan over yours, and decide later."),
      ],
      [
        { label: "Keep mine", value: "mine" as const, primary: true },
        { label: "Take theirs", value: "theirs" as const },
        { label: "See both", value: "both" as const },
      ],
    );
    if (choice === "both") {
      showTheirs(conflict);
      renderSaveState(saver.current); // now with the "Resolve…" button
      return;
    }
    showTheirs(null);
    pendingConflict = null;
    if (choice === "mine") {
      saver.keepMine(conflict.theirVersion);
    } else {
      saver.takeTheirs(conflict.theirVersion);
      editor.history.reset(conflict.theirs);
      editor.load(conflict.theirs);
    }
  }

  // ---- side panel -----------------------------------------------------------------------------
  const stateBadge = h("span", { class: `state state-${task.state}`, "data-task-state": task.state }, task.state.replace("_", " "));
  const actions = h("div", { class: "task-actions" });
  const palette = h("section", { class: "palette", "aria-label": "Classes" });
  const layersPanel = h("section", { class: "layers", "aria-label": "Layers" });

  function renderActions(): void {
    stateBadge.textContent = task.state.replace("_", " ");
    stateBadge.className = `state state-${task.state}`;
    stateBadge.dataset["taskState"] = task.state;
    const buttons: HTMLElement[] = [];
    if (review) {
      const approve = h("button", { class: "primary", "data-action": "approve", disabled: task.state !== "submitted" }, "Approve");
      const reject = h("button", { class: "danger", "data-action": "reject", disabled: task.state !== "submitted" }, "Reject…");
      approve.addEventListener("click", () => void decide("approve"));
      reject.addEventListener("click", () => void decide("reject"));
      buttons.push(approve, reject);
    } else if (editor.editable) {
      const submit = h("button", { class: "primary", "data-action": "submit" }, "Submit for review");
      submit.addEventListener("click", () => void submitTask());
      buttons.push(submit);
    }
    actions.replaceChildren(...buttons);
  }

  function renderPalette(): void {
    palette.replaceChildren(
      h("h3", {}, "Classes"),
      ...project.label_classes.map((cls, i) => {
        const visible = h("input", { type: "checkbox", checked: !settings.hidden.has(cls.name), "aria-label": `Show ${cls.name}` });
        visible.addEventListener("change", () => {
          if (visible.checked) settings.hidden.delete(cls.name);
          else settings.hidden.add(cls.name);
          editor.restyle();
        });
        const choose = h(
          "button",
          { class: `class-button${editor.currentClass === cls.name ? " active" : ""}`, "data-class": cls.name, title: `Class ${cls.name} (key ${i + 1})` },
          h("span", { class: "swatch", style: `background: ${cls.color}` }),
          h("kbd", {}, String(i + 1)),
          cls.name,
        );
        choose.addEventListener("click", () => {
          editor.setClass(cls.name);
          renderPalette();
        });
        return h("div", { class: "class-row" }, choose, visible);
      }),
    );
  }

  function renderLayers(): void {
    const opacity = h("input", { type: "range", min: 0, max: 90, value: Math.round(settings.opacity * 100), "aria-label": "Fill opacity" });
    opacity.addEventListener("input", () => {
      settings.opacity = Number(opacity.value) / 100;
      editor.restyle();
    });
    const showPredictions = h("input", { type: "checkbox", checked: predictions.layer.getVisible(), name: "show-predictions" });
    showPredictions.addEventListener("change", () => predictions.layer.setVisible(showPredictions.checked));
    const showBasemap = h("input", { type: "checkbox", checked: basemap?.getVisible() ?? false, name: "show-basemap" });
    showBasemap.addEventListener("change", () => setBasemap(showBasemap.checked));
    const imageOpacity = h("input", { type: "range", min: 10, max: 100, value: Math.round(base.getOpacity() * 100), "aria-label": "Image opacity" });
    imageOpacity.addEventListener("input", () => base.setOpacity(Number(imageOpacity.value) / 100));
    const showComments = h("input", { type: "checkbox", checked: comments.layer.getVisible() });
    showComments.addEventListener("change", () => comments.layer.setVisible(showComments.checked));
    layersPanel.replaceChildren(
      h("h3", {}, "Layers"),
      h("label", { class: "row" }, "Fill opacity", opacity),
      h("label", { class: "row" }, "Image opacity", imageOpacity),
      basemap
        ? h("label", { class: "row" }, showBasemap, "Basemap (B)")
        : h("p", { class: "muted small" }, observation.transform ? "No basemap is configured." : "Not georeferenced: no basemap."),
      h("label", { class: "row" }, showPredictions, "Predictions (P)"),
      h("label", { class: "row" }, showComments, "Comment pins"),
    );
  }

  function setBasemap(visible: boolean): void {
    if (!basemap) {
      toast(observation.transform ? "No basemap is configured (MAP__BASEMAP_URL)." : "This image is not georeferenced: there is no basemap for it.");
      return;
    }
    basemap.setVisible(visible);
    // A test hook: "on" once the basemap's tiles are drawn.
    if (visible) map.once("rendercomplete", () => (document.documentElement.dataset["basemap"] = "on"));
    else document.documentElement.dataset["basemap"] = "off";
    renderLayers();
  }

  function areaText(feature: Feature): string {
    const px = pixelArea(feature);
    const pixels = `${Math.round(px).toLocaleString("en")} px²`;
    return m2PerPixel === null ? pixels : `${formatHectares((px * m2PerPixel) / 10_000)} (${pixels})`;
  }

  function renderSelected(): void {
    const feature = editor.selected();
    // Test hooks: how many regions are on the map and which one is selected.
    document.documentElement.dataset["regions"] = String(editor.source.getFeatures().length);
    if (feature) document.documentElement.dataset["selected"] = String(feature.getId());
    else delete document.documentElement.dataset["selected"];
    if (!feature) {
      selectedPanel.replaceChildren(h("h3", {}, "Selection"), h("p", { class: "muted" }, `${editor.source.getFeatures().length} regions. Click one to select it.`));
      return;
    }
    const id = String(feature.getId());
    const label = String(feature.get("label"));
    const geometry = feature.getGeometry();
    const holes = geometry instanceof Polygon ? geometry.getLinearRingCount() - 1 : geometry instanceof MultiPolygon ? geometry.getPolygons().reduce((n, p) => n + p.getLinearRingCount() - 1, 0) : 0;
    const commentButton = h("button", { class: "small", "data-action": "comment-region" }, "Comment on region");
    commentButton.addEventListener("click", () => {
      void askText("Comment on this region", "Comment").then((body) => {
        if (body) void comments.add(body, { region_id: id });
      });
    });
    const remove = h("button", { class: "small danger", disabled: !editor.editable }, "Delete (Del)");
    remove.addEventListener("click", () => editor.deleteSelected());
    const warnings = warningsFor.get(id) ?? [];
    selectedPanel.replaceChildren(
      ...compact([
        h("h3", {}, "Selection"),
        h("p", {}, h("span", { class: "chip", style: `--chip: ${classColour(project, label)}` }, label), " ", h("span", { class: "area", "data-testid": "selected-area" }, areaText(feature))),
        holes > 0 ? h("p", { class: "muted" }, `${holes} hole${holes > 1 ? "s" : ""}`) : null,
        feature.get("accepted_from") ? h("p", { class: "muted" }, `Accepted from a ${String(feature.get("source"))} prediction`) : null,
        warnings.length ? h("ul", { class: "warnings" }, warnings.map((w) => h("li", {}, w))) : null,
        h("div", { class: "row" }, commentButton, remove),
      ]),
    );
  }

  function renderModeBar(): void {
    const tool = (mode: Mode, label: string, key: string): HTMLElement => {
      const button = h("button", { class: editor.mode === mode ? "active" : "", "data-mode": mode, title: `${label} (${key})`, "aria-pressed": String(editor.mode === mode) }, label, h("kbd", {}, key));
      button.addEventListener("click", () => editor.setMode(mode));
      return button;
    };
    const undo = h("button", { disabled: !editor.history.canUndo || !editor.editable, "data-action": "undo", title: "Undo (Ctrl+Z)" }, "Undo");
    undo.addEventListener("click", () => editor.undo());
    const redo = h("button", { disabled: !editor.history.canRedo || !editor.editable, "data-action": "redo", title: "Redo (Ctrl+Shift+Z)" }, "Redo");
    redo.addEventListener("click", () => editor.redo());
    const help = h("button", { title: "Keyboard shortcuts (?)", "data-action": "help" }, "?");
    help.addEventListener("click", () => shortcutsHelp());
    modeBar.replaceChildren(tool("select", "Select", "V"), tool("draw", "Draw", "D"), tool("hole", "Hole", "H"), tool("comment", "Comment", "M"), undo, redo, help);
  }

  function renderSeriesBar(): void {
    const link = (target: Observation | null, text: string, key: string): HTMLElement => {
      const button = h("button", { disabled: !target, title: `${text} (${key})`, "data-action": text.toLowerCase() }, text === "Previous" ? `◀ ${key}` : `${key} ▶`);
      button.addEventListener("click", () => target && goTo(target));
      return button;
    };
    const compare = h("button", { disabled: !series.previous, class: swipe.active ? "active" : "", "data-action": "compare", title: "Swipe against the previous observation (C)" }, "Compare");
    compare.addEventListener("click", () => toggleCompare());
    const copy = h("button", { disabled: !series.previous || !editor.editable, "data-action": "copy-previous", title: "Copy the previous observation's approved regions" }, "Copy previous");
    copy.addEventListener("click", () => void copyPrevious());
    seriesBar.replaceChildren(
      link(series.previous, "Previous", "["),
      h("span", { class: "series-label" }, `${observation.site_name} · ${observation.acquired_on ?? "no date"} · ${series.position}/${series.total}`),
      link(series.next, "Next", "]"),
      compare,
      copy,
    );
  }

  function goTo(target: Observation): void {
    navigate(`/projects/${project.id}/label/${target.id}${review ? "?mode=review" : ""}`);
  }

  function toggleCompare(): void {
    if (swipe.active) swipe.hide();
    else if (series.previous) swipe.show(series.previous);
    renderSeriesBar();
  }

  async function copyPrevious(): Promise<void> {
    if (!series.previous) return;
    if (series.previous.width !== observation.width || series.previous.height !== observation.height) {
      toast("The previous observation has another pixel grid; its regions cannot be copied as they are.", "error");
      return;
    }
    try {
      const regions = await approvedRegionsOf(series.previous);
      if (regions.length === 0) {
        toast("The previous observation has no approved regions to copy.");
        return;
      }
      editor.addRegions(regions);
      toast(`Copied ${regions.length} regions from ${series.previous.acquired_on ?? "the previous observation"}.`, "success");
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  function showBanner(text: string): void {
    banner.textContent = text;
    banner.hidden = !text;
  }

  // ---- task actions ---------------------------------------------------------------------------
  async function submitTask(): Promise<void> {
    try {
      await saver.flush();
      task = await call(api.POST("/api/observations/{observation_id}/task/submit", { params: { path: { observation_id: observation.id } } }));
      toast("Submitted for review.", "success");
      const next = await call(api.POST("/api/projects/{project_id}/tasks/next", { params: { path: { project_id: project.id } } }));
      navigate(next.task ? `/projects/${project.id}/label/${next.task.observation_id}` : `/projects/${project.id}`);
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }

  async function decide(decision: "approve" | "reject"): Promise<void> {
    try {
      await saver.flush();
      if (decision === "approve") {
        task = await call(api.POST("/api/observations/{observation_id}/task/approve", { params: { path: { observation_id: observation.id } } }));
        toast("Approved.", "success");
      } else {
        const selected = editor.selected();
        const where = selected ? "pinned to the selected region" : "about the whole task";
        const comment = await askText("Reject: what should be fixed?", `Comment (${where})`);
        if (!comment) return;
        task = await call(
          api.POST("/api/observations/{observation_id}/task/reject", {
            params: { path: { observation_id: observation.id } },
            body: { comment, region_id: selected ? String(selected.getId()) : null },
          }),
        );
        toast("Sent back for rework.", "success");
        await comments.load();
      }
      renderActions();
      const queue = await call(api.GET("/api/projects/{project_id}/review-queue", { params: { path: { project_id: project.id } } }));
      const next = queue.items.find((t) => t.observation_id !== observation.id);
      if (next) navigate(`/projects/${project.id}/label/${next.observation_id}?mode=review`);
      else toast("The review queue is empty.");
    } catch (error) {
      toast(error instanceof ApiError ? error.message : String(error), "error");
    }
  }

  // ---- map clicks in comment mode -------------------------------------------------------------
  map.on("singleclick", (event) => {
    if (editor.mode !== "comment") return;
    const point = pointToPixel(event.coordinate);
    void askText("Comment on this point", "Comment").then((body) => {
      if (body) void comments.add(body, { point });
      editor.setMode("select");
    });
  });

  // ---- keyboard -------------------------------------------------------------------------------
  function onKey(event: KeyboardEvent): void {
    const target = event.target as HTMLElement | null;
    if (target?.closest("input, textarea, select, dialog") || document.querySelector("dialog[open]")) return;
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    let handled = true;
    if (ctrl && key.toLowerCase() === "z") {
      if (event.shiftKey) editor.redo();
      else editor.undo();
    } else if (ctrl && key.toLowerCase() === "y") editor.redo();
    else if (ctrl) handled = false;
    else if (/^[1-9]$/.test(key)) {
      const cls = project.label_classes[Number(key) - 1];
      if (cls) {
        editor.setClass(cls.name);
        renderPalette();
      }
    } else if (key === "d" || key === "n") editor.setMode("draw");
    else if (key === "h") editor.setMode("hole");
    else if (key === "v") editor.setMode("select");
    else if (key === "m") editor.setMode("comment");
    else if (key === "Enter") editor.finishDrawing();
    else if (key === "Escape") {
      if (!editor.abortDrawing()) {
        if (editor.mode === "select") editor.clearSelection();
        else editor.setMode("select");
      }
    } else if (key === "Backspace") {
      if (!editor.removeLastPoint()) editor.deleteSelected();
    } else if (key === "Delete") editor.deleteSelected();
    else if (key === "[" && series.previous) goTo(series.previous);
    else if (key === "]" && series.next) goTo(series.next);
    else if (key === "c") toggleCompare();
    else if (key === "b") setBasemap(!(basemap?.getVisible() ?? false));
    else if (key === "p") {
      predictions.layer.setVisible(!predictions.layer.getVisible());
      renderLayers();
    } else if (key === "f") map.getView().fit(imageExtent(observation), { padding: [16, 16, 16, 16], duration: 200 });
    else if (key === "?") shortcutsHelp();
    else handled = false;
    if (handled) event.preventDefault();
  }
  document.addEventListener("keydown", onKey);

  // ---- heartbeat: keep the task reserved while the view is open --------------------------------
  const heartbeat = window.setInterval(() => {
    if (!editor.editable || review) return;
    void api.POST("/api/observations/{observation_id}/task/lease", { params: { path: { observation_id: observation.id } } });
  }, HEARTBEAT_MS);

  side.append(
    h(
      "section",
      { class: "task-head" },
      h("h2", {}, observation.site_name, " ", stateBadge),
      h("p", { class: "muted" }, `${observation.original_filename} · ${observation.width}×${observation.height} px${observation.acquired_on ? ` · ${observation.acquired_on}` : ""}`),
      actions,
    ),
    palette,
    selectedPanel,
    layersPanel,
    comments.panel,
    predictions.panel,
  );
  renderActions();
  renderPalette();
  renderLayers();
  renderSelected();
  renderModeBar();
  renderSeriesBar();
  renderSaveState(saver.current);
  showWarnings(data.warnings);
  document.documentElement.dataset["mode"] = "select";

  // Edits kept in this browser from an earlier visit go back on the map and to the server.
  const pending = await saver.pending().catch(() => null);
  if (pending && editor.editable) {
    editor.history.reset(pending.regions);
    editor.load(pending.regions);
    saver.resume(pending);
    toast(`Restored ${pending.edits} unsaved edit${pending.edits === 1 ? "" : "s"} from this browser.`);
  }

  // Annotators read the comments of their own tasks only (the permission table); others see a note.
  const commentsVisible = role !== "annotator" || mine !== undefined;
  const loadingComments = commentsVisible ? comments.load() : Promise.resolve(comments.unavailable());
  await Promise.all([loadingComments, predictions.load()]).catch((error: unknown) => toast((error as Error).message, "error"));
  renderSelected();

  // Ready once the first tiles have been drawn: tests (and people) then see the image.
  map.once("rendercomplete", () => {
    document.documentElement.dataset["mapReady"] = observation.id;
  });
  map.render();
  markView("labeling");

  return () => {
    document.removeEventListener("keydown", onKey);
    window.clearInterval(heartbeat);
    saver.dispose();
    map.setTarget(undefined);
    delete document.documentElement.dataset["mapReady"];
    for (const hook of ["saveState", "savedVersion", "regions", "selected", "mode", "drawVertices", "basemap", "warnings", "swipe"]) {
      delete document.documentElement.dataset[hook];
    }
  };
}
