/**
 * The canvas widget: composition and wiring. Traits come in through `useModelState`
 * (`graph` via useGraphDocument, `catalog`, `status`), kernel messages through
 * `model.on("msg:custom")`, and everything the user does becomes a pure edit of the graph
 * document (graphDoc.ts) committed as one undo step and one trait write. React Flow holds
 * the view (positions while dragging, selection, measured sizes); the document is written
 * when a drag stops, never per mouse move.
 *
 * `mode` (context.ts) says where it runs: the kernel's widget, a graph file's tab, or a
 * read-only notebook output. The two without a kernel get the same `model` API from
 * src/lab/localModel.ts, so this file does not know which host it has.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useModel, useModelState } from "@anywidget/react";
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow } from "@xyflow/react";
import type { ErrorPacketDict, FrontendMessage, KernelMessage } from "../protocol";
import { CanvasErrorBoundary } from "./CanvasErrorBoundary";
import { normalizeCatalog } from "./catalog";
import { CanvasContext, type CanvasActions, type CanvasMode } from "./context";
import { ErrorDetails } from "./ErrorDetails";
import { FlowEdge } from "./FlowEdge";
import { FlowNode } from "./FlowNode";
import { cls } from "./format";
import { indexDoc } from "./graphDoc";
import { Inspector } from "./Inspector";
import { useCanvasKeyDown, useFocusOnPointer, useWheelGuard } from "./keyboard";
import { LayoutEngine } from "./layout";
import { MSG } from "./messages";
import { NodeDetails } from "./NodeDetails";
import { EmptyHint, Problems, Refusal } from "./Notices";
import { Palette } from "./Palette";
import { MAX_FIT_ZOOM, MIN_FIT_ZOOM } from "./placement";
import { SettingsPanel } from "./SettingsPanel";
import { StatusStore, normalizeStatus, useStatus } from "./status";
import { useColorMode } from "./theme";
import { Toolbar } from "./Toolbar";
import type { FlowEdge as FlowEdgeType, FlowNode as FlowNodeType } from "./types";
import { useAutoLayout } from "./useAutoLayout";
import { fitReadable, useFlowView } from "./useFlowView";
import { useGraphDocument } from "./useGraphDocument";
import { useInspector } from "./useInspector";
import { usePlacement } from "./usePlacement";

const nodeTypes = { dfj: FlowNode };
const edgeTypes = { dfj: FlowEdge };
const WRAPPER_STYLE = { height: 560 } as const;
const MINIMAP_STYLE = { width: 150, height: 100 } as const;
const REFUSAL_MS = 4000;
/** React Flow's own fit on its first render (then usePlacement fits readably, or lays out). */
const INITIAL_FIT = { padding: 0.1, minZoom: MIN_FIT_ZOOM, maxZoom: MAX_FIT_ZOOM } as const;

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const miniMapColor = (n: FlowNodeType): string => n.data.spec?.ui.color ?? "#64748b";

export function App({ mode = "kernel" }: { mode?: CanvasMode }) {
  return (
    <CanvasErrorBoundary>
      <ReactFlowProvider>
        <Canvas mode={mode} />
      </ReactFlowProvider>
    </CanvasErrorBoundary>
  );
}

