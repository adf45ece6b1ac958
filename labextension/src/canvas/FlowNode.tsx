/**
 * The canvas node (a fixed width: a long error never widens it over its neighbours): a header
 * in the spec's colour with icon, name, id and breakpoint toggle; the breakpoint's condition,
 * editable in place; one React Flow `Handle` per port (inputs left, outputs right, each
 * labelled with name and type; a port an edge names but the spec lacks is marked missing);
 * a status badge with packets in and out and where its firings run (`thread`, `inline`, or
 * `cluster`: shown before a run too, for a node set to run on the cluster); the node's own problem (a setting it refuses); the
 * last error (three lines, all of it on hover). Memoised: it re-renders when its own
 * document node changes or when its own slice of the run status does (read from the store).
 */
import { memo, useState, type CSSProperties, type KeyboardEvent, type MouseEvent } from "react";
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { useCanvas } from "./context";
import { cls, compactNumber } from "./format";
import { nodeOffload } from "./graphDoc";
import { NodeIcon } from "./icons";
import { MSG } from "./messages";
import { useNodeProblem, useStatus } from "./status";
import type { FlowNode as FlowNodeType, PortSpec } from "./types";

const UNKNOWN_COLOR = "#64748b";

function portClass(p: PortSpec): string {
  return cls("dfj-handle", `dfj-type-${p.unknown ? "unknown" : p.type}`);
}

/** A port an edge names but the node lacks: the edge attaches here, marked "missing port". */
const Missing = () => (
  <span className="dfj-port-missing" data-testid="missing-port">
    ⚠ {MSG.missingPort}
  </span>
);

const InputPort = memo(function InputPort({ port }: { port: PortSpec }) {
  const title = p2title(port, true);
  return (
    <div className={cls("dfj-port", "dfj-port-in", port.unknown && "dfj-port-unknown")} title={title}>
      <Handle type="target" position={Position.Left} id={port.name} className={portClass(port)} title={title} />
      <span className="dfj-port-name">{port.name}</span>
      {port.unknown ? <Missing /> : <span className={cls("dfj-port-type", `dfj-type-${port.type}`)}>{port.type}</span>}
    </div>
  );
});

const OutputPort = memo(function OutputPort({ nodeId, port }: { nodeId: string; port: PortSpec }) {
  const { actions } = useCanvas();
  const title = p2title(port, false);
  const inspect = (e: MouseEvent) => {
    e.stopPropagation();
    actions.inspectPort(nodeId, port.name);
  };
  return (
    <div className={cls("dfj-port", "dfj-port-out", port.unknown && "dfj-port-unknown")} title={title}>
      {port.unknown ? <Missing /> : <span className={cls("dfj-port-type", `dfj-type-${port.type}`)}>{port.type}</span>}
      <span
        className="dfj-port-name dfj-port-inspect nodrag"
        data-testid={`port-${port.name}`}
        role="button"
        title={MSG.inspectPortTitle(port.name)}
        onClick={inspect}
      >
        {port.name}
      </span>
      <Handle type="source" position={Position.Right} id={port.name} className={portClass(port)} title={title} />
    </div>
  );
});

function p2title(p: PortSpec, input: boolean): string {
  if (p.unknown) return MSG.unknownPortTitle(p.name);
  return MSG.portTitle(p.name, p.type, p.description, input && p.required === true);
}

/** The breakpoint's condition under the header: shown, and edited in place (Enter sets it). */
function BreakpointRow({ id, condition }: { id: string; condition: string | null }) {
  const { actions } = useCanvas();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(condition ?? "");
  const start = (e: MouseEvent) => {
    e.stopPropagation();
    setText(condition ?? "");
    setEditing(true);
  };
  const save = () => {
    setEditing(false);
    const next = text.trim();
    if (next !== (condition ?? "")) actions.setBreakpoint(id, next || null);
  };
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    e.stopPropagation(); // the canvas's keys (Delete, arrows) stay out of the field
    if (e.key === "Enter") save();
    if (e.key === "Escape") setEditing(false);
  };
  return (
    <div className="dfj-node-bp nodrag" data-testid="breakpoint-row" title={MSG.breakpointEditTitle}>
      <span className="dfj-bp-mark" aria-hidden="true" />
      {editing ? (
        <input
          className="dfj-input dfj-mono dfj-bp-input"
          data-testid="breakpoint-condition-input"
          autoFocus
          value={text}
          placeholder={MSG.breakpointPlaceholder}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKey}
          onBlur={save}
        />
      ) : (
        <>
          <span className="dfj-bp-condition" data-testid="breakpoint-condition" data-condition={condition ?? ""}>
            {condition ? MSG.breakpointWhen(condition) : MSG.breakpointAlways}
          </span>
          <button type="button" className="dfj-link-button" data-testid="breakpoint-edit" onClick={start}>
            {MSG.breakpointEdit}
          </button>
        </>
      )}
    </div>
  );
}

