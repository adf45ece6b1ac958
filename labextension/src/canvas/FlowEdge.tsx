/**
 * The canvas edge: a bezier path and, once a run reports on it, a short label (delivered,
 * and the queue depth when packets wait; the exact counts on hover), read from the status
 * store by edge id, so a status message re-renders only the edges that changed. Labels are
 * drawn above the nodes (canvas.css), so a node never clips one. Clicking the label inspects
 * the edge, like clicking the edge. An invalid edge (its `problem`) is dashed red with a red
 * arrow, drawn over the nodes, with a warning mark at its start whose title says why.
 */
import { memo, type MouseEvent } from "react";
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { useCanvas } from "./context";
import { cls, compactNumber } from "./format";
import { MSG } from "./messages";
import { useStatus } from "./status";
import type { FlowEdge as FlowEdgeType } from "./types";

function FlowEdgeView(props: EdgeProps<FlowEdgeType>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, selected, markerEnd, data } = props;
  const { store, actions } = useCanvas();
  const status = useStatus(store, (s) => s.edges[id]);
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const busy = (status?.queued ?? 0) > 0;
  const problem = data?.problem ?? null;
  const inspect = (e: MouseEvent) => {
    e.stopPropagation();
    actions.inspectEdge(id);
  };
  const at = { transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` };
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={cls("dfj-edge", selected && "dfj-selected", busy && "dfj-busy", problem && "dfj-invalid")}
        interactionWidth={16}
      />
      {problem ? (
        <EdgeLabelRenderer>
          <div
            className="dfj-edge-label dfj-edge-invalid nodrag nopan"
            data-testid="edge-invalid"
            data-edge-id={id}
            title={MSG.edgeInvalidTitle(problem)}
            style={{ transform: `translate(0, -50%) translate(${sourceX + 10}px, ${sourceY}px)` }}
          >
            ⚠ {MSG.edgeInvalid}
          </div>
        </EdgeLabelRenderer>
      ) : (
        status && (
          <EdgeLabelRenderer>
            <div
              className={cls("dfj-edge-label", "nodrag", "nopan", busy && "dfj-busy", selected && "dfj-selected")}
              data-testid="edge-label"
              data-edge-id={id}
              title={MSG.edgeLabelTitle(status.queued, status.delivered, status.dropped)}
              style={at}
              onClick={inspect}
            >
              {MSG.edgeLabel(
                compactNumber(status.queued),
                compactNumber(status.delivered),
                status.dropped ? compactNumber(status.dropped) : null,
              )}
            </div>
          </EdgeLabelRenderer>
        )
      )}
    </>
  );
}

export const FlowEdge = memo(FlowEdgeView);
