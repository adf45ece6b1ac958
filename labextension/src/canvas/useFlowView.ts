/**
 * The React Flow view of the graph document and every edit made on it.
 *
 * React Flow's nodes and edges live here as state: positions while dragging, selection and
 * measured sizes change them without touching the document. Each document change (an edit,
 * undo/redo, Python) rebuilds them with `docToFlowNodes`, keeping selection and sizes. Edits
 * are pure document functions committed through `useGraphDocument` (one undo step, one
 * trait write): a drag is committed when it stops, arrow-key moves once they rest.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent, type RefObject } from "react";
import {
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type EdgeChange,
  type FinalConnectionState,
  type NodeChange,
  type ReactFlowInstance,
} from "@xyflow/react";
import type { Catalog } from "./catalog";
import { connectionProblem, edgeProblems, sameSideProblem } from "./connections";
import {
  DEFAULT_NODE_HEIGHT,
  DEFAULT_NODE_WIDTH,
  addEdge,
  addNode,
  deleteElements,
  docToFlowEdges,
  docToFlowNodes,
  findFreeSpot,
  indexDoc,
  jsonEqual,
  moveNodes,
  setNodeSettings,
  type DocIndex,
  type PortConnection,
} from "./graphDoc";
import { DRAG_TYPE } from "./Palette";
import { readableViewport } from "./placement";
import type { FlowEdge as FlowEdgeType, FlowNode as FlowNodeType, Position } from "./types";
import type { GraphDocument } from "./useGraphDocument";

const KEY_MOVE_SETTLE_MS = 400;

/**
 * Fit the graph in the pane, never below a readable zoom (placement.ts `readableViewport`):
 * Fit, first render and Auto-layout all come here.
 */
export function fitReadable(
  rf: ReactFlowInstance<FlowNodeType, FlowEdgeType>,
  pane: HTMLElement | null,
  duration = 200,
): boolean {
  const nodes = rf.getNodes();
  if (!rf.viewportInitialized || !pane || pane.clientWidth === 0 || pane.clientHeight === 0) return false;
  if (nodes.length === 0) return true;
  const bounds = rf.getNodesBounds(nodes);
  void rf.setViewport(readableViewport(bounds, { width: pane.clientWidth, height: pane.clientHeight }), { duration });
  return true;
}

type HandlePair = Pick<Connection, "source" | "target"> & { sourceHandle?: string | null; targetHandle?: string | null };

const toPorts = (c: HandlePair): PortConnection => ({
  source: c.source,
  sourcePort: c.sourceHandle ?? "",
  target: c.target,
  targetPort: c.targetHandle ?? "",
});

interface Options {
  graph: GraphDocument;
  catalog: Catalog;
  index: DocIndex;
  rf: ReactFlowInstance<FlowNodeType, FlowEdgeType>;
  flowRef: RefObject<HTMLElement>;
  wrapperRef: RefObject<HTMLElement>;
  showRefusal(text: string): void;
}

