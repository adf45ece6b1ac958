/**
 * The JupyterLab extension (the `extension` entry; the MIME renderer is the `mimeExtension`
 * entry, mime.tsx): the `.dfgraph.json` file type with its icon, the canvas document editor
 * as its default viewer, a launcher item and File → New to create an empty graph, and the
 * editor's toolbar: "Open in notebook" (a notebook whose first cell opens the file in a
 * GraphEditor) and "Refresh nodes" (the server's node catalog again).
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { PathExt } from "@jupyterlab/coreutils";
import { ABCWidgetFactory, DocumentRegistry, DocumentWidget } from "@jupyterlab/docregistry";
import { ILauncher } from "@jupyterlab/launcher";
import { IMainMenu } from "@jupyterlab/mainmenu";
import { ToolbarButton } from "@jupyterlab/ui-components";
import { GraphCanvas } from "./editor";
import { emptyGraph, graphText } from "./graphText";
import { graphIcon } from "./icon";

const FILE_TYPE = "dfgraph";
const FACTORY = "Dataflow Canvas";
export const CMD = {
  create: "dataflow-jupyter:new-graph",
  openInNotebook: "dataflow-jupyter:open-in-notebook",
} as const;

type GraphDocument = DocumentWidget<GraphCanvas, DocumentRegistry.IModel>;

class GraphCanvasFactory extends ABCWidgetFactory<GraphDocument, DocumentRegistry.IModel> {
  constructor(
    options: DocumentRegistry.IWidgetFactoryOptions<GraphDocument>,
    private readonly app: JupyterFrontEnd,
  ) {
    super(options);
  }

  protected createNewWidget(context: DocumentRegistry.Context): GraphDocument {
    const content = new GraphCanvas(context);
    const widget = new DocumentWidget({ content, context });
    widget.title.icon = graphIcon;
    widget.toolbar.addItem(
      "open-in-notebook",
      new ToolbarButton({
        label: "Open in notebook",
        tooltip: "Create a notebook whose first cell opens this graph in a GraphEditor (run, step, inspect)",
        onClick: () => void this.app.commands.execute(CMD.openInNotebook, { path: context.path }),
      }),
    );
    widget.toolbar.addItem(
      "refresh-nodes",
      new ToolbarButton({
        label: "Refresh nodes",
        tooltip: "Read the node catalog of the Jupyter server's environment again (node packs installed since)",
        onClick: () => void content.refreshCatalog(),
      }),
    );
    return widget;
  }
}

/** The notebook "Open in notebook" creates next to the graph file. */
export function notebookFor(graphFile: string): Record<string, unknown> {
  const source = [
    "from dataflow_jupyter import GraphEditor\n",
    "\n",
    `editor = GraphEditor(${JSON.stringify(graphFile)})\n`,
    "editor",
  ];
  const note = [
    "The graph file opened in a `GraphEditor`: run it, step through it and inspect its packets here. ",
    "`editor.save()` writes the canvas back to the file; `editor.reload()` reads the file again ",
    "after it was edited in its own tab.",
  ];
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "python3", display_name: "Python 3 (ipykernel)", language: "python" },
      language_info: { name: "python" },
    },
    cells: [
      { cell_type: "code", id: "open-graph", metadata: {}, execution_count: null, outputs: [], source },
      { cell_type: "markdown", id: "about", metadata: {}, source: note },
    ],
  };
}

async function openInNotebook(app: JupyterFrontEnd, path: string): Promise<void> {
  const contents = app.serviceManager.contents;
  const folder = PathExt.dirname(path);
  const stem = PathExt.basename(path).replace(/\.dfgraph\.json$/, "");
  const created = await contents.newUntitled({ path: folder, type: "notebook" });
  let target = created.path;
  const wanted = PathExt.join(folder, `${stem}.ipynb`);
  try {
    await contents.get(wanted, { content: false });
  } catch {
    target = (await contents.rename(created.path, wanted)).path; // the name is free
  }
  await contents.save(target, { type: "notebook", format: "json", content: notebookFor(PathExt.basename(path)) });
  await app.commands.execute("docmanager:open", { path: target, factory: "Notebook" });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "dataflow-jupyter:graph-documents",
  description: "Opens .dfgraph.json files in the dataflow canvas.",
  autoStart: true,
  optional: [ILauncher, IMainMenu],
  activate: (app: JupyterFrontEnd, launcher: ILauncher | null, mainMenu: IMainMenu | null) => {
    app.docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: "Dataflow graph",
      extensions: [".dfgraph.json"],
      pattern: "^.*\\.dfgraph\\.json$",
      mimeTypes: ["application/json"],
      contentType: "file",
      fileFormat: "text",
      icon: graphIcon,
    });
    const factory = new GraphCanvasFactory(
      {
        name: FACTORY,
        label: "Dataflow Canvas",
        fileTypes: [FILE_TYPE],
        defaultFor: [FILE_TYPE],
        modelName: "text",
      },
      app,
    );
    app.docRegistry.addWidgetFactory(factory);

    app.commands.addCommand(CMD.create, {
      label: (args) => (args.isLauncher ? "Dataflow Graph" : "Dataflow Graph File"),
      caption: "Create an empty dataflow graph (.dfgraph.json) and open it in the canvas",
      icon: (args) => (args.isPalette ? undefined : graphIcon),
      execute: async (args) => {
        const folder = typeof args.cwd === "string" ? args.cwd : "";
        const model = await app.serviceManager.contents.newUntitled({ path: folder, type: "file", ext: ".dfgraph.json" });
        const id = PathExt.basename(model.path).replace(/\.dfgraph\.json$/, "").replace(/[^A-Za-z0-9_-]/g, "_");
        const graphId = /^[A-Za-z_]/.test(id) ? id.slice(0, 64) : `graph_${id}`.slice(0, 64);
        await app.serviceManager.contents.save(model.path, {
          type: "file",
          format: "text",
          content: graphText(emptyGraph(graphId)),
        });
        return app.commands.execute("docmanager:open", { path: model.path, factory: FACTORY });
      },
    });
    app.commands.addCommand(CMD.openInNotebook, {
      label: "Open Graph in Notebook",
      caption: "Create a notebook whose first cell opens the graph file in a GraphEditor",
      execute: (args) => openInNotebook(app, String(args.path)),
    });
    launcher?.add({ command: CMD.create, category: "Other", rank: 1 });
    mainMenu?.fileMenu.newMenu.addGroup([{ command: CMD.create }], 30);
  },
};

export default [plugin];
