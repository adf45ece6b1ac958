/**
 * Auto-layout with ELK's layered algorithm, left to right. The ELK engine (1.6 MB) is not in
 * the bundle: the first layout asks the kernel for it (`load-layout-engine`), starts the
 * source it sends back (`layout-engine`, buffers[0]) as a Web Worker from a Blob URL, and
 * keeps that worker for later layouts. `elkGraph` and `elkPositions` are pure.
 */
import ElkConstructor, { type ELK, type ElkExtendedEdge, type ElkNode } from "elkjs/lib/elk-api.js";
import type { FrontendMessage } from "../protocol";
import { DEFAULT_NODE_HEIGHT, DEFAULT_NODE_WIDTH } from "./graphDoc";
import { MSG } from "./messages";
import type { DocEdge, Position } from "./types";

export const LAYOUT_OPTIONS: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.spacing.nodeNode": "40",
  "elk.layered.spacing.nodeNodeBetweenLayers": "150",
  "elk.spacing.componentComponent": "60",
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.separateConnectedComponents": "true",
};

/**
 * Past this many nodes, long layers are wrapped into rows (ELK graph wrapping) so that a long
 * chain stays readable after fitView instead of becoming a line of specks.
 */
export const WRAP_ABOVE_NODES = 40;
export const WRAP_OPTIONS: Record<string, string> = {
  "elk.layered.wrapping.strategy": "MULTI_EDGE",
  "elk.aspectRatio": "1.6",
};

export interface SizedNode {
  id: string;
  width?: number | undefined;
  height?: number | undefined;
}

/** ELK's input: one child per node (its measured size, or 180×80), one edge per document edge. */
export function elkGraph(nodes: SizedNode[], edges: DocEdge[]): ElkNode {
  const ids = new Set(nodes.map((n) => n.id));
  const elkEdges: ElkExtendedEdge[] = edges
    .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] }));
  return {
    id: "root",
    layoutOptions: nodes.length > WRAP_ABOVE_NODES ? { ...LAYOUT_OPTIONS, ...WRAP_OPTIONS } : LAYOUT_OPTIONS,
    children: nodes.map((n) => ({
      id: n.id,
      width: n.width && n.width > 0 ? n.width : DEFAULT_NODE_WIDTH,
      height: n.height && n.height > 0 ? n.height : DEFAULT_NODE_HEIGHT,
    })),
    edges: elkEdges,
  };
}

/** The top-left position of each laid-out node, rounded to integers. */
export function elkPositions(result: ElkNode): Map<string, Position> {
  const positions = new Map<string, Position>();
  for (const child of result.children ?? []) {
    positions.set(child.id, { x: Math.round(child.x ?? 0), y: Math.round(child.y ?? 0) });
  }
  return positions;
}

const ENGINE_TIMEOUT_MS = 30_000;

/** Loads the ELK worker from the kernel once and hands out the engine. */
export class LayoutEngine {
  private elk: ELK | null = null;
  private url: string | null = null;
  private waiting: { resolve(elk: ELK): void; reject(e: Error): void }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly send: (msg: FrontendMessage) => void) {}

  get(): Promise<ELK> {
    if (this.elk) return Promise.resolve(this.elk);
    return new Promise<ELK>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.waiting.length === 1) {
        this.timer = setTimeout(() => this.fail(new Error(MSG.layoutEngineTimeout)), ENGINE_TIMEOUT_MS);
        this.send({ type: "load-layout-engine" });
      }
    });
  }

  /** Takes the `layout-engine` message's buffers. */
  receive(buffers: DataView[]): void {
    const buffer = buffers[0];
    if (!buffer) {
      this.fail(new Error(MSG.layoutEngineEmpty));
      return;
    }
    if (!this.elk) {
      try {
        const bytes = new Uint8Array(buffer.byteLength); // a copy: Blob wants a non-shared buffer
        bytes.set(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
        this.url = URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
        const worker = new Worker(this.url);
        this.elk = new ElkConstructor({ workerFactory: () => worker });
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
    }
    const elk = this.elk;
    this.settle((w) => w.resolve(elk));
  }

  async layout(graph: ElkNode): Promise<ElkNode> {
    const elk = await this.get();
    return elk.layout(graph);
  }

  dispose(): void {
    this.fail(new Error("disposed"));
    this.elk?.terminateWorker();
    this.elk = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }

  private fail(error: Error): void {
    this.settle((w) => w.reject(error));
  }

  private settle(f: (w: { resolve(elk: ELK): void; reject(e: Error): void }) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const waiting = this.waiting;
    this.waiting = [];
    waiting.forEach(f);
  }
}
