/**
 * The anywidget `model` API (get, set, on, off, save_changes, send) without a kernel, so the
 * canvas (src/canvas/App.tsx) runs unchanged in a JupyterLab document tab and in a notebook
 * output. The host (the document editor, the MIME renderer) provides:
 *
 * - `onSave(name, value)`: what `save_changes` does with the traits the canvas set;
 * - `onMessage(msg)`: what a message from the canvas means here (`load-layout-engine` is
 *   answered by the model itself from the extension's static files).
 *
 * `put(name, value)` changes a trait from the host (a reloaded file, a fresh catalog) and
 * `emit(msg)` sends a message to the canvas as the kernel would.
 */
import { PageConfig, URLExt } from "@jupyterlab/coreutils";
import { MSG } from "../canvas/messages";

type Callback = (...args: unknown[]) => void;

/** Where JupyterLab serves this extension's static files (the ELK worker is copied there). */
export const staticUrl = (file: string): string =>
  URLExt.join(PageConfig.getOption("fullLabextensionsUrl"), "dataflow-jupyter", "static", file);

export class LocalModel {
  private traits: Map<string, unknown>;
  private changed = new Set<string>();
  private listeners = new Map<string, Set<Callback>>();
  private elk: Promise<ArrayBuffer> | null = null;

  constructor(
    traits: Record<string, unknown>,
    private readonly host: {
      onSave?(name: string, value: unknown): void;
      onMessage?(msg: Record<string, unknown>): void;
    } = {},
  ) {
    this.traits = new Map(Object.entries(traits));
  }

  get(name: string): unknown {
    return this.traits.get(name);
  }

  set(name: string, value: unknown): void {
    this.traits.set(name, value);
    this.changed.add(name);
    this.fire(`change:${name}`);
  }

  save_changes(): void {
    const names = [...this.changed];
    this.changed.clear();
    for (const name of names) this.host.onSave?.(name, this.traits.get(name));
  }

  on(event: string, callback: Callback): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(callback);
  }

  off(event?: string | null, callback?: Callback | null): void {
    if (!event) this.listeners.clear();
    else if (!callback) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(callback);
  }

  send(msg: unknown): void {
    const m = msg as Record<string, unknown>;
    if (m?.type === "load-layout-engine") {
      this.sendLayoutEngine();
      return;
    }
    this.host.onMessage?.(m);
  }

  /** A trait changed by the host: the canvas sees it as a change from Python. */
  put(name: string, value: unknown): void {
    this.traits.set(name, value);
    this.fire(`change:${name}`);
  }

  /** A message to the canvas, as the kernel sends them (`msg:custom`). */
  emit(msg: Record<string, unknown>, buffers: DataView[] = []): void {
    for (const f of [...(this.listeners.get("msg:custom") ?? [])]) f(msg, buffers);
  }

  private fire(event: string): void {
    for (const f of [...(this.listeners.get(event) ?? [])]) f();
  }

  private sendLayoutEngine(): void {
    this.elk ??= fetch(staticUrl("elk-worker.min.js")).then((r) => {
      if (!r.ok) throw new Error(MSG.layoutEngineMissing(r.status, r.statusText));
      return r.arrayBuffer();
    });
    this.elk.then(
      (bytes) => this.emit({ type: "layout-engine" }, [new DataView(bytes)]),
      () => {
        this.elk = null;
        this.emit({ type: "layout-engine" }, []); // the canvas reports that no engine came
      },
    );
  }
}
