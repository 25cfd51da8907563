// The Models page's two dialogs: Train now (how to cut the dataset, how to train) and Predict (which model,
// which tasks). The server checks every field; its messages appear next to the field they name.
import { api, call, type Job, type Schemas } from "../api/client";
import { h } from "../ui/dom";
import { formDialog } from "../ui/dialog";
import {
  checkboxField,
  checked,
  inputField,
  selectField,
  showErrors,
  type Field,
} from "../ui/form";

type Version = Schemas["ModelVersionRead"];
type TrainOptions = Schemas["TrainOptions"];
type DatasetParams = Schemas["DatasetParams"];

// The API's defaults (app/schemas/ml.py: TrainOptions, DatasetParams), shown until a version was trained;
// after that the last version's options are the starting point, as the next round usually tweaks them.
export const DEFAULT_OPTIONS: TrainOptions = {
  epochs: 20,
  batch_size: 8,
  learning_rate: 0.001,
  weight_decay: 0.0001,
  encoder: "resnet34",
  encoder_depth: 5,
  warm_start: false,
  seed: 0,
};
export const DEFAULT_DATASET: Omit<DatasetParams, "then_train"> = {
  chip_size: 512,
  stride: 448,
  val_fraction: 0.2,
  test_fraction: 0.2,
  seed: 0,
};
// segmentation-models-pytorch encoders that train on a CPU or a small GPU; any other name may be typed.
const ENCODERS = ["resnet18", "resnet34", "resnet50", "efficientnet-b0", "mobilenet_v2"];

/** What was typed, as the number the server gets (NaN, sent as null, for text that is not one). */
const num = (field: Field): number => Number(field.input.value.trim() === "" ? Number.NaN : field.input.value);

/**
 * The Train now dialog; resolves with the round's first job (the `dataset` job) once the server took it,
 * or null when cancelled.
 *
 * Args:
 *   projectId: the project.
 *   last: the newest version (its options are the starting point), if any.
 *   hasChampion: whether warm start has a champion to start from.
 */
export function trainDialog(projectId: string, last: Version | null, hasChampion: boolean): Promise<Job | null> {
  const start = last ? { ...last.settings, warm_start: hasChampion && last.settings.warm_start } : DEFAULT_OPTIONS;
  const fields = {
    epochs: inputField("options.epochs", "Epochs", start.epochs, { type: "number" }),
    batchSize: inputField("options.batch_size", "Batch size", start.batch_size, { type: "number" }),
    learningRate: inputField("options.learning_rate", "Learning rate", start.learning_rate, {
      type: "number",
      step: "any",
    }),
    encoder: inputField("options.encoder", "Encoder", start.encoder, {
      hint: "A segmentation-models-pytorch encoder.",
    }),
    chipSize: inputField("dataset.chip_size", "Chip size (px)", DEFAULT_DATASET.chip_size, { type: "number" }),
    stride: inputField("dataset.stride", "Stride (px)", DEFAULT_DATASET.stride, {
      type: "number",
      hint: "At most the chip size; less overlaps the chips.",
    }),
    warmStart: checkboxField(
      "options.warm_start",
      "Warm start from the champion",
      start.warm_start,
      hasChampion ? "Same bands and classes as the champion." : "There is no champion yet.",
    ),
    encoderDepth: inputField("options.encoder_depth", "Encoder depth", start.encoder_depth, {
      type: "number",
      hint: "3 to 5; shallow encoders train faster.",
    }),
    weightDecay: inputField("options.weight_decay", "Weight decay", start.weight_decay, {
      type: "number",
      step: "any",
    }),
    seed: inputField("options.seed", "Training seed", start.seed, { type: "number" }),
    valFraction: inputField("dataset.val_fraction", "Validation fraction", DEFAULT_DATASET.val_fraction, {
      type: "number",
      step: "any",
      hint: "Of the sites that are not test sites.",
    }),
    testFraction: inputField("dataset.test_fraction", "Test fraction", DEFAULT_DATASET.test_fraction, {
      type: "number",
      step: "any",
      hint: "Of the sites, frozen as test sites the first time only.",
    }),
    datasetSeed: inputField("dataset.seed", "Split seed", DEFAULT_DATASET.seed, { type: "number" }),
  };
  if (!hasChampion) fields.warmStart.input.disabled = true;
  const encoders = h("datalist", { id: "encoder-options" }, ENCODERS.map((e) => h("option", { value: e })));
  fields.encoder.input.setAttribute("list", "encoder-options");
  const all = Object.values(fields);
  const general = h("p", { class: "error form-error", role: "alert", tabindex: -1, "data-testid": "form-error" });
  const main = [fields.epochs, fields.batchSize, fields.learningRate, fields.encoder, fields.chipSize, fields.stride];
  const more = [fields.encoderDepth, fields.weightDecay, fields.seed, fields.valFraction, fields.testFraction, fields.datasetSeed];
  const body = [
    h(
      "p",
      { class: "muted" },
      "Freezes a dataset of the approved tasks (split by site) and trains a new version on it. It becomes the champion only if it beats the champion on the test sites by the project's margin.",
    ),
    h("div", { class: "field-grid" }, main.map((f) => f.element)),
    fields.warmStart.element,
    h("details", { class: "more-fields" }, h("summary", {}, "More options"), h("div", { class: "field-grid" }, more.map((f) => f.element))),
    encoders,
    general,
  ];
  return formDialog("Train now", body, "Train now", async () => {
    const options: TrainOptions = {
      epochs: num(fields.epochs),
      batch_size: num(fields.batchSize),
      learning_rate: num(fields.learningRate),
      weight_decay: num(fields.weightDecay),
      encoder: fields.encoder.input.value.trim(),
      encoder_depth: num(fields.encoderDepth),
      warm_start: checked(fields.warmStart),
      seed: num(fields.seed),
    };
    const dataset: DatasetParams = {
      chip_size: num(fields.chipSize),
      stride: num(fields.stride),
      val_fraction: num(fields.valFraction),
      test_fraction: num(fields.testFraction),
      seed: num(fields.datasetSeed),
    };
    try {
      return await call(
        api.POST("/api/projects/{project_id}/train", {
          params: { path: { project_id: projectId } },
          body: { options, dataset },
        }),
      );
    } catch (error) {
      // The rule over chip size and stride is the dataset's: its message goes next to the stride.
      const first = showErrors(all, general, error, { dataset: "dataset.stride" });
      if (first && more.includes(first)) first.element.closest("details")?.setAttribute("open", "");
      (first?.input ?? general).focus();
      return undefined;
    }
  });
}

