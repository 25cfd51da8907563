// The side panel of the labeling view: the task and its actions, the class palette, the selected region
// (class, area, holes, warnings), the layers; the annotations under review, comments and predictions
// render their own sections.
import type Feature from "ol/Feature";
import Polygon from "ol/geom/Polygon";
import MultiPolygon from "ol/geom/MultiPolygon";
import { compact, formatHectares, h } from "../ui/dom";
import { askText } from "../ui/dialog";
import { pixelArea } from "./geometry";
import { pixelSizeM2 } from "./pixelMap";
import { classColour } from "./styles";
import { sitePath } from "../paths";
import type { Workbench } from "./workbench";

function holeCount(feature: Feature): number {
  const geometry = feature.getGeometry();
  if (geometry instanceof Polygon) return geometry.getLinearRingCount() - 1;
  if (geometry instanceof MultiPolygon) {
    return geometry.getPolygons().reduce((n, polygon) => n + polygon.getLinearRingCount() - 1, 0);
  }
  return 0;
}

export class SidePanel {
  readonly element = h("aside", { class: "side", "aria-label": "Task panel" });
  private readonly stateBadge = h("span", { class: "state" });
  private readonly actions = h("div", { class: "task-actions" });
  private readonly palette = h("section", { class: "palette", "aria-label": "Classes" });
  private readonly selection = h("section", { class: "selected", "aria-label": "Selected region" });
  private readonly layers = h("section", { class: "layers", "aria-label": "Layers" });
  private readonly m2PerPixel: number | null;

  constructor(private readonly wb: Workbench) {
    const { observation } = wb;
    this.m2PerPixel = pixelSizeM2(observation);
    const size = `${observation.width}×${observation.height} px`;
    this.element.append(
      h(
        "section",
        { class: "task-head" },
        h("h2", {}, observation.site_name, " ", this.stateBadge),
        h("p", { class: "muted" }, [observation.original_filename, size, observation.acquired_on].filter(Boolean).join(" · ")),
        this.actions,
      ),
      ...(wb.annotations ? [wb.annotations.panel] : []),
      this.palette,
      this.selection,
      this.layers,
      wb.comments.panel,
      wb.predictions.panel,
    );
  }

  render(): void {
    this.renderActions();
    this.renderPalette();
    this.renderSelection();
    this.renderLayers();
  }

  renderActions(): void {
    const { task, review, editor, actions, groundTruth, annotations, role } = this.wb;
    this.stateBadge.textContent = task.state.replace("_", " ");
    this.stateBadge.className = `state state-${task.state}`;
    this.stateBadge.dataset["taskState"] = task.state;
    const button = (label: string, action: string, kind: string, onClick: () => void, disabled = false): HTMLElement => {
      const element = h("button", { class: kind, "data-action": action, disabled }, label);
      element.addEventListener("click", onClick);
      return element;
    };
    const buttons: HTMLElement[] = [];
    if (groundTruth) {
      // Approved: read-only for everyone; project admins may send it back to review.
      if (role === "admin") buttons.push(button("Reopen…", "reopen", "", () => void actions.reopen()));
    } else if (review) {
      const waiting = task.state === "submitted";
      const selected = annotations?.selected();
      if (annotations?.several && selected) {
        // Several annotations: approving names one of them as the ground truth.
        const label = `Approve ${annotations.whose(selected)} annotation as ground truth`;
        const approve = button(label, "approve", "primary", () => void actions.decide("approve", selected.id), !waiting);
        approve.dataset["annotationId"] = selected.id;
        buttons.push(approve);
        if (!annotations.isOwn(selected) && !annotations.hasOwn) {
          buttons.push(button("Start my own from this one", "start-own", "", () => void annotations.startOwn(), !waiting || !editor.editable));
        }
      } else {
        buttons.push(button("Approve", "approve", "primary", () => void actions.decide("approve"), !waiting));
      }
      buttons.push(button("Reject…", "reject", "danger", () => void actions.decide("reject"), !waiting));
    } else if (editor.editable) {
      const submit = h("button", { class: "primary", "data-action": "submit" }, "Submit for review");
      submit.addEventListener("click", () => void actions.submit());
      buttons.push(submit);
    }
    this.actions.replaceChildren(...buttons);
  }

  renderPalette(): void {
    const { project, settings, editor } = this.wb;
    this.palette.replaceChildren(
      h("h3", {}, "Classes"),
      ...project.label_classes.map((cls, i) => {
        const visible = h("input", { type: "checkbox", checked: !settings.hidden.has(cls.name), "aria-label": `Show ${cls.name}` });
        visible.addEventListener("change", () => {
          if (visible.checked) settings.hidden.delete(cls.name);
          else settings.hidden.add(cls.name);
          editor.restyle();
          this.wb.annotations?.restyle();
        });
        const active = editor.currentClass === cls.name;
        const pick = h(
          "button",
          { class: `class-button${active ? " active" : ""}`, "data-class": cls.name, title: `Class ${cls.name} (key ${i + 1})` },
          h("span", { class: "swatch", style: `background: ${cls.color}` }),
          h("kbd", {}, String(i + 1)),
          cls.name,
        );
        pick.addEventListener("click", () => {
          editor.setClass(cls.name);
          this.renderPalette();
        });
        return h("div", { class: "class-row" }, pick, visible);
      }),
    );
  }

