/**
 * The last line of defence: an error while rendering shows its message and a button to
 * reload the canvas, instead of an empty output. The graph trait is not touched.
 */
import { Component, type KeyboardEvent, type ReactNode } from "react";
import { MSG } from "./messages";

interface State {
  error: Error | null;
}

export class CanvasErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override render(): ReactNode {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div
        className="dfj-canvas dfj-crashed"
        tabIndex={0}
        data-lm-suppress-shortcuts="true"
        onKeyDown={(e: KeyboardEvent) => e.stopPropagation()}
      >
        <p className="dfj-error-text" data-testid="canvas-crashed" role="alert">
          {MSG.crashed(error.message)}
        </p>
        <button type="button" className="dfj-button" onClick={() => this.setState({ error: null })}>
          {MSG.retry}
        </button>
      </div>
    );
  }
}