/**
 * The Predict dialog; resolves with the `predict` job, or null when cancelled.
 *
 * Args:
 *   projectId: the project.
 *   versions: the project's versions (the trained ones are offered; the champion first, chosen).
 *   sites: the project's sites, to pre-label one of them.
 */
export function predictDialog(
  projectId: string,
  versions: Version[],
  sites: Schemas["SiteRead"][],
): Promise<Job | null> {
  const trained = versions.filter((v) => v.state === "trained");
  const champion = trained.find((v) => v.is_champion);
  const ordered = champion ? [champion, ...trained.filter((v) => v !== champion)] : trained;
  const fields = {
    model: selectField(
      "model_version_id",
      "Model",
      champion?.id ?? "",
      ordered.map((v): [string, string] => [v.id, v.is_champion ? `${v.name} (champion)` : v.name]),
    ),
    unlabeled: checkboxField(
      "unlabeled_only",
      "Only unlabeled tasks",
      true,
      "Tasks nobody has started; images already pre-labeled by this model are skipped.",
    ),
    site: selectField("site_id", "Site", "", [["", "All sites"], ...sites.map((s): [string, string] => [s.id, s.name])]),
    from: inputField("date_from", "Acquired from", null, { type: "date" }),
    to: inputField("date_to", "to", null, { type: "date" }),
    threshold: inputField("threshold", "Threshold", 0.5, {
      type: "number",
      step: "any",
      hint: "A pixel is a class where the model's probability is above this.",
    }),
  };
  const all = Object.values(fields);
  const general = h("p", { class: "error form-error", role: "alert", tabindex: -1, "data-testid": "form-error" });
  const body = [
    h("p", { class: "muted" }, "Pre-labels the chosen tasks: annotators see the predictions as a dashed layer and accept them."),
    fields.model.element,
    fields.unlabeled.element,
    h("div", { class: "field-grid" }, fields.site.element, fields.from.element, fields.to.element, fields.threshold.element),
    general,
  ];
  return formDialog("Predict", body, "Predict", async () => {
    const text = (field: Field): string | null => field.input.value.trim() || null;
    try {
      return await call(
        api.POST("/api/projects/{project_id}/predict", {
          params: { path: { project_id: projectId } },
          body: {
            model_version_id: text(fields.model),
            unlabeled_only: checked(fields.unlabeled),
            site_id: text(fields.site),
            date_from: text(fields.from),
            date_to: text(fields.to),
            threshold: num(fields.threshold),
          },
        }),
      );
    } catch (error) {
      (showErrors(all, general, error)?.input ?? general).focus();
      return undefined;
    }
  });
}
