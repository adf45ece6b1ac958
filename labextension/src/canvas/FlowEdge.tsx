/**
 * The canvas edge: a bezier path and, once a run reports on it, a label with its queue depth
 * and delivered count (read from the status store by edge id, so a status message re-renders
 * only the edges that changed). Clicking the label inspects the edge, like clicking the edge.
 */
import { memo, type MouseEvent } from "react";
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { useCanvas } from "./context";
import { cls } from "./format";
import { MSG } from "./messages";
import { useStatus } from "./status";
import type { FlowEdge as FlowEdgeType } from "./types";

function FlowEdgeView(props: EdgeProps<FlowEdgeType>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, selected, markerEnd } = props;
  const { store, actions } = useCanvas();
  const status = useStatus(store, (s) => s.edges[id]);
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const busy = (status?.queued ?? 0) > 0;
  const inspect = (e: MouseEvent) => {
    e.stopPropagation();
    actions.inspectEdge(id);
  };
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={cls("dfj-edge", selected && "dfj-selected", busy && "dfj-busy")}
        interactionWidth={16}
      />
      {status && (
        <EdgeLabelRenderer>
          <div
            className={cls("dfj-edge-label", "nodrag", "nopan", busy && "dfj-busy", selected && "dfj-selected")}
            data-testid="edge-label"
            data-edge-id={id}
            title={MSG.edgeLabelTitle}
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            onClick={inspect}
          >
            {MSG.edgeLabel(status.queued, status.delivered, status.dropped)}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

export const FlowEdge = memo(FlowEdgeView);
