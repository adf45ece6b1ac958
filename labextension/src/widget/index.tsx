/**
 * The anywidget entry of the canvas: `GraphEditor._esm` is the bundle of this file, and
 * `_css` the stylesheet esbuild emits beside it (React Flow's base styles plus ours).
 */
import { createRender } from "@anywidget/react";
import "@xyflow/react/dist/style.css";
import "../canvas/canvas.css";
import { App } from "../canvas/App";

export default { render: createRender(App) };
