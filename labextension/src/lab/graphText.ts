/**
 * The `.dfgraph.json` text of a graph document, byte for byte what Python's `Graph.save`
 * (`Graph.to_json`) writes for the same document, so a file edited in JupyterLab and one
 * saved from a kernel diff cleanly:
 *
 * - keys in the order of the Python models (`dataflow_jupyter/graph/_model.py`); keys the
 *   models do not know (a hand-edited file) follow, in their order;
 * - optional keys whose value is null are left out (`exclude_none`), except inside settings,
 *   which are the node's own JSON and kept as they are;
 * - positions are floats, written as Python writes them (`100.0`, `1e-07`);
 * - two-space indentation, `", "`-free separators as `json.dumps(indent=2)` writes them,
 *   non-ASCII characters as themselves (`ensure_ascii=False`), one newline at the end.
 *
 * A number in settings that Python read as a float with an integral value (`1.0`) is written
 * `1` here (JavaScript has one number type): such a file still loads to the same value.
 * `test_graph_text_parity.py` holds this module to `Graph.to_json` on sample documents.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Key order of an object kind, its optional keys, and the kinds of its children. */
interface Shape {
  keys: string[];
  /** Optional keys left out when null. */
  optional?: string[];
  children?: Record<string, Kind>;
}
type Kind = Shape | "list-node" | "list-edge" | "settings" | "position";

const POSITION: Shape = { keys: ["x", "y"] };
const BUFFER: Shape = { keys: ["size", "overflow"] };
const STATE: Shape = { keys: ["type", "path", "url", "prefix"], optional: ["path", "url", "prefix"] };
const CONFIG: Shape = { keys: ["maxConcurrency", "stateStorage"], children: { stateStorage: STATE } };
const METADATA: Shape = { keys: ["author", "createdAt", "description", "tags"], optional: ["createdAt"] };
const EXECUTION: Shape = { keys: ["offload", "parallelism"], optional: ["offload", "parallelism"] };
const NODE: Shape = {
  keys: ["id", "typeId", "version", "settings", "position", "execution"],
  optional: ["execution"],
  children: { settings: "settings", position: "position", execution: EXECUTION },
};
const EDGE: Shape = {
  keys: ["id", "source", "sourcePort", "target", "targetPort", "transform", "filter", "buffer"],
  optional: ["transform", "filter", "buffer"],
  children: { buffer: BUFFER },
};
const GRAPH: Shape = {
  keys: ["$schema", "id", "version", "metadata", "config", "nodes", "edges"],
  optional: ["$schema"],
  children: { metadata: METADATA, config: CONFIG, nodes: "list-node", edges: "list-edge" },
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A float as Python's `repr` writes it: `100.0`, `0.5`, `1e+16`, `1e-07`. */
export function pythonFloat(n: number): string {
  if (!Number.isFinite(n)) return String(n); // refused by the loader before it gets here
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    const [mantissa, exponent] = n.toExponential().split("e") as [string, string];
    const sign = exponent.startsWith("-") ? "-" : "+";
    const digits = exponent.replace(/^[+-]/, "").padStart(2, "0");
    return `${mantissa}e${sign}${digits}`;
  }
  const text = String(n);
  return Number.isInteger(n) ? `${text}.0` : text;
}

function ordered(value: Record<string, unknown>, shape: Shape): Array<[string, unknown, Kind | null]> {
  const out: Array<[string, unknown, Kind | null]> = [];
  for (const key of shape.keys) {
    if (!(key in value)) continue;
    const v = value[key];
    if (v === undefined || (v === null && shape.optional?.includes(key))) continue;
    out.push([key, v, shape.children?.[key] ?? null]);
  }
  for (const [key, v] of Object.entries(value)) {
    if (!shape.keys.includes(key) && v !== undefined) out.push([key, v, null]);
  }
  return out;
}

function write(value: unknown, kind: Kind | null, indent: string): string {
  const inner = `${indent}  `;
  if (kind === "position" && isObject(value)) {
    const entries = ordered(value, POSITION).map(
      ([k, v]) => `${inner}${JSON.stringify(k)}: ${typeof v === "number" ? pythonFloat(v) : write(v, null, inner)}`,
    );
    return entries.length ? `{\n${entries.join(",\n")}\n${indent}}` : "{}";
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const item: Kind | null = kind === "list-node" ? NODE : kind === "list-edge" ? EDGE : null;
    return `[\n${value.map((v) => inner + write(v, item, inner)).join(",\n")}\n${indent}]`;
  }
  if (isObject(value)) {
    const shape = kind !== null && typeof kind === "object" ? kind : null;
    const entries = shape
      ? ordered(value, shape)
      : Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]): [string, unknown, Kind | null] => [k, v, null]);
    if (entries.length === 0) return "{}";
    return `{\n${entries.map(([k, v, c]) => `${inner}${JSON.stringify(k)}: ${write(v, c, inner)}`).join(",\n")}\n${indent}}`;
  }
  if (typeof value === "number" && !Number.isInteger(value)) return pythonFloat(value);
  return JSON.stringify(value as Json) ?? "null";
}

/** The document as the text `Graph.save` writes. */
export function graphText(doc: unknown): string {
  return `${write(doc, GRAPH, "")}\n`;
}

/** A new, empty graph document (what `Graph()` saves), created now. */
export function emptyGraph(id = "graph"): Record<string, unknown> {
  const createdAt = `${new Date().toISOString().slice(0, 19)}+00:00`;
  return {
    id,
    version: "1.0.0",
    metadata: { author: "", createdAt, description: "", tags: [] },
    config: { maxConcurrency: 16, stateStorage: { type: "memory" } },
    nodes: [],
    edges: [],
  };
}
