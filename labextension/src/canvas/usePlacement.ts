/**
 * Nodes nobody placed get a place (placement.ts), once React Flow has measured them:
 *
 * - first render: when any two nodes overlap (a graph made in Python: every node at (0, 0)),
 *   the whole graph is laid out with ELK, as Auto-layout does, and the positions are written
 *   back to Python once (one trait write); otherwise the view is fitted, readably;
 * - later: nodes that appear (Python's `add_node`, another view, undo of a delete) and land on
 *   other nodes move to the nearest free spot, as one more write; nodes the user placed never
 *   move.
 *
 * The check runs when the React Flow nodes have been quiet for `SETTLE_MS` (measurements come
 * in as dimension changes right after a render); a node not measured yet (outside the view)
 * counts with its estimated size.
 */
import { useEffect, useRef } from "react";
import { moveNodes } from "./graphDoc";
import { estimateNodeSize, overlapping, resolveOverlaps, type SizedRect } from "./placement";
import type { FlowNode } from "./types";
import type { GraphDocument } from "./useGraphDocument";

const SETTLE_MS = 120;

interface Options {
  graph: GraphDocument;
  nodes: FlowNode[];
  /** Lays the whole graph out with ELK and fits the view (Auto-layout). */
  layOut(): Promise<void>;
  /** Fits the view readably. */
  fit(): void;
}

function rects(nodes: FlowNode[], positions: Map<string, { x: number; y: number }>): SizedRect[] {
  return nodes.map((n) => {
    const size = n.measured?.width && n.measured?.height ? n.measured : estimateNodeSize(n.data.inputs, n.data.outputs);
    const at = positions.get(n.id) ?? n.position;
    return { id: n.id, x: at.x, y: at.y, width: size.width ?? 0, height: size.height ?? 0 };
  });
}

export function usePlacement({ graph, nodes, layOut, fit }: Options): void {
  const seen = useRef<Set<string> | null>(null);
  const latest = useRef({ nodes, layOut, fit });
  latest.current = { nodes, layOut, fit };
  const { commit, current } = graph;

  useEffect(() => {
    const timer = setTimeout(() => {
      const { nodes: nds, layOut: lay, fit: fitView } = latest.current;
      const doc = current();
      const positions = new Map(doc.nodes.map((n) => [n.id, n.position]));
      const inDoc = nds.filter((n) => positions.has(n.id));
      if (seen.current === null) {
        if (inDoc.length !== doc.nodes.length) return; // React Flow has not the document yet
        seen.current = new Set(inDoc.map((n) => n.id));
        if (overlapping(rects(inDoc, positions)).length > 0) void lay();
        else fitView();
        return;
      }
      const fresh = new Set(inDoc.filter((n) => !seen.current?.has(n.id)).map((n) => n.id));
      seen.current = new Set(inDoc.map((n) => n.id));
      if (fresh.size === 0) return;
      const moves = resolveOverlaps(rects(inDoc, positions), fresh);
      if (moves.size > 0) commit(moveNodes(doc, moves));
    }, SETTLE_MS);
    return () => clearTimeout(timer);
  }, [nodes, commit, current]);
}
