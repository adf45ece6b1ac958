/**
 * The last error of one node: every field of the ErrorPacket the kernel sent with
 * `node-execution-error` (time as ISO, details as pretty JSON, which holds the traceback).
 * Before any packet arrived, the message from the run status is shown instead.
 */
import { memo } from "react";
import type { ErrorPacketDict } from "../protocol";
import { isoTime } from "./format";
import { MSG } from "./messages";

interface Props {
  node: string;
  packet: ErrorPacketDict | undefined;
  statusMessage: string | null;
  onClose(): void;
}

function pretty(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) ?? "";
  } catch {
    return String(value);
  }
}

export const ErrorDetails = memo(function ErrorDetails({ node, packet, statusMessage, onClose }: Props) {
  const F = MSG.errorFields;
  const row = (key: string, label: string, value: string | null | undefined) => (
    <div className="dfj-error-row" data-field={key} key={key}>
      <dt>{label}</dt>
      <dd>{value === null || value === undefined || value === "" ? <span className="dfj-muted">—</span> : value}</dd>
    </div>
  );
  const traceback = packet && typeof packet.details?.traceback === "string" ? packet.details.traceback : null;
  return (
    <section className="dfj-panel dfj-error-details dfj-scroll" data-testid="error-details" role="dialog" aria-label={MSG.errorTitle(node)}>
      <header className="dfj-panel-title">
        <span>{MSG.errorTitle(node)}</span>
        <button type="button" className="dfj-icon-button" data-testid="error-details-close" title={MSG.close} aria-label={MSG.close} onClick={onClose}>
          ×
        </button>
      </header>
      {packet ? (
        <dl className="dfj-error-fields">
          {row("code", F.code, packet.code)}
          {row("message", F.message, packet.message)}
          {row("node_id", F.node_id, packet.node_id)}
          {row("trace_id", F.trace_id, packet.trace_id)}
          {row("attempt", F.attempt, String(packet.attempt ?? ""))}
          {row("recoverable", F.recoverable, packet.recoverable ? MSG.yes : MSG.no)}
          {row("timestamp", F.timestamp, isoTime(packet.timestamp))}
          {row("failed_packet_id", F.failed_packet_id, packet.failed_packet_id)}
          <div className="dfj-error-row dfj-error-details-json" data-field="details">
            <dt>{F.details}</dt>
            <dd>
              <pre className="dfj-mono">{pretty(packet.details ?? {})}</pre>
              {traceback && <pre className="dfj-mono dfj-traceback">{traceback}</pre>}
            </dd>
          </div>
        </dl>
      ) : (
        <>
          <p className="dfj-help">{MSG.errorNoPacket}</p>
          <p className="dfj-error-text">{statusMessage}</p>
        </>
      )}
    </section>
  );
});
