/**
 * Every text the canvas shows to a user, in one place (STYLE.md point 6). Components and
 * pure helpers import from here; nothing else spells out user-facing words.
 */

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export const MSG = {
  // ---- empty states ------------------------------------------------------------------------
  emptyGraph: "Drag a node from the palette, or click one",
  emptyCatalog:
    "No node types are available: the catalog is empty. Check the registry the GraphEditor was given.",

  // ---- palette -----------------------------------------------------------------------------
  paletteTitle: "Nodes",
  paletteSearch: "Search nodes…",
  paletteNoMatch: (query: string) => `No node matches “${query}”.`,
  paletteHint: "Click a node to add it, or drag it onto the canvas. Select a node on the canvas to edit its settings.",
  paletteGroupToggle: (category: string, open: boolean) =>
    `${open ? "Collapse" : "Expand"} ${category}`,

  // ---- connections ------------------------------------------------------------------------
  connectionRefused: (from: string, to: string, reason: string) =>
    `Cannot connect ${from} → ${to}: ${reason}`,
  endpoint: (nodeName: string, port: string, type: string) => `${nodeName}.${port} (${type})`,
  reasonSelfLoop: "a node cannot feed itself",
  reasonDuplicate: "these two ports are already connected",
  reasonSameDirection: "connect an output (right side) to an input (left side)",
  reasonMissingNode: (id: string) => `node ${id} is not in the graph`,
  reasonUnknownType: (id: string) =>
    `the type of node ${id} is not in the catalog, so its ports are unknown`,
  reasonUnknownPort: (id: string, port: string, side: "output" | "input") =>
    `node ${id} has no ${side} port ${port}`,
  reasonTypeMismatch: (source: string, target: string) =>
    `${article(source)} ${source} output cannot feed ${article(target)} ${target} input`,
  reasonMissingColumn: (name: string, type: string) =>
    `the input needs column '${name}' (${type}), which the output lacks`,
  reasonColumnType: (name: string, have: string, wanted: string) =>
    `column '${name}' is ${have} at the output but ${wanted} at the input`,
  reasonPropertyType: (name: string, have: string, wanted: string) =>
    `property '${name}' is ${have} at the output but ${wanted} at the input`,
  reasonMissingProperty: (name: string) =>
    `the input requires property '${name}', which the output lacks`,
  reasonSchemaId: (source: string, target: string) =>
    `schema '${source}' cannot feed schema '${target}'`,
  reasonSchemaMajor: (id: string, have: string, wanted: string) =>
    `schema '${id}' ${have} cannot feed ${wanted}: major versions differ`,

  // ---- node --------------------------------------------------------------------------------
  unknownType: (typeId: string, version: string) => `unknown type ${typeId} ${version}`.trim(),
  unknownTypeTitle: (typeId: string, version: string) =>
    `The catalog has no node type ${typeId} ${version}. Install it, or change the node's version.`,
  unknownPortTitle: (port: string) =>
    `${port}: this port is not in the node's spec, but an edge of the graph names it. Remove that edge or connect it to a port the node has.`,
  missingPort: "missing port",
  portTitle: (name: string, type: string, description: string | undefined, required: boolean) =>
    `${name}: ${type}${required ? " (required)" : ""}${description ? `\n${description}` : ""}`,
  inspectPortTitle: (port: string) => `Inspect the last packets of ${port}`,
  breakpointOn: "Breakpoint set: click to remove it",
  breakpointOff: "Set a breakpoint: the debugger stops before this node fires",
  breakpointAlways: "break: always",
  breakpointWhen: (condition: string) => `break when ${condition}`,
  breakpointEdit: "edit",
  breakpointEditTitle:
    "Edit the condition: an expression on the input (value, packet), e.g. value['price'] > 100. Empty: always stop.",
  breakpointPlaceholder: "condition, e.g. value > 10 (empty: always)",
  statusText: (status: string) => (status === "finished" ? "✓ finished" : status === "done" ? "✓ done" : status),
  countersIn: (received: string) => `in ${received}`,
  countersOut: (emitted: string) => `out ${emitted}`,
  statusTitle: (status: string, firings: number, received: number, emitted: number, errors: number) =>
    `${status}: ${plural(firings, "firing", "firings")}, ${plural(received, "packet", "packets")} in, ` +
    `${plural(emitted, "packet", "packets")} out` +
    (errors ? `, ${plural(errors, "error", "errors")}` : ""),
  runsOn: (where: string) => (where === "worker" ? "thread" : where === "loop" ? "" : where),
  runsOnTitle: (where: string, moves: number) =>
    (where === "cluster"
      ? "Fires on the Dask cluster (execution.offload: cluster): its tables stay on the workers " +
        "until a node in the kernel needs them."
      : where === "worker"
      ? "Fires on a worker thread: the loop stays free while it works."
      : "Fires inline, in the dispatcher: cheaper than a thread hand-off.") +
    (moves ? ` Moved by measurement ${plural(moves, "time", "times")} (see rt.log.placements()).` : ""),
  errorOnNodeTitle: (message: string) => `${message}\n\nClick for the details.`,

  // ---- edges -------------------------------------------------------------------------------
  edgeLabel: (queued: string, delivered: string, dropped: string | null) =>
    `${delivered} delivered` + (queued !== "0" ? ` · ${queued} queued` : "") + (dropped ? ` · ${dropped} dropped` : ""),
  edgeLabelTitle: (queued: number, delivered: number, dropped: number) =>
    `${delivered} delivered, ${queued} queued, ${dropped} dropped. Click to inspect.`,
  edgeInvalid: "invalid edge",
  edgeInvalidTitle: (problem: string) => `This edge cannot run: ${problem}`,

  // ---- toolbar -----------------------------------------------------------------------------
  run: "Run",
  runTitle: "Deploy the graph and run it in the kernel",
  stop: "Stop",
  stopTitle: "Stop the run (or end the debugging session)",
  step: "Step",
  stepTitle: "Deploy the graph and execute exactly one firing under the debugger",
  layout: "Auto-layout",
  layoutBusy: "Laying out…",
  layoutTitle: "Arrange the nodes from left to right",
  fit: "Fit",
  dashboard: "Dask dashboard",
  dashboardTitle: (url: string) => `Open the Dask dashboard of the cluster this graph runs on (${url})`,
  fitTitle: "Show the whole graph",
  undo: "Undo",
  undoTitle: "Undo (Ctrl+Z)",
  redo: "Redo",
  redoTitle: "Redo (Ctrl+Shift+Z or Ctrl+Y)",
  runState: (run: string, message: string | null) => (message ? `${run}: ${message}` : run),
  modeView: "Read-only view: open the graph in a GraphEditor to edit or run it",
  modeDocument: "Graph file: edits are saved with the file (Ctrl+S)",

  // ---- the JupyterLab extension (src/lab) ---------------------------------------------------
  fileNotJson: (error: string) =>
    `The file is not JSON (${error}). Fix it in a text editor (right-click, Open With, Editor); the canvas shows it once it parses.`,
  catalogFailed: (error: string) =>
    `The node catalog did not load from the Jupyter server: ${error}. Is the server extension enabled (jupyter server extension list)? Then press Refresh nodes.`,
  validateFailed: (error: string) =>
    `The graph could not be validated by the Jupyter server: ${error}. Problems are not shown until it answers.`,
  serverAnswered: (method: string, path: string, status: number, reason: string) =>
    `${method} /dataflow/${path} answered ${status}: ${reason}`,
  layoutEngineMissing: (status: number, text: string) =>
    `The layout engine did not load from the extension's files: ${status} ${text}. Reinstall dataflow-jupyter.`,

  // ---- the read-only node details (view mode) ---------------------------------------------
  detailsType: "type",
  detailsVersion: "version",
  detailsSettings: "settings",
  detailsNoSettings: "No settings set: the node runs with its defaults.",
  detailsUnknown: (typeId: string, version: string) =>
    `${typeId} ${version} is not described here (no node catalog from the server); its settings are shown as stored.`,

  crashed: (error: string) =>
    `The canvas stopped on an unexpected error: ${error}. The graph in Python is unchanged.`,
  retry: "Reload the canvas",

  // ---- problems ----------------------------------------------------------------------------
  problemsTitle: "Problems",
  problemEdge: (id: string, problem: string) => `edge ${id}: ${problem}`,
  dismiss: "Dismiss",
  close: "Close",
  messageFailed: (type: string, error: string) =>
    `The canvas could not handle the kernel's "${type}" message: ${error}`,
  layoutFailed: (error: string) => `Auto-layout failed: ${error}`,
  layoutEngineTimeout:
    "The layout engine did not arrive from the kernel within 30 s. Is the kernel busy running a cell?",
  layoutEngineEmpty: "The kernel sent no layout engine (the layout-engine message had no buffer).",

  // ---- settings ----------------------------------------------------------------------------
  settingsTitle: "Node settings",
  settingsNone: "This node has no settings.",
  settingsMany: (n: number) => `${n} nodes are selected; select one to edit its settings.`,
  settingsUnknownType: (typeId: string, version: string) =>
    `The catalog has no node type ${typeId} ${version}, so its settings cannot be edited here.`,
  apply: "Apply",
  reset: "Reset",
  applied: "Applied.",
  checking: "Checking…",
  notApplied: (problem: string) => `Not accepted: ${problem}`,
  notSet: "— not set —",
  defaultHint: (value: string) => `default: ${value}`,
  errRequired: "Required: enter a value.",
  errNumber: (text: string) => `Expected a number; got “${text}”.`,
  errInteger: (text: string) => `Expected a whole number; got “${text}”.`,
  errMinimum: (min: number) => `Must be at least ${min}.`,
  errMaximum: (max: number) => `Must be at most ${max}.`,
  errEnum: (options: string[]) => `Choose one of: ${options.join(", ")}.`,
  errJson: (error: string) => `Not valid JSON: ${error}. Strings need double quotes, e.g. "text".`,

  // ---- inspector ---------------------------------------------------------------------------
  inspectorTitle: "Inspector",
  inspectorLoading: "Loading…",
  inspectorEmpty: "No packets have crossed here yet. Run the graph, then Refresh.",
  inspectorRows: (first: number, last: number, total: number) => `rows ${first}–${last} of ${total}`,
  inspectorMeta: (shown: boolean, count: number) => (shown ? `hide packet metadata` : `packet metadata (${count})`),
  inspectorMetaTitle:
    "Show or hide the packet's metadata columns (packet_id, trace_id, origin_node, timestamp, schema_version)",
  inspectorEdge: (id: string) => `edge ${id}`,
  inspectorPort: (node: string, port: string) => `${node}.${port}`,
  prev: "Prev",
  next: "Next",
  refresh: "Refresh",
  bytes: (n: number) => `<${plural(n, "byte", "bytes")}>`,

  // ---- error details -----------------------------------------------------------------------
  errorTitle: (node: string) => `Error in ${node}`,
  errorNoPacket:
    "No error packet for this node has reached the canvas yet; this is the message from the run status.",
  errorFields: {
    code: "code",
    message: "message",
    node_id: "node",
    trace_id: "trace",
    attempt: "attempt",
    recoverable: "recoverable",
    timestamp: "time",
    failed_packet_id: "failed packet",
    details: "details",
  },
  yes: "yes",
  no: "no",
} as const;

/** "a" or "an" before a port type's name, as the kernel writes it. */
function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}
