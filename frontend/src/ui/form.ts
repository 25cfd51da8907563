// Forms whose rules live on the server: the fields are plain inputs (the form has `novalidate`, so the
// browser never refuses a value on its own), the API checks the body, and each 422 message is shown next to
// the field it names (FastAPI's `loc`), the rest above the buttons.
import { ApiError } from "../api/client";
import { h } from "./dom";

/** One labelled input with a place for its error; `name` is the body's path ("options.epochs"). */
export interface Field {
  readonly name: string;
  readonly element: HTMLElement;
  readonly input: HTMLInputElement | HTMLSelectElement;
  readonly error: HTMLElement;
}

let counter = 0;

function wrap(name: string, label: string, input: HTMLInputElement | HTMLSelectElement, hint?: string): Field {
  const id = `field-${++counter}`;
  const errorId = `${id}-error`;
  input.id = id;
  input.name = name;
  input.setAttribute("aria-describedby", errorId);
  const error = h("span", { class: "field-error", id: errorId, "data-error-for": name, role: "alert" });
  const element = h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label),
    input,
    hint ? h("span", { class: "muted small" }, hint) : null,
    error,
  );
  return { name, element, input, error };
}

/** A text or number input (numbers as text, so that what was typed reaches the server as typed). */
export function inputField(
  name: string,
  label: string,
  value: string | number | null,
  options: { type?: "text" | "number" | "date"; step?: string; hint?: string; placeholder?: string } = {},
): Field {
  const input = h("input", {
    type: options.type ?? "text",
    value: value === null ? "" : String(value),
    step: options.step ?? null,
    placeholder: options.placeholder ?? null,
    inputmode: options.type === "number" ? "decimal" : null,
  });
  return wrap(name, label, input, options.hint);
}

export function checkboxField(name: string, label: string, checked: boolean, hint?: string): Field {
  const input = h("input", { type: "checkbox", checked });
  const field = wrap(name, label, input, hint);
  field.element.classList.add("field-check");
  return field;
}

export function selectField(
  name: string,
  label: string,
  value: string,
  options: [string, string][],
  hint?: string,
): Field {
  const input = h(
    "select",
    {},
    options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)),
  );
  return wrap(name, label, input, hint);
}

/** A number from an input: undefined when left empty (the server's default), NaN when not a number (the
 * server says what is wrong with it). */
export function numberValue(field: Field): number | undefined {
  const text = field.input.value.trim();
  return text === "" ? undefined : Number(text);
}

export function checked(field: Field): boolean {
  return field.input instanceof HTMLInputElement && field.input.checked;
}

interface ValidationItem {
  loc?: unknown[];
  msg?: string;
}

/** The messages of a 422 body by field path ("options.epochs"), and those that name no field. */
export function validationMessages(error: unknown): { byField: Map<string, string[]>; other: string[] } {
  const byField = new Map<string, string[]>();
  const other: string[] = [];
  if (!(error instanceof ApiError)) {
    other.push(error instanceof Error ? error.message : String(error));
    return { byField, other };
  }
  const detail = (error.body as { detail?: unknown } | null)?.detail;
  if (!Array.isArray(detail)) {
    other.push(error.message);
    return { byField, other };
  }
  for (const item of detail as ValidationItem[]) {
    const path = (item.loc ?? []).filter((part) => part !== "body").join(".");
    const message = (item.msg ?? "").replace(/^Value error, /, "");
    const list = byField.get(path) ?? [];
    list.push(message);
    byField.set(path, list);
  }
  return { byField, other };
}

/**
 * Shows an API error on the form: each message next to its field, the others in `general`.
 *
 * Args:
 *   fields: the form's fields.
 *   general: where messages that name no shown field go.
 *   error: what the request threw.
 *   aliases: a path the server names -> the field to show it on (a rule over two fields, say).
 * Returns: the first field with an error (to focus), or null.
 */
export function showErrors(
  fields: Field[],
  general: HTMLElement,
  error: unknown,
  aliases: Record<string, string> = {},
): Field | null {
  clearErrors(fields, general);
  const { byField, other } = validationMessages(error);
  const byName = new Map(fields.map((f) => [f.name, f]));
  let first: Field | null = null;
  for (const [path, messages] of byField) {
    const field = byName.get(aliases[path] ?? path);
    if (!field) {
      other.push(...messages.map((m) => (path ? `${path}: ${m}` : m)));
      continue;
    }
    field.error.textContent = messages.join("; ");
    field.element.classList.add("invalid");
    field.input.setAttribute("aria-invalid", "true");
    first ??= field;
  }
  general.textContent = other.join(" ");
  return first;
}

export function clearErrors(fields: Field[], general: HTMLElement): void {
  for (const field of fields) {
    field.error.textContent = "";
    field.element.classList.remove("invalid");
    field.input.removeAttribute("aria-invalid");
  }
  general.textContent = "";
}
