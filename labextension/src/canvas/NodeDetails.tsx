/**
 * The read-only details of the one selected node (view mode, a notebook output without a
 * kernel): its name, type id, version and settings as stored in the document.
 */
import { memo } from "react";
import { MSG } from "./messages";
import type { DocNode, NodeSpec } from "./types";

interface Props {
  node: DocNode;
  spec: NodeSpec | null;
}

const show = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value, null, 1));

export const NodeDetails = memo(function NodeDetails({ node, spec }: Props) {
  const settings = Object.entries(node.settings);
  return (
    <section className="dfj-panel dfj-settings dfj-scroll" data-testid="node-details" aria-label={MSG.settingsTitle}>
      <header className="dfj-panel-title">
        <span className="dfj-settings-name">{spec?.name ?? node.typeId}</span>
        <span className="dfj-settings-id">{node.id}</span>
      </header>
      {spec ? (
        <p className="dfj-help dfj-settings-description">{spec.description}</p>
      ) : (
        <p className="dfj-help">{MSG.detailsUnknown(node.typeId, node.version)}</p>
      )}
      <dl className="dfj-details">
        <div className="dfj-details-row">
          <dt>{MSG.detailsType}</dt>
          <dd data-testid="details-type">{node.typeId}</dd>
        </div>
        <div className="dfj-details-row">
          <dt>{MSG.detailsVersion}</dt>
          <dd data-testid="details-version">{node.version}</dd>
        </div>
      </dl>
      <div className="dfj-label">{MSG.detailsSettings}</div>
      {settings.length === 0 ? (
        <p className="dfj-help">{MSG.detailsNoSettings}</p>
      ) : (
        <dl className="dfj-details" data-testid="details-settings">
          {settings.map(([name, value]) => (
            <div key={name} className="dfj-details-row">
              <dt>{spec?.settings.find((s) => s.name === name)?.label || name}</dt>
              <dd className="dfj-mono" data-testid={`details-setting-${name}`}>
                {show(value)}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
});
