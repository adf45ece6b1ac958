/**
 * Pure functions over the GraphSchema document (the `graph` trait) and its React Flow view.
 *
 * Documents are never mutated: every edit returns a new document that shares the untouched
 * nodes and edges with the old one, and keeps every key the canvas does not know (metadata,
 * config, edge transform/filter/buffer, unknown settings). The view (`docToFlowNodes`,
 * `docToFlowEdges`) reuses the previous React Flow objects whose document entry did not
 * change, so memoised node components re-render only when their own node changed.
 */
import { MarkerType, type EdgeMarker } from "@xyflow/react";
import { specKey } from "./catalog";
import type {
  DocEdge,
  DocNode,
  FlowEdge,
  FlowNode,
  FlowNodeData,
  GraphDoc,
  NodeSpec,
  PortSpec,
  Position,
} from "./types";

/** The node's width (fixed in canvas.css) and a typical height, for nodes not measured yet. */
export const DEFAULT_NODE_WIDTH = 240;
export const DEFAULT_NODE_HEIGHT = 100;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const finite = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function normalizeNode(raw: unknown): DocNode | null {
  if (!isObject(raw) || typeof raw.id !== "string" || raw.id === "") return null;
  const pos = raw.position;
  const fine =
    typeof raw.typeId === "string" &&
    typeof raw.version === "string" &&
    isObject(raw.settings) &&
    isObject(pos) &&
    typeof pos.x === "number" &&
    Number.isFinite(pos.x) &&
    typeof pos.y === "number" &&
    Number.isFinite(pos.y);
  if (fine) return raw as DocNode;
  return {
    ...raw,
    id: raw.id,
    typeId: typeof raw.typeId === "string" ? raw.typeId : "",
    version: typeof raw.version === "string" ? raw.version : "",
    settings: isObject(raw.settings) ? raw.settings : {},
    position: isObject(pos) ? { ...pos, x: finite(pos.x), y: finite(pos.y) } : { x: 0, y: 0 },
  };
}

function normalizeEdge(raw: unknown): DocEdge | null {
  if (!isObject(raw) || typeof raw.id !== "string" || raw.id === "") return null;
  if (typeof raw.source !== "string" || typeof raw.target !== "string") return null;
  if (typeof raw.sourcePort === "string" && typeof raw.targetPort === "string") return raw as DocEdge;
  return {
    ...raw,
    id: raw.id,
    source: raw.source,
    target: raw.target,
    sourcePort: typeof raw.sourcePort === "string" ? raw.sourcePort : "",
    targetPort: typeof raw.targetPort === "string" ? raw.targetPort : "",
  };
}

function normalizeList<T extends { id: string }>(raw: unknown, f: (v: unknown) => T | null): [T[], boolean] {
  if (!Array.isArray(raw)) return [[], true];
  const out: T[] = [];
  const seen = new Set<string>();
  let changed = false;
  for (const item of raw) {
    const v = f(item);
    if (v === null || seen.has(v.id)) {
      changed = true;
      continue;
    }
    if (v !== item) changed = true;
    seen.add(v.id);
    out.push(v);
  }
  return [changed ? out : (raw as T[]), changed];
}

/**
 * A document the canvas can show, from whatever the trait holds. A well-formed document is
 * returned as it is (same object); entries without an id, duplicates and non-numeric
 * positions are dropped or repaired so that the canvas never crashes on a hand-written file.
 */
export function normalizeDoc(raw: unknown): GraphDoc {
  const base = isObject(raw) ? raw : {};
  const [nodes, nodesChanged] = normalizeList(base.nodes, normalizeNode);
  const [edges, edgesChanged] = normalizeList(base.edges, normalizeEdge);
  if (isObject(raw) && !nodesChanged && !edgesChanged) return raw as GraphDoc;
  return { ...base, nodes, edges };
}

