/**
 * The settings form as plain data: the text (or checkbox state) of each field from a node's
 * settings, and the validation that turns the form back into settings. Pure; the panel only
 * renders it. Settings the spec does not declare are kept untouched.
 */
import { MSG } from "./messages";
import type { SettingSpec } from "./types";

export type FieldValue = string | boolean;
export type FormValues = Record<string, FieldValue>;
export type FormErrors = Record<string, string>;

/** What a number field holds while the browser reports text that is not a number. */
export const BAD_NUMBER = "\u0000not-a-number";

export type FieldKind = "text" | "number" | "checkbox" | "select" | "code" | "json";

export function fieldKind(s: SettingSpec): FieldKind {
  switch (s.type) {
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "checkbox";
    case "enum":
      return "select";
    case "expression":
      return "code";
    case "json":
      return "json";
    default:
      return "text"; // string, code-ref and any type this canvas does not know
  }
}

/** How an enum option is shown and compared (options may be numbers or strings). */
export const optionText = (o: unknown): string => (typeof o === "string" ? o : JSON.stringify(o));

function textOf(s: SettingSpec, value: unknown): string {
  if (value === undefined) return "";
  const kind = fieldKind(s);
  if (kind === "json") return JSON.stringify(value, null, 2) ?? "";
  if (kind === "select") return optionText(value);
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? "";
}

/** The form for `settings`: a field per spec setting; an absent boolean shows its default. */
export function initialForm(specs: SettingSpec[], settings: Record<string, unknown>): FormValues {
  const form: FormValues = {};
  for (const s of specs) {
    const has = Object.prototype.hasOwnProperty.call(settings, s.name);
    const value = has ? settings[s.name] : undefined;
    form[s.name] = fieldKind(s) === "checkbox" ? (has ? value === true : s.default === true) : textOf(s, value);
  }
  return form;
}

export type FormResult = { ok: true; settings: Record<string, unknown> } | { ok: false; errors: FormErrors };

/** The value of one field, or an error message; `undefined` value means "not set". */
function parseField(s: SettingSpec, raw: FieldValue): { value?: unknown; error?: string } {
  const kind = fieldKind(s);
  if (kind === "checkbox") return { value: raw === true };
  const text = typeof raw === "string" ? raw : "";
  const blank = text.trim() === "";
  if (blank) return s.required ? { error: MSG.errRequired } : {};
  switch (kind) {
    case "number": {
      if (text === BAD_NUMBER) return { error: MSG.errNumber("…") };
      const t = text.trim();
      const n = Number(t);
      if (!Number.isFinite(n)) return { error: MSG.errNumber(t) };
      if (s.type === "integer" && !Number.isInteger(n)) return { error: MSG.errInteger(t) };
      if (typeof s.minimum === "number" && n < s.minimum) return { error: MSG.errMinimum(s.minimum) };
      if (typeof s.maximum === "number" && n > s.maximum) return { error: MSG.errMaximum(s.maximum) };
      return { value: n };
    }
    case "select": {
      const options = s.options ?? [];
      const match = options.find((o) => optionText(o) === text);
      if (match === undefined) return { error: MSG.errEnum(options.map(optionText)) };
      return { value: match };
    }
    case "json":
      try {
        return { value: JSON.parse(text) as unknown };
      } catch (e) {
        return { error: MSG.errJson(e instanceof Error ? e.message : String(e)) };
      }
    default:
      return { value: text };
  }
}

/**
 * Validates every field; on success the node's new settings: `previous` with each declared
 * setting replaced by its field (or removed when the field is empty and not required).
 */
export function validateForm(specs: SettingSpec[], form: FormValues, previous: Record<string, unknown>): FormResult {
  const errors: FormErrors = {};
  const settings: Record<string, unknown> = { ...previous };
  for (const s of specs) {
    const { value, error } = parseField(s, form[s.name] ?? "");
    if (error !== undefined) errors[s.name] = error;
    else if (value === undefined) delete settings[s.name];
    else settings[s.name] = value;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, settings };
}

/** Whether the form differs from what `settings` would show. */
export function formChanged(specs: SettingSpec[], form: FormValues, settings: Record<string, unknown>): boolean {
  const initial = initialForm(specs, settings);
  return specs.some((s) => initial[s.name] !== form[s.name]);
}
