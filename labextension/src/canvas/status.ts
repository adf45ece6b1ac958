/**
 * The live run status, kept outside React's props: a small store that starts from the
 * `status` trait, follows it, and merges every `node-status` message (changed nodes and edges
 * only; run, message, debugAt and breakpoints replaced). Components subscribe to the slice
 * they show (one node, one edge, the run state), so a message re-renders only what changed
 * instead of re-creating every React Flow node.
 */
import { useCallback, useSyncExternalStore } from "react";
import type { EdgeStatus, NodeState, NodeStatus, NodeStatusMessage, RunState, RunsOn, StatusSnapshot } from "../protocol";

const RUN_STATES: readonly RunState[] = ["idle", "running", "stepping", "done", "stopped", "failed"];
const NODE_STATES: readonly NodeState[] = ["idle", "running", "done", "finished", "error", "breakpoint"];
const RUNS_ON: readonly RunsOn[] = ["", "inline", "worker", "loop", "cluster"];

export const EMPTY_STATUS: StatusSnapshot = {
  run: "idle",
  message: null,
  nodes: {},
  edges: {},
  debugAt: null,
  breakpoints: {},
  dashboard: null,
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function nodeStatus(raw: unknown): NodeStatus | null {
  if (!isObject(raw)) return null;
  const status = NODE_STATES.includes(raw.status as NodeState) ? (raw.status as NodeState) : "idle";
  return {
    status,
    firings: count(raw.firings),
    received: count(raw.received),
    emitted: count(raw.emitted),
    errors: count(raw.errors),
    error: typeof raw.error === "string" ? raw.error : null,
    runsOn: RUNS_ON.includes(raw.runsOn as RunsOn) ? (raw.runsOn as RunsOn) : "",
    moves: count(raw.moves),
  };
}

function edgeStatus(raw: unknown): EdgeStatus | null {
  if (!isObject(raw)) return null;
  return { queued: count(raw.queued), delivered: count(raw.delivered), dropped: count(raw.dropped) };
}

function entries<T>(raw: unknown, f: (v: unknown) => T | null, into: Record<string, T>): Record<string, T> {
  if (!isObject(raw)) return into;
  for (const [id, value] of Object.entries(raw)) {
    const v = f(value);
    if (v !== null) into[id] = v;
  }
  return into;
}

function header(raw: Record<string, unknown>): Omit<StatusSnapshot, "nodes" | "edges"> {
  return {
    run: RUN_STATES.includes(raw.run as RunState) ? (raw.run as RunState) : "idle",
    message: typeof raw.message === "string" && raw.message ? raw.message : null,
    debugAt: typeof raw.debugAt === "string" ? raw.debugAt : null,
    breakpoints: breakpoints(raw.breakpoints),
    dashboard: dashboardUrl(raw.dashboard),
  };
}

/** The Dask dashboard's address when it is an http(s) URL (a link the canvas may open), else null. */
export function dashboardUrl(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** `{node: condition | null}`; an older kernel's list of ids reads as conditions of null. */
function breakpoints(raw: unknown): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(raw)) {
    for (const id of raw) if (typeof id === "string") out[id] = null;
  } else if (isObject(raw)) {
    for (const [id, c] of Object.entries(raw)) out[id] = typeof c === "string" && c ? c : null;
  }
  return out;
}

/** A snapshot from the `status` trait (anything malformed reads as idle). */
export function normalizeStatus(raw: unknown): StatusSnapshot {
  if (!isObject(raw)) return EMPTY_STATUS;
  return { ...header(raw), nodes: entries(raw.nodes, nodeStatus, {}), edges: entries(raw.edges, edgeStatus, {}) };
}

/** `snapshot` with a `node-status` message applied. Untouched entries keep their identity. */
export function mergeStatus(snapshot: StatusSnapshot, msg: NodeStatusMessage | Record<string, unknown>): StatusSnapshot {
  const raw = msg as Record<string, unknown>;
  return {
    ...header(raw),
    nodes: entries(raw.nodes, nodeStatus, { ...snapshot.nodes }),
    edges: entries(raw.edges, edgeStatus, { ...snapshot.edges }),
  };
}

export class StatusStore {
  private snapshot: StatusSnapshot;
  private readonly listeners = new Set<() => void>();
  /** Each node's own problems (the kernel's `graph-problems`), joined; and how many answers came. */
  private nodeProblems: Record<string, string> = {};
  private problemAnswers = 0;

  constructor(initial: StatusSnapshot) {
    this.snapshot = initial;
  }

  get = (): StatusSnapshot => this.snapshot;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  replace(next: StatusSnapshot): void {
    if (next === this.snapshot) return;
    this.snapshot = next;
    for (const l of [...this.listeners]) l();
  }

  problemOf = (node: string): string | undefined => this.nodeProblems[node];

  answers = (): number => this.problemAnswers;

  /** The kernel checked the graph (after any change): mark the nodes it names. */
  setProblems(byNode: Record<string, string[]>): void {
    const next: Record<string, string> = {};
    for (const [node, problems] of Object.entries(byNode)) {
      if (problems.length > 0) next[node] = problems.join("; ");
    }
    this.nodeProblems = next;
    this.problemAnswers += 1;
    for (const l of [...this.listeners]) l();
  }

  merge(msg: NodeStatusMessage): void {
    this.replace(mergeStatus(this.snapshot, msg));
  }

  /** Shows a breakpoint change at once; the kernel's next status confirms or corrects it. */
  setBreakpoint(node: string, enabled: boolean, condition: string | null = null): void {
    const next = { ...this.snapshot.breakpoints };
    if (enabled) next[node] = condition;
    else delete next[node];
    this.replace({ ...this.snapshot, breakpoints: next });
  }
}

/** The node's own problem (its settings, its type), or undefined. */
export function useNodeProblem(store: StatusStore, node: string): string | undefined {
  const get = useCallback(() => store.problemOf(node), [store, node]);
  return useSyncExternalStore(store.subscribe, get);
}

/** How many `graph-problems` answers have come (a settings form waits for the next one). */
export function useProblemAnswers(store: StatusStore): number {
  return useSyncExternalStore(store.subscribe, store.answers);
}

/** A slice of the status; `select` must return a stable value (a primitive or a stored entry). */
export function useStatus<T>(store: StatusStore, select: (s: StatusSnapshot) => T): T {
  const get = useCallback(() => select(store.get()), [store, select]);
  return useSyncExternalStore(store.subscribe, get);
}