/** Deep equality of JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && jsonEqual(ra[k], rb[k]));
}

/** Lookups over one document, built once per document (O(nodes + edges)). */
export interface DocIndex {
  nodeById: Map<string, DocNode>;
  /** `edgeKey(...)` of every edge, to refuse duplicates in O(1). */
  edgeKeys: Set<string>;
}

export const edgeKey = (source: string, sourcePort: string, target: string, targetPort: string): string =>
  JSON.stringify([source, sourcePort, target, targetPort]);

export function indexDoc(doc: GraphDoc): DocIndex {
  const nodeById = new Map<string, DocNode>();
  for (const n of doc.nodes) nodeById.set(n.id, n);
  const edgeKeys = new Set<string>();
  for (const e of doc.edges) edgeKeys.add(edgeKey(e.source, e.sourcePort, e.target, e.targetPort));
  return { nodeById, edgeKeys };
}

/** `prefix<k>` with k one more than the largest `prefix<digits>` among `ids` (n1, n2, ...). */
export function nextId(prefix: string, ids: Iterable<string>): string {
  const pattern = new RegExp(`^${prefix}(\\d+)$`);
  let max = 0;
  for (const id of ids) {
    const m = pattern.exec(id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `${prefix}${max + 1}`;
}

/** The settings a new node starts with: the spec's defaults that are not null. */
export function defaultSettings(spec: NodeSpec): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const s of spec.settings) {
    if (s.default !== null && s.default !== undefined) {
      settings[s.name] = JSON.parse(JSON.stringify(s.default)) as unknown;
    }
  }
  return settings;
}

export function addNode(doc: GraphDoc, spec: NodeSpec, position: Position): { doc: GraphDoc; id: string } {
  const id = nextId("n", doc.nodes.map((n) => n.id));
  const node: DocNode = {
    id,
    typeId: spec.id,
    version: spec.version,
    settings: defaultSettings(spec),
    position: { x: Math.round(position.x), y: Math.round(position.y) },
  };
  return { doc: { ...doc, nodes: [...doc.nodes, node] }, id };
}

export interface PortConnection {
  source: string;
  sourcePort: string;
  target: string;
  targetPort: string;
}

export function addEdge(doc: GraphDoc, c: PortConnection): { doc: GraphDoc; id: string } {
  const id = nextId("e", doc.edges.map((e) => e.id));
  const edge: DocEdge = { id, source: c.source, sourcePort: c.sourcePort, target: c.target, targetPort: c.targetPort };
  return { doc: { ...doc, edges: [...doc.edges, edge] }, id };
}

/** Removes the nodes (with every edge attached to them) and the edges; the same doc when nothing goes. */
export function deleteElements(doc: GraphDoc, nodeIds: Iterable<string>, edgeIds: Iterable<string>): GraphDoc {
  const nodes = new Set(nodeIds);
  const edges = new Set(edgeIds);
  const keptNodes = doc.nodes.filter((n) => !nodes.has(n.id));
  const keptEdges = doc.edges.filter((e) => !edges.has(e.id) && !nodes.has(e.source) && !nodes.has(e.target));
  if (keptNodes.length === doc.nodes.length && keptEdges.length === doc.edges.length) return doc;
  return { ...doc, nodes: keptNodes, edges: keptEdges };
}

/** Moves nodes to integer positions; the same doc when no node actually moves. */
export function moveNodes(doc: GraphDoc, positions: Map<string, Position>): GraphDoc {
  let changed = false;
  const nodes = doc.nodes.map((n) => {
    const p = positions.get(n.id);
    if (!p) return n;
    const x = Math.round(p.x);
    const y = Math.round(p.y);
    if (x === n.position.x && y === n.position.y) return n;
    changed = true;
    return { ...n, position: { ...n.position, x, y } };
  });
  return changed ? { ...doc, nodes } : doc;
}

/**
 * Where the node's firings are set to run: its own `execution.offload` override, else its
 * spec's, else "auto". A node set to "cluster" shows the cluster tag before any run.
 */