  private areaText(feature: Feature): string {
    const px = pixelArea(feature);
    const pixels = `${Math.round(px).toLocaleString("en")} px²`;
    return this.m2PerPixel === null ? pixels : `${formatHectares((px * this.m2PerPixel) / 10_000)} (${pixels})`;
  }

  renderSelection(): void {
    const { editor, project, comments, warnings, observation } = this.wb;
    const feature = editor.selected();
    const count = editor.source.getFeatures().length;
    // Test hooks: how many regions are on the map and which one is selected.
    document.documentElement.dataset["regions"] = String(count);
    if (feature) document.documentElement.dataset["selected"] = String(feature.getId());
    else delete document.documentElement.dataset["selected"];
    if (!feature) {
      this.selection.replaceChildren(h("h3", {}, "Selection"), h("p", { class: "muted" }, `${count} regions. Click one to select it.`));
      return;
    }
    const id = String(feature.getId());
    const label = String(feature.get("label"));
    const holes = holeCount(feature);
    const commentButton = h("button", { class: "small", "data-action": "comment-region" }, "Comment on region");
    commentButton.addEventListener("click", () => {
      void askText("Comment on this region", "Comment").then((body) => {
        if (body) void comments.add(body, { region_id: id });
      });
    });
    const remove = h("button", { class: "small danger", disabled: !editor.editable }, "Delete (Del)");
    remove.addEventListener("click", () => editor.deleteSelected());
    const regionWarnings = warnings.get(id) ?? [];
    this.selection.replaceChildren(
      ...compact([
        h("h3", {}, "Selection"),
        h(
          "p",
          {},
          h("span", { class: "chip", style: `--chip: ${classColour(project, label)}` }, label),
          " ",
          h("span", { class: "area", "data-testid": "selected-area" }, this.areaText(feature)),
        ),
        holes > 0 ? h("p", { class: "muted" }, `${holes} hole${holes > 1 ? "s" : ""}`) : null,
        feature.get("accepted_from") ? h("p", { class: "muted" }, `Accepted from a ${String(feature.get("source"))} prediction`) : null,
        regionWarnings.length ? h("ul", { class: "warnings" }, regionWarnings.map((w) => h("li", {}, w))) : null,
        h("div", { class: "row" }, commentButton, remove),
        // Region lineage: this region's ancestors and descendants on the site's other dates.
        h(
          "p",
          {},
          h(
            "a",
            { href: `#${sitePath(project.id, observation.site_id)}?region=${id}`, "data-action": "region-through-time" },
            "Follow this region through time",
          ),
        ),
      ]),
    );
  }

  renderLayers(): void {
    const { settings, editor, predictions, comments, basemap, base, observation, actions } = this.wb;
    const fill = h("input", { type: "range", min: 0, max: 90, value: Math.round(settings.opacity * 100), "aria-label": "Fill opacity" });
    fill.addEventListener("input", () => {
      settings.opacity = Number(fill.value) / 100;
      editor.restyle();
    });
    const image = h("input", { type: "range", min: 10, max: 100, value: Math.round(base.getOpacity() * 100), "aria-label": "Image opacity" });
    image.addEventListener("input", () => base.setOpacity(Number(image.value) / 100));
    const showBasemap = h("input", { type: "checkbox", checked: basemap?.getVisible() ?? false, name: "show-basemap" });
    showBasemap.addEventListener("change", () => actions.setBasemap(showBasemap.checked));
    const showPredictions = h("input", { type: "checkbox", checked: predictions.layer.getVisible(), name: "show-predictions" });
    showPredictions.addEventListener("change", () => predictions.layer.setVisible(showPredictions.checked));
    const showChange = h("input", { type: "checkbox", checked: actions.changeShown(), name: "show-change" });
    showChange.addEventListener("change", () => {
      if (showChange.checked !== actions.changeShown()) actions.toggleChange();
    });
    const showComments = h("input", { type: "checkbox", checked: comments.layer.getVisible() });
    showComments.addEventListener("change", () => comments.layer.setVisible(showComments.checked));
    const noBasemap = observation.transform ? "No basemap is configured." : "Not georeferenced: no basemap.";
    this.layers.replaceChildren(
      h("h3", {}, "Layers"),
      h("label", { class: "row" }, "Fill opacity", fill),
      h("label", { class: "row" }, "Image opacity", image),
      basemap ? h("label", { class: "row" }, showBasemap, "Basemap (B)") : h("p", { class: "muted small" }, noBasemap),
      h("label", { class: "row" }, showPredictions, "Predictions (P)"),
      h("label", { class: "row", title: "Gained (green) and lost (red, dashed) since the previous date that counts" }, showChange, "Change since the previous date (G)"),
      h("label", { class: "row" }, showComments, "Comment pins"),
    );
  }
}
