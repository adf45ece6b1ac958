/**
 * Mounts the shared canvas (src/canvas/App.tsx) into a DOM element with a LocalModel, the
 * way anywidget mounts it with a kernel's model: through `@anywidget/react`'s createRender.
 */
import { createRender } from "@anywidget/react";
import { App } from "../canvas/App";
import type { CanvasMode } from "../canvas/context";
import type { LocalModel } from "./localModel";

const renderers = {
  document: createRender(() => <App mode="document" />),
  view: createRender(() => <App mode="view" />),
};

/** Renders the canvas into `el`; returns the function that unmounts it. */
export function mountCanvas(el: HTMLElement, model: LocalModel, mode: Exclude<CanvasMode, "kernel">): () => void {
  const render = renderers[mode] as unknown as (props: {
    el: HTMLElement;
    model: LocalModel;
    experimental: Record<string, unknown>;
  }) => (() => void) | undefined;
  const cleanup = render({ el, model, experimental: {} });
  return () => cleanup?.();
}
