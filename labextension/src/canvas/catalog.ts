/**
 * The `catalog` trait, made safe to read: node specs keyed by `(id, version)`, the latest
 * version of each id (what the palette offers), the connection rules, and the palette's
 * grouping and search. Pure functions; a malformed entry is skipped, never thrown on.
 */
import type { ConnectionRules, NodeSpec, PortSpec, SettingSpec } from "./types";

export interface Catalog {
  /** Every spec, keyed by `specKey(id, version)`. */
  specs: Map<string, NodeSpec>;
  /** The latest version (semver) of each type id. */
  latest: Map<string, NodeSpec>;
  rules: ConnectionRules;
}

export const specKey = (id: string, version: string): string => `${id}@${version}`;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);

/** Compares two semver strings (`1.10.0 > 1.9.3`, a pre-release below its release). */
export function compareSemver(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?/.exec(v.trim());
    if (!m) return null;
    return { nums: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: m[4] ?? "" };
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : a.localeCompare(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa.nums[i] ?? 0) - (pb.nums[i] ?? 0);
    if (d !== 0) return d;
  }
  if (pa.pre === pb.pre) return 0;
  if (!pa.pre) return 1;
  if (!pb.pre) return -1;
  return pa.pre.localeCompare(pb.pre, undefined, { numeric: true });
}

function normalizePort(raw: unknown): PortSpec | null {
  if (!isObject(raw) || typeof raw.name !== "string") return null;
  return { ...(raw as Partial<PortSpec>), name: raw.name, type: str(raw.type, "any") };
}

function normalizeSetting(raw: unknown): SettingSpec | null {
  if (!isObject(raw) || typeof raw.name !== "string") return null;
  return {
    ...(raw as Partial<SettingSpec>),
    name: raw.name,
    type: str(raw.type, "string"),
    options: Array.isArray(raw.options) ? raw.options : null,
    minimum: typeof raw.minimum === "number" ? raw.minimum : null,
    maximum: typeof raw.maximum === "number" ? raw.maximum : null,
  };
}

function compact<T>(list: unknown, f: (v: unknown) => T | null): T[] {
  if (!Array.isArray(list)) return [];
  const out: T[] = [];
  for (const item of list) {
    const v = f(item);
    if (v !== null) out.push(v);
  }
  return out;
}

/** A spec from the catalog's JSON, with defaults for what is missing; null when it has no id. */
export function normalizeSpec(raw: unknown): NodeSpec | null {
  if (!isObject(raw) || typeof raw.id !== "string" || !raw.id) return null;
  const ui = isObject(raw.ui) ? raw.ui : {};
  const ports = isObject(raw.ports) ? raw.ports : {};
  return {
    ...(raw as Partial<NodeSpec>),
    id: raw.id,
    version: str(raw.version, "0.0.0"),
    category: str(raw.category) || "Other",
    name: str(raw.name) || raw.id,
    description: str(raw.description),
    ui: { ...ui, color: str(ui.color, "#64748b"), icon: str(ui.icon, "box") },
    ports: { inputs: compact(ports.inputs, normalizePort), outputs: compact(ports.outputs, normalizePort) },
    settings: compact(raw.settings, normalizeSetting),
  };
}

function normalizeRules(raw: unknown): ConnectionRules {
  const rules: ConnectionRules = {};
  if (!isObject(raw)) return rules;
  for (const [source, targets] of Object.entries(raw)) {
    if (!isObject(targets)) continue;
    const row: Record<string, string | null> = {};
    for (const [target, reason] of Object.entries(targets)) {
      row[target] = typeof reason === "string" ? reason : null;
    }
    rules[source] = row;
  }
  return rules;
}

export function normalizeCatalog(raw: unknown): Catalog {
  const specs = new Map<string, NodeSpec>();
  const latest = new Map<string, NodeSpec>();
  const nodes = isObject(raw) ? raw.nodes : null;
  for (const spec of compact(nodes, normalizeSpec)) {
    specs.set(specKey(spec.id, spec.version), spec);
    const best = latest.get(spec.id);
    if (!best || compareSemver(spec.version, best.version) > 0) latest.set(spec.id, spec);
  }
  return { specs, latest, rules: normalizeRules(isObject(raw) ? raw.connections : null) };
}

export interface PaletteGroup {
  category: string;
  specs: NodeSpec[];
}

/** The latest specs matching `query` (name, id, category or description), grouped by category. */
export function paletteGroups(latest: Map<string, NodeSpec>, query: string): PaletteGroup[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const groups = new Map<string, NodeSpec[]>();
  for (const spec of latest.values()) {
    const text = `${spec.name}\n${spec.id}\n${spec.category}\n${spec.description}`.toLowerCase();
    if (!words.every((w) => text.includes(w))) continue;
    const list = groups.get(spec.category) ?? [];
    list.push(spec);
    groups.set(spec.category, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([category, specs]) => ({ category, specs: specs.sort((a, b) => a.name.localeCompare(b.name)) }));
}
