/**
 * May this output feed that input? The canvas asks before an edge exists (React Flow's
 * `isValidConnection`) and explains a refusal when the user lets go (`onConnectEnd`).
 *
 * Port types follow the catalog's rules (`connections[sourceType][targetType]`: a reason
 * string refuses, null allows). A pair the rules do not list falls back to the kernel's rule
 * (ports.py `connection_problems`): `any`/`signal` inputs and `any` outputs connect to
 * everything, otherwise the types must be equal. Narrowed ports are checked like the kernel
 * does: table columns, object properties (required, and their types), and schema ids with
 * their major versions. `tests/widget/test_connection_parity.py` holds the two to the same verdicts.
 */
import { specKey } from "./catalog";
import { edgeKey, type DocIndex, type PortConnection } from "./graphDoc";
import { MSG } from "./messages";
import type { ConnectionRules, GraphDoc, NodeSpec, PortSpec } from "./types";

const ARROW_ALIASES: Record<string, string> = {
  double: "float64",
  float: "float32",
  halffloat: "float16",
  utf8: "string",
  large_utf8: "large_string",
  bool: "boolean",
  int: "int32",
};
const arrowType = (t: string): string => {
  const k = t.trim().toLowerCase();
  return ARROW_ALIASES[k] ?? k;
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Why `source` may not feed `target` (port level), or null when it may. */
export function portProblem(source: PortSpec, target: PortSpec, rules: ConnectionRules): string | null {
  const rule = rules[source.type]?.[target.type];
  if (typeof rule === "string") return rule;
  if (rule === undefined) {
    const loose = target.type === "any" || target.type === "signal" || source.type === "any";
    if (!loose && source.type !== target.type) return MSG.reasonTypeMismatch(source.type, target.type);
  }
  if (source.type === target.type && target.type === "table" && target.columns && source.columns) {
    for (const [name, wanted] of Object.entries(target.columns)) {
      const have = source.columns[name];
      if (have === undefined) return MSG.reasonMissingColumn(name, wanted);
      if (arrowType(have) !== arrowType(wanted)) return MSG.reasonColumnType(name, have, wanted);
    }
  }
  if (source.type === target.type && target.type === "object" && isObject(target.schema) && isObject(source.schema)) {
    const props = isObject(source.schema.properties) ? source.schema.properties : {};
    const wantedProps = isObject(target.schema.properties) ? target.schema.properties : {};
    const required = Array.isArray(target.schema.required) ? target.schema.required : [];
    for (const name of required) {
      if (typeof name === "string" && !(name in props)) return MSG.reasonMissingProperty(name);
    }
    for (const [name, wanted] of Object.entries(wantedProps)) {
      const have = props[name];
      if (!isObject(have) || !isObject(wanted)) continue;
      if (have.type && wanted.type && JSON.stringify(have.type) !== JSON.stringify(wanted.type)) {
        return MSG.reasonPropertyType(name, String(have.type), String(wanted.type));
      }
    }
  }
  if (source.schemaId && target.schemaId) {
    if (source.schemaId !== target.schemaId) return MSG.reasonSchemaId(source.schemaId, target.schemaId);
    if (source.schemaVersion && target.schemaVersion) {
      const major = (v: string) => Number.parseInt(v.replace(/^v/, ""), 10);
      if (major(source.schemaVersion) !== major(target.schemaVersion)) {
        return MSG.reasonSchemaMajor(source.schemaId, source.schemaVersion, target.schemaVersion);
      }
    }
  }
  return null;
}

/**
 * The full message refusing `c` ("Cannot connect Filter.out (table) → Mapper.in (number): ..."),
 * or null when the connection is allowed.
 */
export function connectionProblem(
  c: PortConnection,
  index: DocIndex,
  specs: Map<string, NodeSpec>,
  rules: ConnectionRules,
  /** True for an edge already in the document (no duplicate check). */
  existing = false,
): string | null {
  const sourceNode = index.nodeById.get(c.source);
  const targetNode = index.nodeById.get(c.target);
  const sourceSpec = sourceNode ? specs.get(specKey(sourceNode.typeId, sourceNode.version)) : undefined;
  const targetSpec = targetNode ? specs.get(specKey(targetNode.typeId, targetNode.version)) : undefined;
  const sourcePort = sourceSpec?.ports.outputs.find((p) => p.name === c.sourcePort);
  const targetPort = targetSpec?.ports.inputs.find((p) => p.name === c.targetPort);
  const from = MSG.endpoint(sourceSpec?.name ?? c.source, c.sourcePort, sourcePort?.type ?? "?");
  const to = MSG.endpoint(targetSpec?.name ?? c.target, c.targetPort, targetPort?.type ?? "?");
  const refuse = (reason: string) => MSG.connectionRefused(from, to, reason);

  if (!sourceNode) return refuse(MSG.reasonMissingNode(c.source));
  if (!targetNode) return refuse(MSG.reasonMissingNode(c.target));
  if (c.source === c.target) return refuse(MSG.reasonSelfLoop);
  if (!sourceSpec) return refuse(MSG.reasonUnknownType(c.source));
  if (!targetSpec) return refuse(MSG.reasonUnknownType(c.target));
  if (!sourcePort) return refuse(MSG.reasonUnknownPort(c.source, c.sourcePort, "output"));
  if (!targetPort) return refuse(MSG.reasonUnknownPort(c.target, c.targetPort, "input"));
  if (!existing && index.edgeKeys.has(edgeKey(c.source, c.sourcePort, c.target, c.targetPort))) {
    return refuse(MSG.reasonDuplicate);
  }
  const reason = portProblem(sourcePort, targetPort, rules);
  return reason === null ? null : refuse(reason);
}

/** The message for a drag between two outputs or two inputs (React Flow refuses it). */
export function sameSideProblem(
  a: { node: string; port: string },
  b: { node: string; port: string },
  side: "source" | "target",
  index: DocIndex,
  specs: Map<string, NodeSpec>,
): string {
  const describe = ({ node, port }: { node: string; port: string }) => {
    const doc = index.nodeById.get(node);
    const spec = doc ? specs.get(specKey(doc.typeId, doc.version)) : undefined;
    const ports = side === "source" ? spec?.ports.outputs : spec?.ports.inputs;
    return MSG.endpoint(spec?.name ?? node, port, ports?.find((p) => p.name === port)?.type ?? "?");
  };
  return MSG.connectionRefused(describe(a), describe(b), MSG.reasonSameDirection);
}

/**
 * The problem of each edge of a loaded document (`connectionProblem` of an edge that exists),
 * by edge id. A node of unknown type is reported on the node, not on each of its edges.
 */
export function edgeProblems(
  doc: GraphDoc,
  index: DocIndex,
  specs: Map<string, NodeSpec>,
  rules: ConnectionRules,
): Map<string, string> {
  const problems = new Map<string, string>();
  const known = (id: string) => {
    const node = index.nodeById.get(id);
    return node !== undefined && specs.has(specKey(node.typeId, node.version));
  };
  for (const edge of doc.edges) {
    if (!known(edge.source) || !known(edge.target)) continue;
    const problem = connectionProblem(edge, index, specs, rules, true);
    if (problem) problems.set(edge.id, problem);
  }
  return problems;
}
