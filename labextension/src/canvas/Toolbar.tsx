/**
 * Run controls, layout, fit and history buttons, the Dask dashboard's link while the runtime
 * has a cluster (`status.dashboard`), and the run state as the kernel reports it.
 * Without a kernel (`document` mode) there is nothing to run: layout, fit and history only;
 * a read-only view (`view` mode) has fit alone. Memoised: only the run-state text follows
 * the status store.
 */
import { memo } from "react";
import { useCanvas } from "./context";
import { cls } from "./format";
import { MSG } from "./messages";
import { useStatus } from "./status";

interface Props {
  onRun(): void;
  onStop(): void;
  onStep(): void;
  onLayout(): void;
  onFit(): void;
  onUndo(): void;
  onRedo(): void;
  canUndo: boolean;
  canRedo: boolean;
  layingOut: boolean;
}

export const Toolbar = memo(function Toolbar(p: Props) {
  const { store, mode } = useCanvas();
  const run = useStatus(store, (s) => s.run);
  const message = useStatus(store, (s) => s.message);
  const dashboard = useStatus(store, (s) => s.dashboard ?? null);
  const button = (testid: string, label: string, title: string, onClick: () => void, disabled = false, extra?: string) => (
    <button type="button" className={cls("dfj-button", extra)} data-testid={testid} title={title} aria-label={title} onClick={onClick} disabled={disabled}>
      {label}
    </button>
  );
  return (
    <div className="dfj-toolbar" data-testid="toolbar" role="toolbar">
      {mode === "kernel" && (
        <>
          {button("run", `▶ ${MSG.run}`, MSG.runTitle, p.onRun, false, "dfj-primary")}
          {button("stop", `■ ${MSG.stop}`, MSG.stopTitle, p.onStop)}
          {button("step", `⇥ ${MSG.step}`, MSG.stepTitle, p.onStep)}
          <span className="dfj-sep" />
        </>
      )}
      {mode !== "view" &&
        button("layout", p.layingOut ? MSG.layoutBusy : MSG.layout, MSG.layoutTitle, p.onLayout, p.layingOut, p.layingOut ? "dfj-busy" : undefined)}
      {button("fit", MSG.fit, MSG.fitTitle, p.onFit)}
      {mode !== "view" && (
        <>
          <span className="dfj-sep" />
          {button("undo", `↶ ${MSG.undo}`, MSG.undoTitle, p.onUndo, !p.canUndo)}
          {button("redo", `↷ ${MSG.redo}`, MSG.redoTitle, p.onRedo, !p.canRedo)}
        </>
      )}
      {mode === "kernel" && dashboard && (
        <a
          className="dfj-button dfj-dashboard"
          data-testid="dask-dashboard"
          href={dashboard}
          target="_blank"
          rel="noopener noreferrer"
          title={MSG.dashboardTitle(dashboard)}
        >
          {MSG.dashboard}
        </a>
      )}
      {mode === "kernel" ? (
        <span className={cls("dfj-run-state", `dfj-run-${run}`)} data-testid="run-state" data-run={run} title={message ?? run}>
          {MSG.runState(run, message)}
        </span>
      ) : (
        <span className="dfj-run-state" data-testid="canvas-mode">
          {mode === "view" ? MSG.modeView : MSG.modeDocument}
        </span>
      )}
    </div>
  );
});
