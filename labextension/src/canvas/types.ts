/**
 * Shapes the canvas works with: the GraphSchema document (the `graph` trait), the node specs
 * and connection rules of the `catalog` trait, and the data React Flow nodes and edges carry.
 *
 * Documents come from Python and from files, so every shape keeps unknown keys
 * (`[key: string]: unknown`): the canvas edits what it knows and passes the rest through.
 */
import type { Edge, Node } from "@xyflow/react";

export interface Position {
  x: number;
  y: number;
}

/** Where a node's firings run, per node instance (the node type's `execution` otherwise). */
export type Offload = "auto" | "thread" | "none" | "cluster";

/** A node instance's override of its type's execution (`GraphNode.execution` in Python). */
export interface NodeExecution {
  offload?: Offload | null;
  parallelism?: number | null;
  [key: string]: unknown;
}

export interface DocNode {
  id: string;
  typeId: string;
  version: string;
  settings: Record<string, unknown>;
  position: Position;
  /** Kept as it came: the canvas shows it (a node on the cluster), it does not edit it. */
  execution?: NodeExecution | null;
  [key: string]: unknown;
}

export interface DocEdge {
  id: string;
  source: string;
  sourcePort: string;
  target: string;
  targetPort: string;
  [key: string]: unknown;
}

export interface GraphDoc {
  nodes: DocNode[];
  edges: DocEdge[];
  [key: string]: unknown;
}

export interface PortSpec {
  name: string;
  type: string;
  required?: boolean;
  description?: string;
  schemaId?: string | null;
  schemaVersion?: string | null;
  columns?: Record<string, string> | null;
  schema?: Record<string, unknown> | null;
  /** Set by the canvas for a port an edge names but the node's spec lacks. */
  unknown?: boolean;
}

export type SettingType =
  | "string"
  | "number"
  | "integer"
  | "boolean"
  | "enum"
  | "expression"
  | "json"
  | "code-ref";

export interface SettingSpec {
  name: string;
  type: SettingType | string;
  label?: string | null;
  description?: string | null;
  options?: unknown[] | null;
  default?: unknown;
  required?: boolean | null;
  minimum?: number | null;
  maximum?: number | null;
}

export interface NodeSpec {
  id: string;
  version: string;
  category: string;
  name: string;
  description: string;
  ui: { color: string; icon: string; resizable?: boolean };
  execution?: Record<string, unknown>;
  ports: { inputs: PortSpec[]; outputs: PortSpec[] };
  settings: SettingSpec[];
}

/** `connections[sourceType][targetType]`: a reason string when refused, `null` when allowed. */
export type ConnectionRules = Record<string, Record<string, string | null>>;

/** What React Flow's custom node receives: the document node, its spec and its ports. */
export type FlowNodeData = {
  node: DocNode;
  /** `null` when the catalog has no spec for the node's typeId + version. */
  spec: NodeSpec | null;
  inputs: PortSpec[];
  outputs: PortSpec[];
};

export type FlowEdgeData = {
  edge: DocEdge;
  /** Why this edge cannot run (a missing port, a type the target refuses), or null. */
  problem: string | null;
};

export type FlowNode = Node<FlowNodeData, "dfj">;
export type FlowEdge = Edge<FlowEdgeData, "dfj">;
