from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from dataflow_jupyter import NodeSpec, SettingsError
from dataflow_jupyter.schemas import generated_schemas, render, schema_path
from dataflow_jupyter.spec import format_validation_error

HTTP_REQUEST: dict[str, Any] = {
    "id": "http-request",
    "version": "1.0.0",
    "compatibility": {"minRuntime": "0.1.0"},
    "category": "Network",
    "name": "HTTP Request",
    "description": "Sends an HTTP request when triggered.",
    "ui": {"color": "#3b82f6", "icon": "globe", "resizable": False},
    "execution": {"timeoutMs": 30000, "retry": 3, "recoverable": True},
    "ports": {
        "inputs": [
            {"name": "trigger", "type": "signal", "required": True},
            {"name": "body", "type": "object", "required": False},
        ],
        "outputs": [
            {"name": "response", "type": "object"},
            {"name": "error", "type": "error_packet"},
        ],
    },
    "settings": [
        {"name": "url", "type": "string", "label": "URL", "required": True},
        {
            "name": "method",
            "type": "enum",
            "label": "Method",
            "options": ["GET", "POST", "PUT", "DELETE"],
            "default": "GET",
        },
        {"name": "headers", "type": "json", "label": "Headers", "default": {}},
    ],
}


def spec_with_settings(*settings: dict[str, Any]) -> NodeSpec:
    return NodeSpec.model_validate(
        {"id": "s", "version": "1.0.0", "category": "T", "name": "S", "settings": list(settings)}
    )


def test_the_seed_example_validates_and_round_trips() -> None:
    spec = NodeSpec.model_validate(HTTP_REQUEST)
    assert spec.key == ("http-request", "1.0.0")
    assert spec.execution.timeout_ms == 30000
    assert spec.input("body") is not None
    assert spec.input("body").required is False  # type: ignore[union-attr]
    assert spec.output("nope") is None
    assert NodeSpec.model_validate(spec.to_json()) == spec


def test_optional_execution_fields_have_defaults() -> None:
    execution = NodeSpec.model_validate(HTTP_REQUEST).execution
    assert (execution.fire, execution.offload, execution.distributable) == ("all", "auto", False)


def test_settings_are_defaulted() -> None:
    spec = NodeSpec.model_validate(HTTP_REQUEST)
    assert spec.validate_settings({"url": "http://x"}) == {
        "url": "http://x",
        "method": "GET",
        "headers": {},
    }


def test_every_settings_problem_is_reported_at_once() -> None:
    spec = NodeSpec.model_validate(HTTP_REQUEST)
    with pytest.raises(SettingsError) as caught:
        spec.validate_settings({"method": "PATCH", "colour": "red"})
    assert caught.value.problems == [
        "unknown setting 'colour'; http-request 1.0.0 has headers, method, url",
        "setting 'url' is required",
        "setting 'method': expects one of ['GET', 'POST', 'PUT', 'DELETE']; got 'PATCH'",
    ]


@pytest.mark.parametrize(
    ("setting", "good", "bad", "fragment"),
    [
        ({"type": "string"}, "x", 1, "expects a string"),
        ({"type": "number"}, 1.5, "1.5", "expects a number"),
        ({"type": "number"}, 2, float("nan"), "expects a finite number"),
        ({"type": "integer"}, 3, 3.5, "expects an integer"),
        ({"type": "integer"}, 3, True, "expects an integer"),
        ({"type": "integer", "minimum": 1}, 1, 0, "must be at least 1"),
        ({"type": "boolean"}, True, "yes", "expects true or false"),
        ({"type": "enum", "options": ["a", "b"]}, "a", "c", "expects one of"),
        ({"type": "expression"}, "value['x'] > 3", "value[", "is not valid"),
        ({"type": "expression"}, "1", "x" * 10_001, "the limit is 10000"),
        ({"type": "expression"}, "-1", "-" * 9_000 + "1", "nested too deeply"),
        ({"type": "json"}, {"a": [1, None]}, {"a": {1, 2}}, "expects a JSON value"),
        ({"type": "code-ref"}, "math:sqrt", "os.system('x')", "module:function"),
        ({"type": "code-ref"}, "math:floor", "math:sqrt.__self__", "module:function"),
        ({"type": "code-ref"}, "math:sqrt", "json:loads", "which is not allowed"),
    ],
)
def test_each_setting_type_is_validated(
    setting: dict[str, Any],
    good: object,
    bad: object,
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", "math")  # code-ref: see test_coderef.py
    spec = spec_with_settings({"name": "v", **setting})
    assert spec.validate_settings({"v": good}) == {"v": good}
    with pytest.raises(SettingsError, match=fragment):
        spec.validate_settings({"v": bad})


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"version": "1.0"}, "is not a semantic version"),
        ({"id": "HTTP_Request"}, "String should match pattern"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"ui": {"color": "blue"}}, "ui.color: String should match pattern"),
        ({"execution": {"timeoutMs": -1}}, "execution.timeoutMs"),
        ({"ports": {"inputs": [{"name": "a", "type": "tensor"}]}}, "ports.inputs.0.type"),
        ({"ports": {"inputs": [{"name": "a"}, {"name": "a"}]}}, "duplicate port name 'a'"),
        (
            {"ports": {"outputs": [{"name": "a", "type": "number", "columns": {"x": "int64"}}]}},
            "'columns' narrows a table port",
        ),
        (
            {"ports": {"outputs": [{"name": "a", "type": "table", "columns": {"x": "int65"}}]}},
            "is not an Arrow type name",
        ),
        ({"settings": [{"name": "m", "type": "enum"}]}, "needs a non-empty 'options' list"),
        ({"settings": [{"name": "m", "type": "integer", "default": "1"}]}, "default of setting"),
    ],
)
def test_bad_specs_name_the_field(patch: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NodeSpec.model_validate({**HTTP_REQUEST, **patch})
    assert fragment in "\n".join(format_validation_error(caught.value))


@pytest.mark.parametrize("name", ["node", "graph"])
def test_the_shipped_json_schemas_are_current(name: str) -> None:
    shipped = schema_path(name).read_text(encoding="utf-8")
    assert shipped == render(generated_schemas()[f"{name}.schema.json"]), (
        "run `make schemas` to regenerate the shipped JSON Schemas"
    )


def test_the_node_json_schema_accepts_the_seed_example() -> None:
    import jsonschema

    schema = json.loads(schema_path("node").read_text(encoding="utf-8"))
    jsonschema.validate(HTTP_REQUEST, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**HTTP_REQUEST, "colour": "red"}, schema)


def test_mutable_defaults_are_not_shared_between_nodes() -> None:
    spec = spec_with_settings({"name": "seen", "type": "json", "default": []})
    first, second = spec.validate_settings({}), spec.validate_settings({})
    first["seen"].append(1)
    assert second["seen"] == []
    assert spec.settings[0].default == []
