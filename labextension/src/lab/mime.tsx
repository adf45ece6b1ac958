/**
 * The MIME renderer of `application/vnd.dataflow.graph+json` (what `Graph` and `GraphEditor`
 * put in a notebook output): a read-only canvas (pan, zoom, minimap, fit, a node's type,
 * version and settings on click) that needs no kernel, so a saved notebook opened later
 * still shows a live graph. Its rank (40) is above the SVG picture's (image/svg+xml, 80)
 * and HTML's (50): JupyterLab and Notebook 7 pick this one, every other front end (GitHub,
 * nbviewer, nbconvert) shows the picture the same bundle carries. It is safe (JSON data, no
 * script), so it renders in untrusted notebooks too.
 *
 * A GraphEditor's snapshot output (widget/snapshot.py: the bundle plus its picture as HTML)
 * is drawn here too, marked `dfj-snapshot` so that the rules of issue 11 still hold: while
 * the editor's canvas lives, the snapshot after it is hidden (canvas.css); without a kernel,
 * the dead widget view before it is hidden (style.css) and the snapshot is this read-only
 * canvas. A canvas is mounted only once its output is shown, so a hidden snapshot costs
 * nothing while the editor's own canvas is live. The node catalog comes from the server extension when there is
 * one; without it, nodes are drawn from the document alone.
 */
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import { fetchCatalog } from "./api";
import { LocalModel } from "./localModel";
import { mountCanvas } from "./mount";

export const GRAPH_MIME_TYPE = "application/vnd.dataflow.graph+json";
const EMPTY_CATALOG = { nodes: [], connections: {} };
const SHOWN_FOR_MS = 400;

let catalog: Promise<unknown> | null = null;
/** One catalog request per page, shared by every output (a failure is retried next time). */
function sharedCatalog(): Promise<unknown> {
  catalog ??= fetchCatalog().catch(() => {
    catalog = null;
    return EMPTY_CATALOG;
  });
  return catalog;
}

/** Whether the bundle is a GraphEditor's snapshot (widget/snapshot.py) rather than a Graph's. */
const isSnapshot = (data: IRenderMime.IMimeModel["data"]): boolean => {
  const html = data["text/html"];
  return typeof html === "string" && html.includes('class="dfj-snapshot"');
};

export class GraphOutput extends Widget implements IRenderMime.IRenderer {
  private model: LocalModel | null = null;
  private unmount: (() => void) | null = null;
  private shown: ResizeObserver | null = null;

  constructor() {
    super();
    this.addClass("dfj-lab-output");
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const graph = model.data[GRAPH_MIME_TYPE] ?? {};
    this.toggleClass("dfj-snapshot", isSnapshot(model.data));
    if (this.model) {
      this.model.put("graph", graph);
      return;
    }
    this.model = new LocalModel({ graph, catalog: EMPTY_CATALOG, status: {} });
    // Mounted once the output is shown and stays shown a moment (a live editor's snapshot is
    // shown only until the editor's own canvas has drawn).
    this.shown = new ResizeObserver((entries) => {
      if (!entries.some((e) => e.contentRect.width > 0)) return;
      setTimeout(() => this.mountIfShown(), SHOWN_FOR_MS);
    });
    this.shown.observe(this.node);
    const found = await sharedCatalog();
    this.model?.put("catalog", found);
  }

  private mountIfShown(): void {
    if (this.isDisposed || !this.model || this.unmount || this.node.getClientRects().length === 0) return;
    this.unmount = mountCanvas(this.node, this.model, "view");
    this.shown?.disconnect();
    this.shown = null;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.shown?.disconnect();
    this.shown = null;
    this.unmount?.();
    this.unmount = null;
    this.model = null;
    super.dispose();
  }
}

const extension: IRenderMime.IExtension = {
  id: "dataflow-jupyter:graph-output",
  description: "Renders dataflow graphs in notebook outputs as a read-only canvas.",
  rendererFactory: {
    safe: true,
    mimeTypes: [GRAPH_MIME_TYPE],
    defaultRank: 40,
    createRenderer: () => new GraphOutput(),
  },
  rank: 40,
  dataType: "json",
  fileTypes: [],
};

export default extension;
