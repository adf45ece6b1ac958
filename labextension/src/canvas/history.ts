/**
 * Undo/redo of graph documents, as plain values: a history is the present document with the
 * documents before it (`past`, oldest first) and after it (`future`, next first). Every
 * function returns a new history and never mutates; documents are shared, not copied.
 */
import type { GraphDoc } from "./types";

export interface History {
  past: GraphDoc[];
  present: GraphDoc;
  future: GraphDoc[];
}

export const HISTORY_LIMIT = 100;

export function initHistory(present: GraphDoc): History {
  return { past: [], present, future: [] };
}

/** Records `next` as one undo step; the redo branch is dropped; at most `limit` steps are kept. */
export function pushHistory(h: History, next: GraphDoc, limit = HISTORY_LIMIT): History {
  if (next === h.present) return h;
  const past = [...h.past, h.present];
  return { past: past.length > limit ? past.slice(past.length - limit) : past, present: next, future: [] };
}

export const canUndo = (h: History): boolean => h.past.length > 0;
export const canRedo = (h: History): boolean => h.future.length > 0;

export function undo(h: History): History {
  const previous = h.past[h.past.length - 1];
  if (previous === undefined) return h;
  return { past: h.past.slice(0, -1), present: previous, future: [h.present, ...h.future] };
}

export function redo(h: History): History {
  const [next, ...future] = h.future;
  if (next === undefined) return h;
  return { past: [...h.past, h.present], present: next, future };
}
