/**
 * An Arrow IPC stream (the buffer of an `inspect-result`) as rows of short display strings.
 * Values are formatted compactly: bigints as digits, dates and timestamps as ISO times,
 * nested lists/structs/maps as JSON, bytes as a length, null as null (an empty cell).
 */
import { DataType, tableFromIPC, type Field } from "apache-arrow";
import { MSG } from "./messages";

export interface PreviewTable {
  columns: string[];
  /** The Arrow type of each column, for the header's tooltip. */
  types: string[];
  /** Whether each column is packet metadata (named by the kernel in the schema metadata). */
  meta: boolean[];
  rows: (string | null)[][];
  /** Each cell's full text (a float's every digit, an unclipped string), for its tooltip. */
  full: (string | null)[][];
}

/** The schema metadata key naming the packet-metadata columns (widget/inspection.py). */
export const META_KEY = "dataflow.metadata";

/**
 * A float as people read it: at most 6 significant digits past the point (3685.2272727272725
 * → 3685.2273, 0.000123456 → 0.000123456, 1.5e-9 → 1.5e-9), no thousands separators (the
 * text can be copied back into code). Integers stay as they are.
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e15 || abs < 1e-6) return n.toPrecision(6).replace(/\.?0+e/, "e");
  const decimals = abs >= 1 ? 4 : Math.min(12, 3 - Math.floor(Math.log10(abs)) + 2);
  return n.toFixed(decimals).replace(/\.?0+$/, "");
}

const MAX_CELL = 200;

const clip = (s: string): string => (s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s);

/**
 * Compact JSON of a nested Arrow value (a list Vector, a struct or map row, plain data):
 * bigints as bare digits, bytes as their length, dates as ISO strings. Stops after MAX_CELL
 * characters, so a huge nested value costs no more than what is shown.
 */
export function nestedText(value: unknown): string {
  const out: string[] = [];
  let length = 0;
  const push = (s: string) => {
    out.push(s);
    length += s.length;
  };
  const walk = (v: unknown, depth: number): void => {
    if (length > MAX_CELL) return;
    if (v === null || v === undefined) return push("null");
    if (typeof v === "bigint") return push(v.toString());
    if (typeof v === "number") return push(Number.isFinite(v) ? String(v) : JSON.stringify(String(v)));
    if (typeof v === "string") return push(JSON.stringify(v));
    if (typeof v === "boolean") return push(String(v));
    if (v instanceof Date) return push(JSON.stringify(Number.isNaN(v.getTime()) ? String(v) : v.toISOString()));
    if (v instanceof Uint8Array) return push(JSON.stringify(MSG.bytes(v.byteLength)));
    if (depth > 8) return push("…");
    const asJson = (v as { toJSON?: () => unknown }).toJSON;
    if (typeof asJson === "function" && !Array.isArray(v)) return walk(asJson.call(v), depth + 1);
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      const items = Array.isArray(v) ? v : Array.from(v as unknown as ArrayLike<unknown>);
      push("[");
      items.forEach((item, i) => {
        if (i > 0) push(",");
        walk(item, depth + 1);
      });
      return push("]");
    }
    if (typeof v === "object") {
      push("{");
      Object.entries(v as Record<string, unknown>).forEach(([k, item], i) => {
        if (i > 0) push(",");
        push(`${JSON.stringify(k)}:`);
        walk(item, depth + 1);
      });
      return push("}");
    }
    return push(JSON.stringify(String(v)));
  };
  walk(value, 0);
  return clip(out.join(""));
}

/** One cell's text; `type` tells epoch numbers that are times from plain numbers. */
export function formatValue(value: unknown, type?: DataType): string | null {
  if (value === null || value === undefined) return null;
  if (type && (DataType.isTimestamp(type) || DataType.isDate(type)) && (typeof value === "number" || typeof value === "bigint")) {
    const d = new Date(Number(value));
    return Number.isNaN(d.getTime()) ? String(value) : d.toISOString();
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  switch (typeof value) {
    case "string":
      return clip(value);
    case "number":
      return formatNumber(value);
    case "boolean":
    case "bigint":
      return String(value);
    default:
      break;
  }
  if (value instanceof Uint8Array) return MSG.bytes(value.byteLength);
  try {
    return nestedText(value);
  } catch {
    return clip(String(value));
  }
}

/** Decodes `buffer` (a DataView from the message's buffers) into a preview table. */
export function decodeArrow(buffer: DataView | ArrayBuffer | Uint8Array): PreviewTable {
  const bytes =
    buffer instanceof Uint8Array
      ? buffer
      : buffer instanceof ArrayBuffer
        ? new Uint8Array(buffer)
        : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const table = tableFromIPC(bytes);
  const fields: Field[] = table.schema.fields;
  const vectors = fields.map((_, i) => table.getChildAt(i));
  const rows: (string | null)[][] = [];
  const full: (string | null)[][] = [];
  for (let r = 0; r < table.numRows; r++) {
    const values = fields.map((_, c) => vectors[c]?.get(r) as unknown);
    rows.push(fields.map((f, c) => formatValue(values[c], f.type)));
    full.push(values.map((v) => (v === null || v === undefined ? null : typeof v === "string" ? v : typeof v === "number" ? String(v) : null)));
  }
  let metaNames = new Set<string>();
  try {
    const named = JSON.parse(table.schema.metadata.get(META_KEY) ?? "[]") as unknown;
    if (Array.isArray(named)) metaNames = new Set(named.filter((n): n is string => typeof n === "string"));
  } catch {
    // no metadata named: every column is shown
  }
  return {
    columns: fields.map((f) => f.name),
    types: fields.map((f) => String(f.type)),
    meta: fields.map((f) => metaNames.has(f.name)),
    rows,
    full,
  };
}