function Canvas({ mode }: { mode: CanvasMode }) {
  const editable = mode !== "view";
  const model = useModel();
  const [catalogTrait] = useModelState<unknown>("catalog");
  const [statusTrait] = useModelState<unknown>("status");
  const catalog = useMemo(() => normalizeCatalog(catalogTrait), [catalogTrait]);
  const graph = useGraphDocument();
  const { doc } = graph;
  const index = useMemo(() => indexDoc(doc), [doc]);
  const rf = useReactFlow<FlowNodeType, FlowEdgeType>();
  const colorMode = useColorMode();
  const wrapperRef = useRef<HTMLDivElement>(null);
  const flowRef = useRef<HTMLDivElement>(null);

  const send = useCallback((msg: FrontendMessage) => model.send(msg), [model]);

  // ---- run status: the trait, merged with node-status messages --------------------------------
  const initialStatus = useRef(statusTrait);
  const store = useMemo(() => new StatusStore(normalizeStatus(initialStatus.current)), []);
  useEffect(() => {
    if (statusTrait !== initialStatus.current) store.replace(normalizeStatus(statusTrait));
    initialStatus.current = undefined;
  }, [store, statusTrait]);

  // ---- notices --------------------------------------------------------------------------------
  const [problems, setProblems] = useState<string[]>([]);
  const addProblem = useCallback((p: string) => setProblems((ps) => [...ps, p]), []);
  const dismissProblems = useCallback(() => setProblems([]), []);
  const [refusal, setRefusal] = useState<string | null>(null);
  const refusalTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const showRefusal = useCallback((text: string) => {
    setRefusal(text);
    if (refusalTimer.current) clearTimeout(refusalTimer.current);
    refusalTimer.current = setTimeout(() => setRefusal(null), REFUSAL_MS);
  }, []);
  useEffect(() => () => {
    if (refusalTimer.current) clearTimeout(refusalTimer.current);
  }, []);

  // ---- errors, inspector, layout engine ---------------------------------------------------------
  const [errorPackets, setErrorPackets] = useState<Record<string, ErrorPacketDict>>({});
  const [errorNode, setErrorNode] = useState<string | null>(null);
  const closeError = useCallback(() => setErrorNode(null), []);
  const errorNodeMessage = useStatus(store, (s) => (errorNode ? (s.nodes[errorNode]?.error ?? null) : null));
  const inspector = useInspector(send);
  const inspectorRef = useRef(inspector);
  inspectorRef.current = inspector;
  const engine = useMemo(() => new LayoutEngine(send), [send]);
  useEffect(() => () => engine.dispose(), [engine]);

  // ---- the React Flow view and its edits -------------------------------------------------------
  const view = useFlowView({ graph, catalog, index, rf, flowRef, wrapperRef, showRefusal });
  const { nodes, edges } = view;
  const { current } = graph;

  // ---- toolbar --------------------------------------------------------------------------------
  const deploy = useCallback(() => send({ type: "deploy-graph", graph: current() }), [send, current]);
  const onRun = useCallback(() => {
    deploy();
    send({ type: "run" });
  }, [deploy, send]);
  const onStep = useCallback(() => {
    deploy();
    send({ type: "step" });
  }, [deploy, send]);
  const onStop = useCallback(() => send({ type: "stop" }), [send]);
  const onFit = useCallback(() => fitReadable(rf, flowRef.current), [rf]);

  const { layingOut, onLayout, layOut } = useAutoLayout({ graph, engine, view, rf, pane: flowRef, onError: addProblem });
  usePlacement({ graph, nodes, layOut, fit: onFit });

  // Invalid edges of the document are problems too, listed until the document changes.
  const edgeProblemList = useMemo(
    () => [...view.problems].map(([id, problem]) => MSG.problemEdge(id, problem)),
    [view.problems],
  );
  const [dismissedEdges, setDismissedEdges] = useState<unknown>(null);
  const shownProblems = useMemo(
    () => (dismissedEdges === view.problems ? problems : [...edgeProblemList, ...problems]),
    [dismissedEdges, view.problems, problems, edgeProblemList],
  );
  const dismissAll = useCallback(() => {
    dismissProblems();
    setDismissedEdges(view.problems);
  }, [dismissProblems, view.problems]);

  // ---- keyboard, wheel, focus -----------------------------------------------------------------
  const ignore = useCallback(() => undefined, []);
  const onKeyDown = useCanvasKeyDown({
    onDelete: editable ? view.deleteSelection : ignore,
    onUndo: editable ? graph.undo : ignore,
    onRedo: editable ? graph.redo : ignore,
    onKeyboardMove: editable ? view.onKeyboardMove : ignore,
  });
  useWheelGuard(wrapperRef);
  useFocusOnPointer(wrapperRef);

  // ---- kernel messages ------------------------------------------------------------------------
  useEffect(() => {
    const onMessage = (msg: unknown, buffers: DataView[] | undefined) => {
      const m = msg as KernelMessage;
      try {
        switch (m?.type) {
          case "node-status":
            store.merge(m);
            break;
          case "node-execution-error":
            setErrorPackets((p) => ({ ...p, [m.node ?? m.error?.node_id]: m.error }));
            break;
          case "inspect-result":
            inspectorRef.current.receive(m, buffers ?? []);
            break;
          case "deploy-result":
            setProblems(m.ok ? [] : (m.problems ?? []).map(String));
            break;
          case "graph-problems":
            store.setProblems(m.nodes ?? {});
            break;
          case "layout-engine":
            engine.receive(buffers ?? []);
            break;
          default:
            break;
        }
      } catch (e) {
        addProblem(MSG.messageFailed(String((m as { type?: unknown } | null)?.type), errorText(e)));
      }
    };
    model.on("msg:custom", onMessage);
    return () => model.off("msg:custom", onMessage);
  }, [model, store, engine, addProblem]);

  // A finished run or a debugger step changes what the inspector would show: query again.
  useEffect(() => {
    let { run, debugAt } = store.get();
    return store.subscribe(() => {
      const s = store.get();
      const ended = s.run !== run && (s.run === "done" || s.run === "stopped" || s.run === "failed");
      const stepped = s.run === "stepping" && s.debugAt !== debugAt;
      run = s.run;
      debugAt = s.debugAt;
      if ((ended || stepped) && inspectorRef.current.state) inspectorRef.current.refresh();
    });
  }, [store]);

  // ---- context for nodes and edges ------------------------------------------------------------
  const actions = useMemo<CanvasActions>(
    () => ({
      toggleBreakpoint(node) {
        const enabled = !(node in store.get().breakpoints);
        store.setBreakpoint(node, enabled, null);
        send({ type: "set-breakpoint", node, enabled, condition: null });
      },
      setBreakpoint(node, condition) {
        store.setBreakpoint(node, true, condition);
        send({ type: "set-breakpoint", node, enabled: true, condition });
      },
      showError: (node) => setErrorNode(node),
      // packets live in a kernel: without one there is nothing to inspect
      inspectPort: (node, port) => {
        if (mode === "kernel") inspectorRef.current.open({ node, port, edge: null });
      },
      inspectEdge: (edge) => {
        if (mode === "kernel") inspectorRef.current.open({ node: null, port: null, edge });
      },
    }),
    [store, send, mode],
  );
  const context = useMemo(() => ({ store, actions, mode }), [store, actions, mode]);
  const onEdgeClick = useCallback((_e: unknown, edge: FlowEdgeType) => actions.inspectEdge(edge.id), [actions]);

  // ---- layout of the widget -------------------------------------------------------------------
  const selectedNodes = useMemo(() => nodes.filter((n) => n.selected), [nodes]);
  const selected = selectedNodes.length === 1 ? selectedNodes[0] : undefined;
  const errorShown = errorNode !== null && index.nodeById.has(errorNode) ? errorNode : null;

  return (
    <CanvasContext.Provider value={context}>
      <div
        ref={wrapperRef}
        className={cls("dfj-canvas", colorMode === "dark" && "dfj-dark")}
        style={WRAPPER_STYLE}
        tabIndex={0}
        data-lm-suppress-shortcuts="true"
        onKeyDown={onKeyDown}
      >
        <Toolbar
          onRun={onRun}
          onStop={onStop}
          onStep={onStep}
          onLayout={onLayout}
          onFit={onFit}
          onUndo={graph.undo}
          onRedo={graph.redo}
          canUndo={graph.canUndo}
          canRedo={graph.canRedo}
          layingOut={layingOut}
        />
        <div className="dfj-body">
          {editable && <Palette latest={catalog.latest} onAdd={view.onPaletteAdd} />}
          <div className="dfj-main">
            <div className="dfj-flow" ref={flowRef} onDragOver={view.onDragOver} onDrop={view.onDrop}>
              <ReactFlow<FlowNodeType, FlowEdgeType>
                nodes={nodes}
                edges={edges}
                nodeTypes={nodeTypes}
                edgeTypes={edgeTypes}
                onNodesChange={view.onNodesChange}
                onEdgesChange={view.onEdgesChange}
                onConnect={view.onConnect}
                nodesDraggable={editable}
                nodesConnectable={editable}
                onConnectEnd={view.onConnectEnd}
                isValidConnection={view.isValidConnection}
                onNodeDragStop={view.onNodeDragStop}
                onSelectionDragStop={view.onSelectionDragStop}
                onEdgeClick={onEdgeClick}
                deleteKeyCode={null}
                onlyRenderVisibleElements
                colorMode={colorMode}
                fitView
                fitViewOptions={INITIAL_FIT}
                minZoom={0.05}
                maxZoom={2.5}
              >
                <Background />
                <Controls showInteractive={false} />
                <MiniMap nodeColor={miniMapColor} style={MINIMAP_STYLE} pannable zoomable />
              </ReactFlow>
              <EmptyHint graphEmpty={doc.nodes.length === 0} catalogEmpty={editable && catalog.latest.size === 0} />
              <Problems problems={shownProblems} onDismiss={dismissAll} />
              <Refusal text={refusal} />
            </div>
            <Inspector api={inspector} />
          </div>
          {/* The side panel only when it has something to show: the graph gets the width. */}
          {(errorShown !== null || selectedNodes.length > 0) && (
          <div className="dfj-side dfj-scroll">
            {errorShown !== null && (
              <ErrorDetails
                node={errorShown}
                packet={errorPackets[errorShown]}
                statusMessage={errorNodeMessage}
                onClose={closeError}
              />
            )}
            {selected && !editable ? (
              <NodeDetails key={selected.id} node={selected.data.node} spec={selected.data.spec} />
            ) : selected ? (
              <SettingsPanel key={selected.id} node={selected.data.node} spec={selected.data.spec} onApply={view.applySettings} />
            ) : (
              selectedNodes.length > 1 && <p className="dfj-help dfj-side-hint">{MSG.settingsMany(selectedNodes.length)}</p>
            )}
          </div>
          )}
        </div>
      </div>
    </CanvasContext.Provider>
  );
}
