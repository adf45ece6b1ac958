/**
 * The node palette: the latest version of every catalog type, grouped by category
 * (collapsible), filtered by a search box. Click an entry to add the node in view, or drag it
 * onto the canvas (HTML5 drag and drop, type `application/x-dataflow-node`).
 */
import { memo, useMemo, useState, type DragEvent } from "react";
import { paletteGroups } from "./catalog";
import { cls } from "./format";
import { NodeIcon } from "./icons";
import { MSG } from "./messages";
import type { NodeSpec } from "./types";

export const DRAG_TYPE = "application/x-dataflow-node";

interface Props {
  latest: Map<string, NodeSpec>;
  onAdd(typeId: string): void;
}

export const Palette = memo(function Palette({ latest, onAdd }: Props) {
  const [query, setQuery] = useState("");
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const groups = useMemo(() => paletteGroups(latest, query), [latest, query]);
  const searching = query.trim() !== "";

  const toggle = (category: string) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(category)) next.delete(category);
      else next.add(category);
      return next;
    });

  const dragStart = (e: DragEvent, typeId: string) => {
    e.dataTransfer.setData(DRAG_TYPE, typeId);
    e.dataTransfer.setData("text/plain", typeId);
    e.dataTransfer.effectAllowed = "copy";
  };

  return (
    <aside className="dfj-palette" data-testid="palette" aria-label={MSG.paletteTitle}>
      <div className="dfj-palette-head">
        <input
          className="dfj-input dfj-palette-search"
          data-testid="palette-search"
          type="search"
          placeholder={MSG.paletteSearch}
          aria-label={MSG.paletteSearch}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      <div className="dfj-palette-list dfj-scroll">
        {latest.size === 0 && <p className="dfj-help">{MSG.emptyCatalog}</p>}
        {latest.size > 0 && groups.length === 0 && <p className="dfj-help">{MSG.paletteNoMatch(query)}</p>}
        {groups.map(({ category, specs }) => {
          const open = searching || !collapsed.has(category);
          return (
            <div key={category} className={cls("dfj-palette-group", open && "dfj-open")} data-category={category}>
              <button
                type="button"
                className="dfj-palette-group-head"
                data-testid={`palette-group-${category}`}
                aria-expanded={open}
                title={MSG.paletteGroupToggle(category, open)}
                onClick={() => toggle(category)}
              >
                <span className="dfj-caret">{open ? "▾" : "▸"}</span>
                {category}
                <span className="dfj-count">{specs.length}</span>
              </button>
              {open &&
                specs.map((spec) => (
                  <button
                    type="button"
                    key={spec.id}
                    className="dfj-palette-item"
                    data-testid={`palette-item-${spec.id}`}
                    title={spec.description || spec.name}
                    draggable
                    onDragStart={(e) => dragStart(e, spec.id)}
                    onClick={() => onAdd(spec.id)}
                  >
                    <span className="dfj-palette-icon" style={{ background: spec.ui.color }}>
                      <NodeIcon name={spec.ui.icon} size={12} />
                    </span>
                    <span className="dfj-palette-name">{spec.name}</span>
                  </button>
                ))}
            </div>
          );
        })}
      </div>
      {latest.size > 0 && <p className="dfj-help dfj-palette-hint">{MSG.paletteHint}</p>}
    </aside>
  );
});
