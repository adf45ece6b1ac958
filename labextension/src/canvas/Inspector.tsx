/**
 * The inspector panel: the last packets of an output port or an edge as a table (decoded
 * from Arrow IPC), paged 50 rows at a time, with Refresh to query again after a new run.
 * The payload's columns come first; the packet metadata columns (named by the kernel) are
 * hidden behind a toggle. Floats show a readable precision, every digit on hover.
 */
import { memo, useState } from "react";
import { MSG } from "./messages";
import { INSPECT_LIMIT, type InspectorApi, type InspectorState } from "./useInspector";

function title(s: InspectorState): string {
  if (s.where) return s.where;
  const { node, port, edge } = s.target;
  if (edge) return MSG.inspectorEdge(edge);
  return MSG.inspectorPort(node ?? "?", port ?? "?");
}

export const Inspector = memo(function Inspector({ api }: { api: InspectorApi }) {
  const [showMeta, setShowMeta] = useState(false);
  const s = api.state;
  if (!s) return null;
  const metaCount = s.table?.meta.filter(Boolean).length ?? 0;
  const shown = s.table ? s.table.columns.map((_, i) => i).filter((i) => showMeta || !s.table?.meta[i]) : [];
  const rows = s.table?.rows.length ?? 0;
  const first = rows > 0 ? s.offset + 1 : 0;
  const last = s.offset + rows;
  const hasPrev = s.offset > 0;
  const hasNext = s.offset + INSPECT_LIMIT < s.total;

  return (
    <section className="dfj-panel dfj-inspector" data-testid="inspector" aria-label={MSG.inspectorTitle} aria-busy={s.loading}>
      <header className="dfj-panel-title">
        <span className="dfj-inspector-where" data-testid="inspector-where" title={title(s)}>
          {MSG.inspectorTitle}: {title(s)}
        </span>
        <button type="button" className="dfj-icon-button" data-testid="inspector-close" title={MSG.close} aria-label={MSG.close} onClick={api.close}>
          ×
        </button>
      </header>
      <div className="dfj-inspector-bar">
        <span className="dfj-inspector-range" data-testid="inspector-range">
          {s.loading && !s.table ? MSG.inspectorLoading : rows > 0 ? MSG.inspectorRows(first, last, s.total) : ""}
        </span>
        <button type="button" className="dfj-button" data-testid="inspector-prev" disabled={!hasPrev || s.loading} onClick={() => api.page(s.offset - INSPECT_LIMIT)}>
          {MSG.prev}
        </button>
        <button type="button" className="dfj-button" data-testid="inspector-next" disabled={!hasNext || s.loading} onClick={() => api.page(s.offset + INSPECT_LIMIT)}>
          {MSG.next}
        </button>
        <button type="button" className="dfj-button" data-testid="inspector-refresh" disabled={s.loading} onClick={api.refresh}>
          {MSG.refresh}
        </button>
        {metaCount > 0 && (
          <button
            type="button"
            className="dfj-button"
            data-testid="inspector-meta"
            aria-pressed={showMeta}
            title={MSG.inspectorMetaTitle}
            onClick={() => setShowMeta((v) => !v)}
          >
            {MSG.inspectorMeta(showMeta, metaCount)}
          </button>
        )}
      </div>
      {s.error ? (
        <div className="dfj-inspector-error dfj-error-text" data-testid="inspector-error" role="alert">
          {s.error}
        </div>
      ) : s.table && s.table.columns.length > 0 ? (
        <div className="dfj-table-wrap dfj-scroll">
          <table className="dfj-table" data-testid="inspector-table">
            <thead>
              <tr>
                {shown.map((i) => (
                  <th key={i} className={s.table?.meta[i] ? "dfj-meta" : undefined} title={`${s.table?.columns[i]}: ${s.table?.types[i]}`}>
                    {s.table?.columns[i]}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {s.table.rows.map((row, r) => (
                <tr key={s.offset + r}>
                  {shown.map((c) => {
                    const v = row[c] ?? null;
                    return v === null ? (
                      <td key={c} className="dfj-null" />
                    ) : (
                      <td key={c} className={s.table?.meta[c] ? "dfj-meta" : undefined} title={s.table?.full[r]?.[c] ?? v}>
                        {v}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
          {rows === 0 && !s.loading && <p className="dfj-help" data-testid="inspector-empty">{MSG.inspectorEmpty}</p>}
        </div>
      ) : (
        !s.loading && <p className="dfj-help" data-testid="inspector-empty">{MSG.inspectorEmpty}</p>
      )}
    </section>
  );
});