export function nodeOffload(node: DocNode, spec: NodeSpec | null): string {
  const own = isObject(node.execution) ? node.execution.offload : undefined;
  if (typeof own === "string" && own) return own;
  const declared = spec?.execution?.offload;
  return typeof declared === "string" && declared ? declared : "auto";
}

export function setNodeSettings(doc: GraphDoc, nodeId: string, settings: Record<string, unknown>): GraphDoc {
  return { ...doc, nodes: doc.nodes.map((n) => (n.id === nodeId ? { ...n, settings } : n)) };
}

// ---- the React Flow view --------------------------------------------------------------------

type PortRefs = Map<string, { inputs: Set<string>; outputs: Set<string> }>;

/** The port names each node's edges use (to show ports a spec lacks, or a node of unknown type). */
function portRefs(doc: GraphDoc): PortRefs {
  const refs: PortRefs = new Map();
  const get = (id: string) => {
    let r = refs.get(id);
    if (!r) refs.set(id, (r = { inputs: new Set(), outputs: new Set() }));
    return r;
  };
  const ids = new Set(doc.nodes.map((n) => n.id));
  for (const e of doc.edges) {
    if (!ids.has(e.source) || !ids.has(e.target)) continue; // not drawn: see docToFlowEdges
    if (e.sourcePort) get(e.source).outputs.add(e.sourcePort);
    if (e.targetPort) get(e.target).inputs.add(e.targetPort);
  }
  return refs;
}

function withReferenced(declared: PortSpec[], used: Set<string> | undefined): PortSpec[] {
  if (!used || used.size === 0) return declared;
  const names = new Set(declared.map((p) => p.name));
  const extra = [...used].filter((name) => !names.has(name));
  if (extra.length === 0) return declared;
  return [...declared, ...extra.map((name) => ({ name, type: "any", unknown: true }))];
}

const samePorts = (a: PortSpec[], b: PortSpec[]): boolean =>
  a === b || (a.length === b.length && a.every((p, i) => p.name === b[i]?.name && p.type === b[i]?.type));

/**
 * React Flow nodes for `doc`. A previous node whose document entry and spec are unchanged is
 * reused as it is; otherwise the new node keeps the previous one's `selected` and `measured`.
 * `select`, when given, replaces the selection.
 */
export function docToFlowNodes(
  doc: GraphDoc,
  prev: FlowNode[],
  specs: Map<string, NodeSpec>,
  select: Set<string> | null = null,
): FlowNode[] {
  const prevById = new Map<string, FlowNode>();
  for (const n of prev) prevById.set(n.id, n);
  const refs = portRefs(doc);
  return doc.nodes.map((node) => {
    const old = prevById.get(node.id);
    const spec = specs.get(specKey(node.typeId, node.version)) ?? null;
    const used = refs.get(node.id);
    const inputs = withReferenced(spec?.ports.inputs ?? [], used?.inputs);
    const outputs = withReferenced(spec?.ports.outputs ?? [], used?.outputs);
    const selected = select ? select.has(node.id) : (old?.selected ?? false);
    const sameData =
      old !== undefined &&
      old.data.node === node &&
      old.data.spec === spec &&
      samePorts(old.data.inputs, inputs) &&
      samePorts(old.data.outputs, outputs);
    if (old && sameData && old.selected === selected) return old;
    const data: FlowNodeData = sameData && old ? old.data : { node, spec, inputs, outputs };
    const flowNode: FlowNode = {
      id: node.id,
      type: "dfj",
      position: { x: node.position.x, y: node.position.y },
      data,
      selected,
    };
    if (old?.measured) flowNode.measured = old.measured;
    return flowNode;
  });
}

const EDGE_MARKER: EdgeMarker = { type: MarkerType.ArrowClosed, width: 14, height: 14 };
const INVALID_EDGE_Z = 1000;
const INVALID_MARKER: EdgeMarker = { type: MarkerType.ArrowClosed, width: 14, height: 14, color: "#dc2626" };

