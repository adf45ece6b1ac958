/**
 * Nodes nobody placed get a place (placement.ts), once React Flow has measured them:
 *
 * - first render: when any two nodes overlap (a graph made in Python: every node at (0, 0)),
 *   the whole graph is laid out with ELK, as Auto-layout does, and the positions are written
 *   back to Python once (one trait write); otherwise the view is fitted, readably;
 * - later: nodes that come from outside the canvas (Python's `add_node`, another view) and
 *   land on other nodes move to the nearest free spot, as one more write; nodes the user
 *   placed never move (the palette picks a free spot itself).
 *
 * A pane that has no size yet (a notebook that renders the output while it is off screen)
 * is fitted once it has one.
 *
 * The check runs when the React Flow nodes have been quiet for `SETTLE_MS` (measurements come
 * in as dimension changes right after a render); a node not measured yet (outside the view)
 * counts with its estimated size.
 */
import { useEffect, useRef, useState } from "react";
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
  /** Fits the view readably; false when the pane has no size yet. */
  fit(): boolean;
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
  const checkedExternal = useRef(graph.external);
  const latest = useRef({ nodes, layOut, fit, external: graph.external });
  latest.current = { nodes, layOut, fit, external: graph.external };
  const [retry, setRetry] = useState(0);
  const { commit, current } = graph;

  useEffect(() => {
    const timer = setTimeout(() => {
      const { nodes: nds, layOut: lay, fit: fitView, external } = latest.current;
      const doc = current();
      const positions = new Map(doc.nodes.map((n) => [n.id, n.position]));
      const inDoc = nds.filter((n) => positions.has(n.id));
      if (seen.current === null) {
        if (inDoc.length !== doc.nodes.length) return; // React Flow has not the document yet
        if (overlapping(rects(inDoc, positions)).length > 0) void lay();
        else if (!fitView()) {
          setTimeout(() => setRetry((n) => n + 1), 4 * SETTLE_MS); // no pane yet: later
          return;
        }
        seen.current = new Set(inDoc.map((n) => n.id));
        checkedExternal.current = external;
        return;
      }
      const fromOutside = external !== checkedExternal.current;
      checkedExternal.current = external;
      const fresh = new Set(inDoc.filter((n) => !seen.current?.has(n.id)).map((n) => n.id));
      seen.current = new Set(inDoc.map((n) => n.id));
      if (fresh.size === 0 || !fromOutside) return;
      const moves = resolveOverlaps(rects(inDoc, positions), fresh);
      if (moves.size > 0) commit(moveNodes(doc, moves));
    }, SETTLE_MS);
    return () => clearTimeout(timer);
  }, [nodes, commit, current, retry]);
}
