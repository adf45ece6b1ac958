/**
 * The graph document as the canvas edits it, tied to the `graph` trait:
 *
 * - the present document and its undo/redo history (history.ts);
 * - `commit(next)` records one undo step and writes the trait once (set + save_changes);
 *   the canvas commits only when a drag stops or a structural edit ends;
 * - when the trait changes to something the canvas did not write (Python, another view),
 *   that document becomes the present, as one more history step; a value equal to what the
 *   canvas last wrote (an echo from the kernel) is ignored.
 */
import { useCallback, useLayoutEffect, useMemo, useRef, useState } from "react";
import { useModelState } from "@anywidget/react";
import { jsonEqual, normalizeDoc } from "./graphDoc";
import { canRedo, canUndo, initHistory, pushHistory, redo, undo, type History } from "./history";
import type { GraphDoc } from "./types";

export interface GraphDocument {
  doc: GraphDoc;
  /** How many documents came from outside the canvas (Python, another view) so far. */
  external: number;
  canUndo: boolean;
  canRedo: boolean;
  /** The present document, up to date even between a commit and the next render. */
  current(): GraphDoc;
  commit(next: GraphDoc): void;
  undo(): void;
  redo(): void;
}

export function useGraphDocument(): GraphDocument {
  const [trait, setTrait] = useModelState<unknown>("graph");
  const historyRef = useRef<History | null>(null);
  if (historyRef.current === null) historyRef.current = initHistory(normalizeDoc(trait));
  const [history, setHistory] = useState<History>(historyRef.current);
  const [external, setExternal] = useState(0);
  const seenTrait = useRef<unknown>(trait);
  const written = useRef<unknown>(undefined);

  const apply = useCallback(
    (next: History, write: boolean) => {
      const before = historyRef.current;
      if (next === before) return;
      historyRef.current = next;
      setHistory(next);
      if (write && before && next.present !== before.present) {
        written.current = next.present;
        seenTrait.current = next.present;
        setTrait(next.present);
      }
    },
    [setTrait],
  );

  // A document from outside the canvas.
  useLayoutEffect(() => {
    if (trait === seenTrait.current) return;
    seenTrait.current = trait;
    if (trait === written.current || jsonEqual(trait, written.current)) return;
    const h = historyRef.current;
    if (!h || jsonEqual(trait, h.present)) return;
    setExternal((n) => n + 1);
    apply(pushHistory(h, normalizeDoc(trait)), false);
  }, [trait, apply]);

  const current = useCallback(() => (historyRef.current as History).present, []);
  const commit = useCallback(
    (next: GraphDoc) => {
      const h = historyRef.current as History;
      if (next !== h.present) apply(pushHistory(h, next), true);
    },
    [apply],
  );
  const doUndo = useCallback(() => apply(undo(historyRef.current as History), true), [apply]);
  const doRedo = useCallback(() => apply(redo(historyRef.current as History), true), [apply]);

  return useMemo(
    () => ({
      doc: history.present,
      external,
      canUndo: canUndo(history),
      canRedo: canRedo(history),
      current,
      commit,
      undo: doUndo,
      redo: doRedo,
    }),
    [history, external, current, commit, doUndo, doRedo],
  );
}
