/**
 * The `.dfgraph.json` document editor: the shared canvas in a main-area tab, editing the
 * file through JupyterLab's document model (so Ctrl+S, the dirty marker, revert and "file
 * changed on disk" are JupyterLab's own).
 *
 * The model's text is the file. The canvas edits a parsed document; each commit writes
 * `graphText(doc)` (Graph.save's exact format) into the model, which marks it dirty. A text
 * that did not come from the canvas (opening, revert, a reload after a change on disk)
 * becomes the canvas's document. An untouched file is never rewritten, so saving it keeps
 * its bytes. After each change the server extension validates the text: the nodes show
 * their problems as on the notebook canvas; the full list is shown when the file opens and
 * after each save. The canvas keeps JupyterLab's shortcuts out of its keys
 * (`data-lm-suppress-shortcuts`), so the tab saves on Ctrl+S (Cmd+S) itself.
 */
import type { DocumentRegistry } from "@jupyterlab/docregistry";
import { Widget } from "@lumino/widgets";
import { MSG } from "../canvas/messages";
import { fetchCatalog, validateGraph } from "./api";
import { graphText } from "./graphText";
import { LocalModel } from "./localModel";
import { mountCanvas } from "./mount";

const VALIDATE_AFTER_MS = 300;
const EMPTY_CATALOG = { nodes: [], connections: {} };

/** The document a file's text holds, or why it holds none. */
function parse(text: string): { doc: unknown; error: string | null } {
  if (text.trim() === "") return { doc: { nodes: [], edges: [] }, error: null };
  try {
    return { doc: JSON.parse(text) as unknown, error: null };
  } catch (e) {
    return { doc: { nodes: [], edges: [] }, error: MSG.fileNotJson(e instanceof Error ? e.message : String(e)) };
  }
}

export class GraphCanvas extends Widget {
  readonly model: LocalModel;
  private unmount: (() => void) | null = null;
  /** The text the canvas wrote last: its echo from the document model is not a new document. */
  private written: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private showAll = true;

  constructor(private readonly context: DocumentRegistry.Context) {
    super();
    this.addClass("dfj-lab-document");
    this.model = new LocalModel(
      { graph: { nodes: [], edges: [] }, catalog: EMPTY_CATALOG, status: {} },
      { onSave: (name, value) => name === "graph" && this.write(value) },
    );
    this.node.addEventListener("keydown", this.onKeyDown, true);
    void context.ready.then(() => this.start());
  }

  private readonly onKeyDown = (event: KeyboardEvent): void => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      event.stopPropagation();
      void this.context.save();
    }
  };

  /** Asks the server for the node catalog again (a node pack installed since). */
  async refreshCatalog(): Promise<void> {
    try {
      this.model.put("catalog", await fetchCatalog());
    } catch (e) {
      this.problems([MSG.catalogFailed(e instanceof Error ? e.message : String(e))]);
    }
  }

  dispose(): void {
    if (this.isDisposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.node.removeEventListener("keydown", this.onKeyDown, true);
    this.unmount?.();
    this.unmount = null;
    super.dispose();
  }

  private start(): void {
    if (this.isDisposed) return;
    this.fromText(this.context.model.toString());
    this.unmount = mountCanvas(this.node, this.model, "document");
    this.context.model.contentChanged.connect(this.onContentChanged, this);
    this.context.saveState.connect((_, state) => {
      if (state === "completed") {
        this.showAll = true;
        this.validateSoon();
      }
    });
    void this.refreshCatalog();
  }

  private onContentChanged(): void {
    const text = this.context.model.toString();
    if (text !== this.written) this.fromText(text);
  }

  private fromText(text: string): void {
    const { doc, error } = parse(text);
    this.written = text;
    this.model.put("graph", doc);
    this.showAll = true;
    if (error) this.problems([error]);
    else this.validateSoon();
  }

  private write(doc: unknown): void {
    const text = graphText(doc);
    if (text === this.context.model.toString()) return;
    this.written = text;
    this.context.model.fromString(text);
    this.context.model.dirty = true; // JupyterLab's editors mark their own edits dirty
    this.validateSoon();
  }

  private validateSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.validate(), VALIDATE_AFTER_MS);
  }

  private async validate(): Promise<void> {
    this.timer = null;
    const text = this.context.model.toString();
    try {
      const answer = await validateGraph(text);
      if (this.isDisposed || text !== this.context.model.toString()) return; // changed meanwhile
      this.model.emit({ type: "graph-problems", nodes: answer.nodes });
      if (this.showAll) this.problems(answer.problems);
      this.showAll = false;
    } catch (e) {
      this.problems([MSG.validateFailed(e instanceof Error ? e.message : String(e))]);
    }
  }

  private problems(problems: string[]): void {
    this.model.emit({ type: "deploy-result", ok: problems.length === 0, problems });
  }
}
