/**
 * The MIME renderer of `application/vnd.dataflow.graph+json` (what `Graph` and `GraphEditor`
 * put in a notebook output): a read-only canvas (pan, zoom, minimap, fit, a node's type,
 * version and settings on click) that needs no kernel, so a saved notebook opened later
 * still shows a live graph. Its rank (75) is above the SVG picture's (image/svg+xml, 80):
 * JupyterLab picks this one, every other front end shows the picture the same bundle
 * carries. It is below HTML's (50), so a GraphEditor's snapshot output (its picture as
 * HTML, the styles that hide a dead widget view; widget/snapshot.py) stays as it is. It is
 * safe (JSON data, no script), so it renders in untrusted notebooks too. The node catalog comes from the server extension when there is
 * one; without it, nodes are drawn from the document alone.
 */
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import { fetchCatalog } from "./api";
import { LocalModel } from "./localModel";
import { mountCanvas } from "./mount";

export const GRAPH_MIME_TYPE = "application/vnd.dataflow.graph+json";
const EMPTY_CATALOG = { nodes: [], connections: {} };

let catalog: Promise<unknown> | null = null;
/** One catalog request per page, shared by every output (a failure is retried next time). */
function sharedCatalog(): Promise<unknown> {
  catalog ??= fetchCatalog().catch(() => {
    catalog = null;
    return EMPTY_CATALOG;
  });
  return catalog;
}

export class GraphOutput extends Widget implements IRenderMime.IRenderer {
  private model: LocalModel | null = null;
  private unmount: (() => void) | null = null;

  constructor() {
    super();
    this.addClass("dfj-lab-output");
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const graph = model.data[GRAPH_MIME_TYPE] ?? {};
    if (this.model) {
      this.model.put("graph", graph);
      return;
    }
    this.model = new LocalModel({ graph, catalog: EMPTY_CATALOG, status: {} });
    this.unmount = mountCanvas(this.node, this.model, "view");
    const found = await sharedCatalog();
    this.model?.put("catalog", found);
  }

  dispose(): void {
    if (this.isDisposed) return;
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
    defaultRank: 75,
    createRenderer: () => new GraphOutput(),
  },
  rank: 75,
  dataType: "json",
  fileTypes: [],
};

export default extension;
