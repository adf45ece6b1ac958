/**
 * Where nodes go when nobody placed them, and the readable viewport. Pure functions.
 *
 * - `overlapping(rects)`: the pairs of node boxes that overlap (a graph made in Python whose
 *   nodes all sit at (0, 0) is the common case). The canvas lays such a graph out with ELK on
 *   first render and writes the positions back to Python once.
 * - `resolveOverlaps(rects, movable)`: nodes that arrive later (from Python, undo, the
 *   palette) and land on others move to the nearest free spot, scanned ring by ring around
 *   where they were put; the nodes already there never move.
 * - `readableViewport(bounds, size)`: fit the graph, but never below `MIN_FIT_ZOOM`, the zoom
 *   at which the smallest text (12.5 px in canvas.css) still renders at 11 px or more. A graph
 *   too big for that shows its top-left part; the user pans or zooms out on purpose.
 */
import { DEFAULT_NODE_HEIGHT, type Rect } from "./graphDoc";
import type { PortSpec, Position } from "./types";

/** The node's fixed width in canvas.css (`.dfj-node { width }`): a failed node never widens. */
export const NODE_WIDTH = 240;
/** Space kept between two nodes that are moved apart. */
export const NODE_GAP = 24;
/** The smallest zoom Fit, first render and Auto-layout use (12.5 px text × 0.9 = 11.25 px). */
export const MIN_FIT_ZOOM = 0.9;
export const MAX_FIT_ZOOM = 1.25;
export const FIT_PADDING = 24;

export interface SizedRect extends Rect {
  id: string;
}

/** A node's size before React Flow measured it: header, one row per port pair, footer. */
export function estimateNodeSize(inputs: PortSpec[], outputs: PortSpec[]): { width: number; height: number } {
  const rows = Math.max(inputs.length, outputs.length);
  return { width: NODE_WIDTH, height: Math.max(DEFAULT_NODE_HEIGHT, 34 + rows * 24 + 34) };
}

const hits = (a: Rect, b: Rect, gap = 0): boolean =>
  a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;

/** Every pair of ids whose boxes overlap (touching edges do not count). */
export function overlapping(rects: SizedRect[]): [string, string][] {
  const sorted = [...rects].sort((a, b) => a.x - b.x);
  const pairs: [string, string][] = [];
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as SizedRect;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as SizedRect;
      if (b.x >= a.x + a.width) break; // sorted by x: nothing further right can touch a
      if (hits(a, b)) pairs.push([a.id, b.id]);
    }
  }
  return pairs;
}

/**
 * New positions for the `movable` nodes that overlap another node: the nearest free spot
 * (a 20-unit grid, ring by ring), keeping `NODE_GAP` from every other node. Nodes are placed
 * one after another in `rects` order, each seeing where the previous ones went.
 */
export function resolveOverlaps(rects: SizedRect[], movable: Set<string>): Map<string, Position> {
  const placed = rects.filter((r) => !movable.has(r.id));
  const moves = new Map<string, Position>();
  const step = 20;
  for (const r of rects) {
    if (!movable.has(r.id)) continue;
    if (!placed.some((p) => hits(p, r))) {
      placed.push(r);
      continue;
    }
    let spot: Rect | null = null;
    for (let ring = 1; ring < 400 && !spot; ring++) {
      let best: { rect: Rect; d: number } | null = null;
      for (let i = -ring; i <= ring; i++) {
        for (const [dx, dy] of [[i, -ring], [i, ring], [-ring, i], [ring, i]] as const) {
          const cand = { x: r.x + dx * step, y: r.y + dy * step, width: r.width, height: r.height };
          if (placed.some((p) => hits(p, cand, NODE_GAP))) continue;
          // prefer right and down of where the node was put (reading order), then nearness
          const d = Math.hypot(dx, dy) + (dx < 0 ? 0.5 : 0) + (dy < 0 ? 0.5 : 0);
          if (!best || d < best.d) best = { rect: cand, d };
        }
      }
      spot = best?.rect ?? null;
    }
    const at = spot ?? { ...r, x: Math.max(...placed.map((p) => p.x + p.width)) + NODE_GAP };
    placed.push({ ...r, x: at.x, y: at.y });
    moves.set(r.id, { x: Math.round(at.x), y: Math.round(at.y) });
  }
  return moves;
}

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

/**
 * The viewport that shows `bounds` (flow coordinates) in a pane of `size` pixels: centred
 * when it fits at a readable zoom, else at `MIN_FIT_ZOOM` with its top-left corner in view.
 */
export function readableViewport(bounds: Rect, size: { width: number; height: number }): Viewport {
  const w = Math.max(bounds.width, 1);
  const h = Math.max(bounds.height, 1);
  const fit = Math.min((size.width - 2 * FIT_PADDING) / w, (size.height - 2 * FIT_PADDING) / h);
  const zoom = Math.min(MAX_FIT_ZOOM, Math.max(MIN_FIT_ZOOM, fit));
  const place = (pane: number, start: number, extent: number) =>
    extent * zoom + 2 * FIT_PADDING <= pane ? (pane - extent * zoom) / 2 - start * zoom : FIT_PADDING - start * zoom;
  return { x: place(size.width, bounds.x, w), y: place(size.height, bounds.y, h), zoom };
}