export function useFlowView({ graph, catalog, index, rf, flowRef, wrapperRef, showRefusal }: Options) {
  const { doc, commit, current } = graph;
  const [nodes, setNodes] = useState<FlowNodeType[]>(() => docToFlowNodes(doc, [], catalog.specs));
  const problems = useMemo(() => edgeProblems(doc, index, catalog.specs, catalog.rules), [doc, index, catalog]);
  const [edges, setEdges] = useState<FlowEdgeType[]>(() => docToFlowEdges(doc, [], null, problems));
  const selectNext = useRef<Set<string> | null>(null);
  useLayoutEffect(() => {
    const select = selectNext.current;
    selectNext.current = null;
    setNodes((prev) => docToFlowNodes(doc, prev, catalog.specs, select));
    setEdges((prev) => docToFlowEdges(doc, prev, select ? new Set() : null, problems));
  }, [doc, catalog.specs, problems]);

  // Values for callbacks that must keep their identity (memoised children, React Flow props).
  const latest = useRef({ index, nodes, edges, catalog });
  latest.current = { index, nodes, edges, catalog };

  const fitPending = useRef(false);
  useEffect(() => {
    if (!fitPending.current) return;
    fitPending.current = false;
    fitReadable(rf, flowRef.current);
  }, [nodes, rf, flowRef]);

  const onNodesChange = useCallback((changes: NodeChange<FlowNodeType>[]) => {
    const kept = changes.filter((c) => c.type === "position" || c.type === "dimensions" || c.type === "select");
    if (kept.length > 0) setNodes((nds) => applyNodeChanges(kept, nds));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange<FlowEdgeType>[]) => {
    const kept = changes.filter((c) => c.type === "select");
    if (kept.length > 0) setEdges((eds) => applyEdgeChanges(kept, eds));
  }, []);

  const commitPositions = useCallback(
    (moved: FlowNodeType[]) => commit(moveNodes(current(), new Map(moved.map((n) => [n.id, n.position])))),
    [commit, current],
  );
  const onNodeDragStop = useCallback(
    (_e: unknown, _node: FlowNodeType, moved: FlowNodeType[]) => commitPositions(moved),
    [commitPositions],
  );
  const onSelectionDragStop = useCallback((_e: unknown, moved: FlowNodeType[]) => commitPositions(moved), [commitPositions]);

  const deleteSelection = useCallback(() => {
    const { nodes: nds, edges: eds } = latest.current;
    const nodeIds = nds.filter((n) => n.selected).map((n) => n.id);
    const edgeIds = eds.filter((e) => e.selected).map((e) => e.id);
    if (nodeIds.length > 0 || edgeIds.length > 0) commit(deleteElements(current(), nodeIds, edgeIds));
  }, [commit, current]);

  const freeSpot = useRef(0);
  const addNodeOfType = useCallback(
    (typeId: string, at: Position | null) => {
      const spec = latest.current.catalog.latest.get(typeId);
      if (!spec) return;
      let position = at;
      if (!position) {
        const rect = (flowRef.current ?? wrapperRef.current)?.getBoundingClientRect();
        const topLeft = rf.screenToFlowPosition({ x: rect?.left ?? 0, y: rect?.top ?? 0 }, { snapToGrid: false });
        const bottomRight = rf.screenToFlowPosition({ x: rect?.right ?? 800, y: rect?.bottom ?? 500 }, { snapToGrid: false });
        const sizes = new Map(latest.current.nodes.map((n) => [n.id, n.measured]));
        const occupied = current().nodes.map((n) => ({
          x: n.position.x,
          y: n.position.y,
          width: sizes.get(n.id)?.width ?? DEFAULT_NODE_WIDTH,
          height: sizes.get(n.id)?.height ?? DEFAULT_NODE_HEIGHT,
        }));
        const view = { x: topLeft.x, y: topLeft.y, width: bottomRight.x - topLeft.x, height: bottomRight.y - topLeft.y };
        position = findFreeSpot(view, occupied, freeSpot.current++);
      }
      const { doc: next, id } = addNode(current(), spec, position);
      selectNext.current = new Set([id]);
      commit(next);
    },
    [commit, current, rf],
  );
  const onPaletteAdd = useCallback((typeId: string) => addNodeOfType(typeId, null), [addNodeOfType]);

  const onDragOver = useCallback((e: DragEvent) => {
    if (!e.dataTransfer.types.includes(DRAG_TYPE)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  }, []);
  const onDrop = useCallback(
    (e: DragEvent) => {
      const typeId = e.dataTransfer.getData(DRAG_TYPE);
      if (!typeId) return;
      e.preventDefault();
      wrapperRef.current?.focus({ preventScroll: true });
      addNodeOfType(typeId, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
    },
    [addNodeOfType, rf],
  );

  const isValidConnection = useCallback((c: Connection | FlowEdgeType) => {
    const { index: idx, catalog: cat } = latest.current;
    return connectionProblem(toPorts(c), idx, cat.specs, cat.rules) === null;
  }, []);
  const onConnect = useCallback(
    (c: Connection) => {
      const doc0 = current();
      const { catalog: cat } = latest.current;
      const problem = connectionProblem(toPorts(c), indexDoc(doc0), cat.specs, cat.rules);
      if (problem) {
        showRefusal(problem);
        return;
      }
      commit(addEdge(doc0, toPorts(c)).doc);
    },
    [commit, current, showRefusal],
  );
  const onConnectEnd = useCallback(
    (_e: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      const from = state.fromHandle;
      const to = state.toHandle;
      if (state.isValid !== false || !from || !to) return;
      if (from.nodeId === to.nodeId && from.id === to.id && from.type === to.type) return;
      const { index: idx, catalog: cat } = latest.current;
      if (from.type === to.type) {
        const a = { node: from.nodeId, port: from.id ?? "" };
        const b = { node: to.nodeId, port: to.id ?? "" };
        showRefusal(sameSideProblem(a, b, from.type, idx, cat.specs));
        return;
      }
      const [src, tgt] = from.type === "source" ? [from, to] : [to, from];
      const ports = { source: src.nodeId, sourcePort: src.id ?? "", target: tgt.nodeId, targetPort: tgt.id ?? "" };
      const problem = connectionProblem(ports, idx, cat.specs, cat.rules);
      if (problem) showRefusal(problem);
    },
    [showRefusal],
  );

  const applySettings = useCallback(
    (nodeId: string, settings: Record<string, unknown>) => {
      const doc0 = current();
      const before = doc0.nodes.find((n) => n.id === nodeId)?.settings;
      if (!jsonEqual(before, settings)) commit(setNodeSettings(doc0, nodeId, settings));
    },
    [commit, current],
  );

  // Arrow keys on a focused node move the selection (React Flow); sync once they rest.
  const moveTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onKeyboardMove = useCallback(() => {
    if (moveTimer.current) clearTimeout(moveTimer.current);
    moveTimer.current = setTimeout(() => {
      moveTimer.current = null;
      commitPositions(latest.current.nodes.filter((n) => n.selected));
    }, KEY_MOVE_SETTLE_MS);
  }, [commitPositions]);
  useEffect(() => () => {
    if (moveTimer.current) clearTimeout(moveTimer.current);
  }, []);
  /** Fit the view once React Flow has the next nodes (after a layout). */
  const requestFit = useCallback(() => {
    fitPending.current = true;
  }, []);
  /** Sizes React Flow measured, by node id (unmeasured nodes are absent). */
  const measuredSizes = useCallback(
    () => new Map(latest.current.nodes.flatMap((n) => (n.measured ? [[n.id, n.measured] as const] : []))),
    [],
  );

  return {
    nodes,
    edges,
    problems,
    onNodesChange,
    onEdgesChange,
    onNodeDragStop,
    onSelectionDragStop,
    onKeyboardMove,
    deleteSelection,
    onPaletteAdd,
    onDragOver,
    onDrop,
    isValidConnection,
    onConnect,
    onConnectEnd,
    applySettings,
    requestFit,
    measuredSizes,
  };
}
