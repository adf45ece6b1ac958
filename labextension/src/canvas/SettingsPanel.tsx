/**
 * The settings form of the one selected node, generated from its spec's `settings`: one field
 * per setting, validated as a whole on Apply (each problem shown next to its field; nothing is
 * applied while any field is invalid), Reset back to the node's current settings. Then the
 * kernel checks them as the node itself would (`graph-problems`): "Applied." only once it
 * accepts them; what it refuses is shown here and on the node.
 */
import { memo, useEffect, useState, type FormEvent } from "react";
import { useCanvas } from "./context";
import { cls } from "./format";
import { MSG } from "./messages";
import { useNodeProblem, useProblemAnswers } from "./status";
import {
  BAD_NUMBER,
  fieldKind,
  formChanged,
  initialForm,
  optionText,
  validateForm,
  type FieldValue,
  type FormErrors,
  type FormValues,
} from "./settingsForm";
import type { DocNode, NodeSpec, SettingSpec } from "./types";

interface Props {
  node: DocNode;
  spec: NodeSpec | null;
  onApply(nodeId: string, settings: Record<string, unknown>): void;
}

export const SettingsPanel = memo(function SettingsPanel({ node, spec, onApply }: Props) {
  const specs = spec?.settings ?? [];
  const [form, setForm] = useState<FormValues>(() => initialForm(specs, node.settings));
  const [errors, setErrors] = useState<FormErrors>({});
  const [applied, setApplied] = useState(false);
  const { store } = useCanvas();
  const problem = useNodeProblem(store, node.id);
  const answers = useProblemAnswers(store);
  const [waitingFor, setWaitingFor] = useState<number | null>(null); // the answer count at Apply

  // The kernel's answer to an Apply: applied only if it accepts the settings.
  useEffect(() => {
    if (waitingFor !== null && answers > waitingFor) {
      setWaitingFor(null);
      setApplied(!problem);
    }
  }, [answers, waitingFor, problem]);

  // The node's settings changed underneath (applied, undo, Python): show them.
  useEffect(() => {
    setForm(initialForm(spec?.settings ?? [], node.settings));
    setErrors({});
  }, [node.settings, spec]);

  const set = (name: string, value: FieldValue) => {
    setForm((f) => ({ ...f, [name]: value }));
    setApplied(false);
  };

  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    const result = validateForm(specs, form, node.settings);
    if (!result.ok) {
      setErrors(result.errors);
      setApplied(false);
      return;
    }
    setErrors({});
    if (formChanged(specs, form, node.settings)) {
      setApplied(false);
      setWaitingFor(answers);
      onApply(node.id, result.settings);
    } else {
      setApplied(!problem);
    }
  };

  const reset = () => {
    setForm(initialForm(specs, node.settings));
    setErrors({});
    setApplied(false);
  };

  const dirty = formChanged(specs, form, node.settings);

  return (
    <section className="dfj-panel dfj-settings dfj-scroll" data-testid="settings" aria-label={MSG.settingsTitle}>
      <header className="dfj-panel-title">
        <span className="dfj-settings-name">{spec?.name ?? node.typeId}</span>
        <span className="dfj-settings-id">{node.id}</span>
      </header>
      {spec ? (
        <p className="dfj-help dfj-settings-description">{spec.description}</p>
      ) : (
        <p className="dfj-help dfj-warning">{MSG.settingsUnknownType(node.typeId, node.version)}</p>
      )}
      {spec && specs.length === 0 && <p className="dfj-help">{MSG.settingsNone}</p>}
      {specs.length > 0 && (
        <form className="dfj-settings-form" onSubmit={apply} noValidate>
          {specs.map((s) => (
            <Field key={s.name} setting={s} value={form[s.name] ?? ""} error={errors[s.name]} onChange={set} />
          ))}
          <div className="dfj-settings-actions">
            <button type="submit" className="dfj-button dfj-primary" data-testid="settings-apply">
              {MSG.apply}
            </button>
            <button type="button" className="dfj-button" data-testid="settings-reset" onClick={reset} disabled={!dirty}>
              {MSG.reset}
            </button>
            {waitingFor !== null && <span className="dfj-help" data-testid="settings-checking">{MSG.checking}</span>}
            {waitingFor === null && applied && !dirty && !problem && (
              <span className="dfj-help dfj-applied" data-testid="settings-applied">
                {MSG.applied}
              </span>
            )}
          </div>
          {problem && (
            <p className="dfj-help dfj-warning" data-testid="settings-problem" role="alert">
              {MSG.notApplied(problem)}
            </p>
          )}
        </form>
      )}
    </section>
  );
});

interface FieldProps {
  setting: SettingSpec;
  value: FieldValue;
  error: string | undefined;
  onChange(name: string, value: FieldValue): void;
}

function Field({ setting: s, value, error, onChange }: FieldProps) {
  const kind = fieldKind(s);
  const id = `dfj-setting-${s.name}`;
  const label = s.label || s.name;
  const text = typeof value === "string" ? value : "";
  const common = {
    id,
    "data-testid": `setting-${s.name}`,
    "aria-invalid": error ? true : undefined,
    className: cls("dfj-input", error && "dfj-invalid"),
  };
  const placeholder =
    s.default !== undefined && s.default !== null && kind !== "checkbox" ? MSG.defaultHint(JSON.stringify(s.default)) : undefined;

  let input: JSX.Element;
  switch (kind) {
    case "checkbox":
      input = <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(s.name, e.target.checked)} />;
      break;
    case "number":
      input = (
        <input
          {...common}
          type="number"
          inputMode={s.type === "integer" ? "numeric" : "decimal"}
          step={s.type === "integer" ? 1 : "any"}
          min={s.minimum ?? undefined}
          max={s.maximum ?? undefined}
          value={text === BAD_NUMBER ? "" : text}
          placeholder={placeholder}
          onChange={(e) => onChange(s.name, e.target.validity.badInput ? BAD_NUMBER : e.target.value)}
        />
      );
      break;
    case "select":
      input = (
        <select {...common} value={text} onChange={(e) => onChange(s.name, e.target.value)}>
          {(!s.required || text === "") && <option value="">{MSG.notSet}</option>}
          {(s.options ?? []).map((o) => (
            <option key={optionText(o)} value={optionText(o)}>
              {optionText(o)}
            </option>
          ))}
        </select>
      );
      break;
    case "code":
    case "json":
      input = (
        <textarea
          {...common}
          className={cls(common.className, "dfj-mono")}
          rows={kind === "json" ? 4 : 2}
          spellCheck={false}
          value={text}
          placeholder={placeholder}
          onChange={(e) => onChange(s.name, e.target.value)}
        />
      );
      break;
    default:
      input = (
        <input {...common} type="text" spellCheck={false} value={text} placeholder={placeholder} onChange={(e) => onChange(s.name, e.target.value)} />
      );
  }

  return (
    <div className={cls("dfj-field", `dfj-field-${kind}`, error && "dfj-has-error")}>
      <label htmlFor={id} className="dfj-label">
        {label}
        {s.required && <span className="dfj-required"> *</span>}
        <span className="dfj-setting-type">{s.type}</span>
      </label>
      {input}
      {s.description && <div className="dfj-help">{s.description}</div>}
      {error && (
        <div className="dfj-field-error" data-testid="settings-error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