/**
 * React Flow edges for `doc` (edges whose nodes are missing are not shown), keeping selection.
 * An edge in `problems` (a port its node lacks, a type the target refuses) is drawn invalid:
 * dashed red with a red arrow and a warning mark that names the problem.
 */
export function docToFlowEdges(
  doc: GraphDoc,
  prev: FlowEdge[],
  select: Set<string> | null = null,
  problems: Map<string, string> = new Map(),
): FlowEdge[] {
  const prevById = new Map<string, FlowEdge>();
  for (const e of prev) prevById.set(e.id, e);
  const nodeIds = new Set(doc.nodes.map((n) => n.id));
  const out: FlowEdge[] = [];
  for (const edge of doc.edges) {
    if (!nodeIds.has(edge.source) || !nodeIds.has(edge.target)) continue;
    const old = prevById.get(edge.id);
    const selected = select ? select.has(edge.id) : (old?.selected ?? false);
    const problem = problems.get(edge.id) ?? null;
    if (old && old.data?.edge === edge && old.selected === selected && (old.data?.problem ?? null) === problem) {
      out.push(old);
      continue;
    }
    out.push({
      id: edge.id,
      type: "dfj",
      source: edge.source,
      sourceHandle: edge.sourcePort,
      target: edge.target,
      targetHandle: edge.targetPort,
      data: { edge, problem },
      selected,
      markerEnd: problem ? INVALID_MARKER : EDGE_MARKER,
      // over the nodes: an invalid edge crossing a node is seen crossing it, never taken for
      // an edge that starts there
      ...(problem ? { zIndex: INVALID_EDGE_Z } : {}),
    });
  }
  return out;
}

// ---- placing new nodes ----------------------------------------------------------------------

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const overlaps = (a: Rect, b: Rect, gap: number): boolean =>
  a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;

/**
 * A top-left position for a new node inside `view` (flow coordinates) that overlaps none of
 * `occupied`: the first free spot of a fine grid scanned row by row from the view's top-left.
 * When the view has no free spot, the spot that overlaps the least, shifted by `stagger`
 * so that repeated adds do not land exactly on each other.
 */
export function findFreeSpot(view: Rect, occupied: Rect[], stagger: number): Position {
  const w = DEFAULT_NODE_WIDTH;
  const h = DEFAULT_NODE_HEIGHT;
  const margin = 24;
  const gap = 16;
  // A 20-unit grid, coarser in a large view: at most ~2,000 candidate spots.
  const step = Math.max(20, Math.ceil(Math.sqrt((Math.max(view.width, 1) * Math.max(view.height, 1)) / 2000)));
  const inView = occupied.filter((r) => overlaps(r, view, gap));
  const x0 = view.x + margin;
  const y0 = view.y + margin;
  const x1 = Math.max(x0, view.x + view.width - w - margin / 2);
  const y1 = Math.max(y0, view.y + view.height - h - margin / 2);
  let best: { x: number; y: number; cost: number } | null = null;
  for (let y = y0; y <= y1; y += step) {
    for (let x = x0; x <= x1; x += step) {
      const cell = { x, y, width: w, height: h };
      let cost = 0;
      for (const r of inView) {
        if (!overlaps(r, cell, gap)) continue;
        const dx = Math.min(r.x + r.width, x + w) - Math.max(r.x, x);
        const dy = Math.min(r.y + r.height, y + h) - Math.max(r.y, y);
        cost += Math.max(dx, 1) * Math.max(dy, 1);
      }
      if (cost === 0) return { x: Math.round(x), y: Math.round(y) };
      if (!best || cost < best.cost) best = { x, y, cost };
    }
  }
  const k = stagger % 8;
  const spot = best ?? { x: x0, y: y0 };
  return { x: Math.round(spot.x + k * 24), y: Math.round(spot.y + k * 24) };
}
