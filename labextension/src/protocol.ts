/**
 * The widget protocol, front-end side (docs/design.md §5). `dataflow_jupyter/widget/protocol.py`
 * is the kernel side; `tests/widget/test_protocol.py` reads this file and checks that both
 * sides name the same message types with the same fields.
 *
 * Three traits carry state: `graph` (the whole GraphSchema document, written by the canvas
 * when a drag stops or a structural edit ends, and by Python), `catalog` (the registry's node
 * specs plus the port-type connection rules) and `status` (a snapshot of the run, at most
 * once a second and when the run state changes). Custom messages, each `{type: ...}`, carry
 * everything else; binary payloads travel in the message's buffers, never as JSON.
 */

// ---- shared shapes ------------------------------------------------------------------------

export type RunState = "idle" | "running" | "stepping" | "done" | "stopped" | "failed";
/** `done`: fired and now waits; `finished`: reached end of stream (it will not fire again). */
export type NodeState = "idle" | "running" | "done" | "finished" | "error" | "breakpoint";
/** Where a node's firings run ("" before a run); "cluster": on the executor's Dask cluster. */
export type RunsOn = "" | "inline" | "worker" | "loop" | "cluster";

export interface NodeStatus {
  status: NodeState;
  firings: number;
  received: number;
  emitted: number;
  errors: number;
  /** The message of the node's last error, shown on the node. */
  error: string | null;
  /** Where its firings run. */
  runsOn: RunsOn;
  /** How often the placement rule moved it. */
  moves: number;
}

export interface EdgeStatus {
  queued: number;
  delivered: number;
  dropped: number;
}

/** The `status` trait: the whole run as it stands. */
export interface StatusSnapshot {
  run: RunState;
  message: string | null;
  nodes: Record<string, NodeStatus>;
  edges: Record<string, EdgeStatus>;
  debugAt: string | null;
  /** Node id -> the breakpoint's condition (an expression on the input), null: always stop. */
  breakpoints: Record<string, string | null>;
  /** The Dask dashboard's URL while the runtime's executor has a cluster (else null or absent). */
  dashboard?: string | null;
}

/** `ErrorPacket.to_dict()`. */
export interface ErrorPacketDict {
  code: string;
  message: string;
  node_id: string;
  trace_id: string | null;
  recoverable: boolean;
  attempt: number;
  timestamp: number;
  details: Record<string, unknown>;
  packet_id: string;
  failed_packet_id: string | null;
}

// ---- front end -> kernel ------------------------------------------------------------------

/** The canvas's whole graph, before a run: the kernel validates it and answers `deploy-result`. */
export interface DeployGraphMessage {
  type: "deploy-graph";
  graph: Record<string, unknown>;
}

/** Run the deployed graph as a background task on the kernel loop. */
export interface RunMessage {
  type: "run";
}

/** Stop a run (sources stop, in-flight packets drain) or end a debugging session. */
export interface StopMessage {
  type: "stop";
}

/** One firing under the debugger (a debugger is opened on the first step). */
export interface StepMessage {
  type: "step";
}

/** Set (`enabled`) or clear a breakpoint; `condition` (an expression on the input) or null. */
export interface SetBreakpointMessage {
  type: "set-breakpoint";
  node: string;
  enabled: boolean;
  condition: string | null;
}

/**
 * The last packets of an output port (`node` + `port`) or of an edge (`edge`: what crossed
 * it, read at its target's input port). Answered by `inspect-result`.
 */
export interface InspectMessage {
  type: "inspect";
  request: number;
  node: string | null;
  port: string | null;
  edge: string | null;
  offset: number;
  limit: number;
}

/** Ask for the ELK layout engine (kept out of the widget bundle; answered by `layout-engine`). */
export interface LoadLayoutEngineMessage {
  type: "load-layout-engine";
}

export type FrontendMessage =
  | DeployGraphMessage
  | RunMessage
  | StopMessage
  | StepMessage
  | SetBreakpointMessage
  | InspectMessage
  | LoadLayoutEngineMessage;

// ---- kernel -> front end ------------------------------------------------------------------

/**
 * Live changes since the last `node-status`: a snapshot holding only the nodes and edges that
 * changed, at most ~10 messages a second however many packets flow.
 */
export interface NodeStatusMessage extends StatusSnapshot {
  type: "node-status";
}

export interface NodeExecutionErrorMessage {
  type: "node-execution-error";
  node: string;
  error: ErrorPacketDict;
}

/** One page of packets; `buffers[0]` is an Arrow IPC stream of those rows (absent on error). */
export interface InspectResultMessage {
  type: "inspect-result";
  request: number;
  where: string;
  offset: number;
  total: number;
  error: string | null;
}

/** The answer to `deploy-graph` (and to `run` or `step` when the graph is not valid). */
export interface DeployResultMessage {
  type: "deploy-result";
  ok: boolean;
  problems: string[];
}

/**
 * Each node's own problems (unknown type or version, settings its spec or its class refuses),
 * sent after every change of the graph; nodes without problems are left out.
 */
export interface GraphProblemsMessage {
  type: "graph-problems";
  nodes: Record<string, string[]>;
}

/** `buffers[0]` is the source of elkjs's `elk-worker.min.js`, to start as a Web Worker. */
export interface LayoutEngineMessage {
  type: "layout-engine";
}

export type KernelMessage =
  | NodeStatusMessage
  | NodeExecutionErrorMessage
  | InspectResultMessage
  | DeployResultMessage
  | GraphProblemsMessage
  | LayoutEngineMessage;
