/**
 * What the memoised node and edge components need besides their props: the status store and
 * a few stable actions. Provided once by the App; the value never changes identity, so the
 * context itself never re-renders the graph.
 */
import { createContext, useContext } from "react";
import { EMPTY_STATUS, StatusStore } from "./status";

export interface CanvasActions {
  toggleBreakpoint(node: string): void;
  /** Set a breakpoint with `condition` (null: always stop). */
  setBreakpoint(node: string, condition: string | null): void;
  showError(node: string): void;
  inspectPort(node: string, port: string): void;
  inspectEdge(edge: string): void;
}

/**
 * Where the canvas runs: `kernel` (the GraphEditor widget: run, step, breakpoints),
 * `document` (a `.dfgraph.json` tab in JupyterLab: editing without a kernel) or `view` (a
 * notebook output without a kernel: pan, zoom and look, no edits).
 */
export type CanvasMode = "kernel" | "document" | "view";

export interface CanvasContextValue {
  store: StatusStore;
  actions: CanvasActions;
  mode: CanvasMode;
}

const noop = (): void => undefined;

export const CanvasContext = createContext<CanvasContextValue>({
  store: new StatusStore(EMPTY_STATUS),
  actions: { toggleBreakpoint: noop, setBreakpoint: noop, showError: noop, inspectPort: noop, inspectEdge: noop },
  mode: "kernel",
});

export const useCanvas = (): CanvasContextValue => useContext(CanvasContext);
