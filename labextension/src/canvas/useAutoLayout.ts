/**
 * The Auto-layout button: lay the document's nodes out with ELK (their measured sizes),
 * commit the positions as one undo step and one trait write, then fit the view (readably).
 * The first render uses it too (usePlacement), for a graph whose nodes overlap. While ELK
 * works (the first time, while its worker arrives from the kernel) `layingOut` is true.
 */
import { useCallback, useRef, useState, type RefObject } from "react";
import type { ReactFlowInstance } from "@xyflow/react";
import { moveNodes } from "./graphDoc";
import { elkGraph, elkPositions, type LayoutEngine } from "./layout";
import { MSG } from "./messages";
import type { FlowEdge, FlowNode } from "./types";
import type { GraphDocument } from "./useGraphDocument";
import { fitReadable } from "./useFlowView";

interface Options {
  graph: GraphDocument;
  engine: LayoutEngine;
  view: { measuredSizes(): Map<string, { width?: number; height?: number }>; requestFit(): void };
  rf: ReactFlowInstance<FlowNode, FlowEdge>;
  pane: RefObject<HTMLElement>;
  onError(message: string): void;
}

export function useAutoLayout({ graph, engine, view, rf, pane, onError }: Options) {
  const [layingOut, setLayingOut] = useState(false);
  const busy = useRef(false);
  const { commit, current } = graph;
  const { measuredSizes, requestFit } = view;

  const run = useCallback(async () => {
    if (busy.current) return;
    busy.current = true;
    setLayingOut(true);
    try {
      const sizes = measuredSizes();
      const doc = current();
      const input = elkGraph(
        doc.nodes.map((n) => ({ id: n.id, width: sizes.get(n.id)?.width, height: sizes.get(n.id)?.height })),
        doc.edges,
      );
      const result = await engine.layout(input);
      const next = moveNodes(current(), elkPositions(result));
      if (next === current()) {
        fitReadable(rf, pane.current);
      } else {
        requestFit();
        commit(next);
      }
    } catch (e) {
      onError(MSG.layoutFailed(e instanceof Error ? e.message : String(e)));
    } finally {
      busy.current = false;
      setLayingOut(false);
    }
  }, [commit, current, engine, measuredSizes, onError, requestFit, rf, pane]);

  const onLayout = useCallback(() => void run(), [run]);
  return { layingOut, onLayout, layOut: run };
}
