/**
 * Keeping JupyterLab's hands off the canvas (docs/design.md §5): the wrapper handles Delete /
 * Backspace and undo/redo itself and stops every keydown from reaching the notebook (where
 * Backspace, `D D`, `A`, `B`, `X`, `Z` would edit cells); the wheel never scrolls the
 * notebook while the pointer is over the canvas; a click anywhere on it focuses it.
 *
 * Bare modifier keys (Shift, Control, Meta, Alt) are let through: React Flow tracks them on
 * `document` for box and multi-selection, and JupyterLab binds no shortcut to a modifier alone.
 */
import { useCallback, useEffect, type KeyboardEvent as ReactKeyboardEvent, type RefObject } from "react";

const MODIFIERS = new Set(["Shift", "Control", "Meta", "Alt", "AltGraph", "CapsLock", "OS"]);

/** Whether typing in `target` edits text (so Backspace and Ctrl+Z belong to it). */
export function isTextTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
}

export type KeyAction = "delete" | "undo" | "redo" | "move" | null;

const ARROWS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"]);

/** What a keydown asks the canvas to do (pure; the caller checks the target). */
export function keyAction(e: { key: string; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean; altKey: boolean }): KeyAction {
  const mod = e.ctrlKey || e.metaKey;
  if (!mod && !e.altKey && (e.key === "Delete" || e.key === "Backspace")) return "delete";
  if (mod && !e.altKey) {
    const k = e.key.toLowerCase();
    if (k === "z") return e.shiftKey ? "redo" : "undo";
    if (k === "y" && !e.shiftKey) return "redo";
  }
  if (!mod && !e.altKey && ARROWS.has(e.key)) return "move";
  return null;
}

interface KeyHandlers {
  onDelete(): void;
  onUndo(): void;
  onRedo(): void;
  /** React Flow moved the selected nodes with an arrow key (a focused node); sync them. */
  onKeyboardMove(): void;
}

/** The wrapper's `onKeyDown`: runs canvas shortcuts and stops the key from leaving the canvas. */
export function useCanvasKeyDown(handlers: KeyHandlers): (e: ReactKeyboardEvent) => void {
  const { onDelete, onUndo, onRedo, onKeyboardMove } = handlers;
  return useCallback(
    (e: ReactKeyboardEvent) => {
      if (MODIFIERS.has(e.key)) return;
      e.stopPropagation();
      if (isTextTarget(e.target) || e.nativeEvent.isComposing) return;
      const action = keyAction(e);
      if (action === null) return;
      if (action === "move") {
        if (e.target instanceof Element && e.target.closest(".react-flow__node")) onKeyboardMove();
        return;
      }
      e.preventDefault();
      // The focused node may be about to disappear: keep the keyboard on the canvas.
      if (e.currentTarget instanceof HTMLElement) e.currentTarget.focus({ preventScroll: true });
      if (action === "delete") onDelete();
      else if (action === "undo") onUndo();
      else onRedo();
    },
    [onDelete, onUndo, onRedo, onKeyboardMove],
  );
}

const LINE_PX = 16;

const SCROLLABLE = ".dfj-scroll, textarea";

/** Whether `el` can still scroll by (dx, dy). */
function hasRoom(el: HTMLElement, dx: number, dy: number): boolean {
  if (dy > 0 && el.scrollTop + el.clientHeight < el.scrollHeight - 1) return true;
  if (dy < 0 && el.scrollTop > 0) return true;
  if (dx > 0 && el.scrollLeft + el.clientWidth < el.scrollWidth - 1) return true;
  return dx < 0 && el.scrollLeft > 0;
}

/** The panel (or text area) inside the canvas that should scroll for this wheel, if any. */
function scrollableFor(target: EventTarget | null, root: HTMLElement, dx: number, dy: number): HTMLElement | null {
  let el = target instanceof Element ? target.closest<HTMLElement>(SCROLLABLE) : null;
  while (el && root.contains(el)) {
    if (hasRoom(el, dx, dy)) return el;
    el = el.parentElement?.closest<HTMLElement>(SCROLLABLE) ?? null;
  }
  return null;
}

/**
 * A native, non-passive wheel listener on the wrapper (bubble phase: React Flow's zoom has
 * already run) that keeps the notebook from scrolling. Panels marked `.dfj-scroll` inside the
 * canvas still scroll: the listener scrolls them itself.
 */
export function useWheelGuard(ref: RefObject<HTMLElement>): void {
  useEffect(() => {
    const root = ref.current;
    if (!root) return undefined;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      e.stopPropagation();
      if (e.ctrlKey) return;
      const scale = e.deltaMode === 1 ? LINE_PX : e.deltaMode === 2 ? root.clientHeight : 1;
      const dx = (e.shiftKey && e.deltaX === 0 ? e.deltaY : e.deltaX) * scale;
      const dy = (e.shiftKey && e.deltaX === 0 ? 0 : e.deltaY) * scale;
      const panel = scrollableFor(e.target, root, dx, dy);
      if (panel) {
        panel.scrollTop += dy;
        panel.scrollLeft += dx;
      }
    };
    root.addEventListener("wheel", onWheel, { passive: false });
    return () => root.removeEventListener("wheel", onWheel);
  }, [ref]);
}

/**
 * Focuses the wrapper when the pointer goes down anywhere on the canvas except on a control
 * that takes focus itself (capture phase: React Flow's pane stops the event from bubbling), so
 * Delete and Ctrl+Z reach the canvas after a click on a node or the pane.
 */
export function useFocusOnPointer(ref: RefObject<HTMLElement>): void {
  useEffect(() => {
    const root = ref.current;
    if (!root) return undefined;
    const onPointerDown = (e: PointerEvent) => {
      const t = e.target;
      if (t instanceof Element && t.closest("input, textarea, select, button, a[href], [contenteditable='true']")) return;
      const active = document.activeElement;
      if (active === root) return;
      // Keep focus on a focused node or button inside; take it from text fields and from outside.
      if (!(active instanceof HTMLElement) || !root.contains(active) || isTextTarget(active)) {
        root.focus({ preventScroll: true });
      }
    };
    root.addEventListener("pointerdown", onPointerDown, true);
    return () => root.removeEventListener("pointerdown", onPointerDown, true);
  }, [ref]);
}
