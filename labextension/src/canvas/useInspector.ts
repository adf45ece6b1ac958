/**
 * The inspector's state: what is inspected (an output port or an edge), which page, and the
 * answer to the latest request. Each query carries an incrementing request number; an answer
 * to an older request is ignored, so a slow reply never overwrites a newer page.
 */
import { useCallback, useMemo, useRef, useState } from "react";
import type { FrontendMessage, InspectResultMessage } from "../protocol";
import { decodeArrow, type PreviewTable } from "./arrowTable";

export const INSPECT_LIMIT = 50;

export interface InspectTarget {
  node: string | null;
  port: string | null;
  edge: string | null;
}

export interface InspectorState {
  target: InspectTarget;
  request: number;
  offset: number;
  loading: boolean;
  where: string;
  total: number;
  error: string | null;
  table: PreviewTable | null;
}

export interface InspectorApi {
  state: InspectorState | null;
  open(target: InspectTarget): void;
  page(offset: number): void;
  refresh(): void;
  close(): void;
  /** Takes an `inspect-result`; returns false when it answers an older request. */
  receive(msg: InspectResultMessage, buffers: DataView[]): boolean;
}

export function useInspector(send: (msg: FrontendMessage) => void): InspectorApi {
  const [state, setState] = useState<InspectorState | null>(null);
  const counter = useRef(0);
  const latest = useRef<InspectorState | null>(null);
  latest.current = state;

  const query = useCallback(
    (target: InspectTarget, offset: number, keep: InspectorState | null) => {
      const request = ++counter.current;
      const next: InspectorState = {
        target,
        request,
        offset,
        loading: true,
        where: keep?.where ?? "",
        total: keep?.total ?? 0,
        error: null,
        table: keep?.table ?? null,
      };
      latest.current = next;
      setState(next);
      send({ type: "inspect", request, node: target.node, port: target.port, edge: target.edge, offset, limit: INSPECT_LIMIT });
    },
    [send],
  );

  const open = useCallback((target: InspectTarget) => query(target, 0, null), [query]);
  const page = useCallback(
    (offset: number) => {
      const s = latest.current;
      if (s) query(s.target, Math.max(0, offset), s);
    },
    [query],
  );
  const refresh = useCallback(() => {
    const s = latest.current;
    if (s) query(s.target, s.offset, s);
  }, [query]);
  const close = useCallback(() => {
    counter.current++;
    latest.current = null;
    setState(null);
  }, []);

  const receive = useCallback((msg: InspectResultMessage, buffers: DataView[]): boolean => {
    const s = latest.current;
    if (!s || msg.request !== s.request) return false;
    let table: PreviewTable | null = null;
    let error = msg.error ?? null;
    if (!error) {
      const buffer = buffers[0];
      if (buffer) {
        try {
          table = decodeArrow(buffer);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
      } else {
        table = { columns: [], types: [], meta: [], rows: [], full: [] };
      }
    }
    const next: InspectorState = {
      ...s,
      loading: false,
      where: typeof msg.where === "string" ? msg.where : s.where,
      offset: typeof msg.offset === "number" ? msg.offset : s.offset,
      total: typeof msg.total === "number" ? msg.total : 0,
      error,
      table: error ? null : table,
    };
    latest.current = next;
    setState(next);
    return true;
  }, []);

  return useMemo(() => ({ state, open, page, refresh, close, receive }), [state, open, page, refresh, close, receive]);
}