const noBreakpoint = Symbol("none");

function FlowNodeView({ id, data, selected }: NodeProps<FlowNodeType>) {
  const { store, actions, mode } = useCanvas();
  const status = useStatus(store, (s) => s.nodes[id]);
  const bp = useStatus(store, (s) => (id in s.breakpoints ? (s.breakpoints[id] ?? null) : noBreakpoint));
  const breakpoint = bp !== noBreakpoint;
  const debugAt = useStatus(store, (s) => s.debugAt === id);
  const problem = useNodeProblem(store, id);
  const { node, spec, inputs, outputs } = data;
  const state = status?.status ?? "idle";
  const color = spec?.ui.color ?? UNKNOWN_COLOR;
  const runsOn = status?.runsOn || (nodeOffload(node, spec) === "cluster" ? "cluster" : "");

  const toggleBreakpoint = (e: MouseEvent) => {
    e.stopPropagation();
    actions.toggleBreakpoint(id);
  };
  const openError = (e: MouseEvent) => {
    e.stopPropagation();
    actions.showError(id);
  };

  return (
    <div
      className={cls(
        "dfj-node",
        selected && "dfj-selected",
        debugAt && "dfj-debug-at",
        !spec && "dfj-unknown",
        `dfj-state-${state}`,
      )}
      data-node-id={id}
      style={{ "--dfj-node-color": color } as CSSProperties}
    >
      <div className="dfj-node-header" style={{ background: color }} title={spec?.description}>
        <span className="dfj-node-icon">
          <NodeIcon name={spec?.ui.icon ?? "unknown"} />
        </span>
        <span className="dfj-node-name">{spec?.name ?? (node.typeId || "?")}</span>
        <span className="dfj-node-id">{id}</span>
        {mode === "kernel" && (
        <button
          type="button"
          className={cls("dfj-bp", "nodrag", breakpoint && "dfj-on")}
          data-testid="node-breakpoint"
          aria-pressed={breakpoint}
          title={breakpoint ? MSG.breakpointOn : MSG.breakpointOff}
          onClick={toggleBreakpoint}
        />
        )}
      </div>
      {bp !== noBreakpoint && <BreakpointRow id={id} condition={bp} />}
      {!spec && (
        <div className="dfj-node-unknown" data-testid="node-unknown" title={MSG.unknownTypeTitle(node.typeId, node.version)}>
          {MSG.unknownType(node.typeId, node.version)}
        </div>
      )}
      {(inputs.length > 0 || outputs.length > 0) && (
        <div className="dfj-node-ports">
          <div className="dfj-ports-in">
            {inputs.map((p) => (
              <InputPort key={p.name} port={p} />
            ))}
          </div>
          <div className="dfj-ports-out">
            {outputs.map((p) => (
              <OutputPort key={p.name} nodeId={id} port={p} />
            ))}
          </div>
        </div>
      )}
      <div className="dfj-node-footer">
        <span
          className={cls("dfj-node-status", `dfj-state-${state}`)}
          data-testid="node-status"
          data-status={state}
          title={MSG.statusTitle(state, status?.firings ?? 0, status?.received ?? 0, status?.emitted ?? 0, status?.errors ?? 0)}
        >
          <span className="dfj-status-dot" />
          <span className="dfj-status-text">{MSG.statusText(state)}</span>
          <span className="dfj-counters" data-testid="node-counters">
            {inputs.length > 0 && MSG.countersIn(compactNumber(status?.received ?? 0))}
            {inputs.length > 0 && outputs.length > 0 && " · "}
            {outputs.length > 0 && MSG.countersOut(compactNumber(status?.emitted ?? 0))}
          </span>
          {MSG.runsOn(runsOn) && (
            <span
              className="dfj-runs-on"
              data-testid="node-runs-on"
              data-runs-on={runsOn}
              title={MSG.runsOnTitle(runsOn, status?.moves ?? 0)}
            >
              {MSG.runsOn(runsOn)}
            </span>
          )}
        </span>
      </div>
      {problem && (
        <div className="dfj-node-error dfj-node-problem nodrag" data-testid="node-problem" title={problem}>
          ⚠ {problem}
        </div>
      )}
      {status?.error && (
        <div
          className="dfj-node-error nodrag"
          data-testid="node-error"
          role="button"
          title={MSG.errorOnNodeTitle(status.error)}
          onClick={openError}
        >
          {status.error}
        </div>
      )}
    </div>
  );
}

export const FlowNode = memo(FlowNodeView);
