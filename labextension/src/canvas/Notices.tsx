/** Messages over the canvas: the problems list, a refused connection, the empty-state hint. */
import { MSG } from "./messages";

export function Problems({ problems, onDismiss }: { problems: string[]; onDismiss(): void }) {
  if (problems.length === 0) return null;
  return (
    <div className="dfj-problems dfj-scroll" data-testid="problems" role="alert">
      <div className="dfj-problems-head">
        <span>{MSG.problemsTitle}</span>
        <button type="button" className="dfj-icon-button" data-testid="problems-dismiss" title={MSG.dismiss} aria-label={MSG.dismiss} onClick={onDismiss}>
          ×
        </button>
      </div>
      <ul>
        {problems.map((p, i) => (
          <li key={i} data-testid="problem">
            {p}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Refusal({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <div className="dfj-refused" data-testid="connection-refused" role="alert">
      {text}
    </div>
  );
}

export function EmptyHint({ graphEmpty, catalogEmpty }: { graphEmpty: boolean; catalogEmpty: boolean }) {
  if (!graphEmpty && !catalogEmpty) return null;
  return (
    <div className={graphEmpty ? "dfj-empty" : "dfj-empty dfj-empty-banner"} data-testid="empty-hint">
      {graphEmpty && <p>{MSG.emptyGraph}</p>}
      {catalogEmpty && <p className="dfj-muted">{MSG.emptyCatalog}</p>}
    </div>
  );
}
