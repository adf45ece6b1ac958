from __future__ import annotations

import pyarrow as pa
import pytest

from dataflow_jupyter import DataPacket, ErrorCode, ErrorPacket, PortSchema, PortType
from dataflow_jupyter.ports import (
    arrow_type,
    connection_problems,
    parse_semver,
    value_problem,
)


def port(kind: str, **narrowing: object) -> PortSchema:
    return PortSchema(type=PortType(kind), **narrowing)  # type: ignore[arg-type]


def test_there_are_ten_port_types() -> None:
    assert {t.value for t in PortType} == {
        "any", "signal", "object", "number", "string", "boolean",
        "array", "table", "binary", "error_packet",
    }  # fmt: skip


@pytest.mark.parametrize("kind", [t.value for t in PortType])
def test_any_and_signal_accept_everything(kind: str) -> None:
    assert connection_problems(port(kind), port("any")) == []
    assert connection_problems(port(kind), port("signal")) == []
    assert connection_problems(port("any"), port(kind)) == []


def test_different_types_are_refused_with_a_reason() -> None:
    assert connection_problems(port("number"), port("string")) == [
        "a number output cannot feed a string input"
    ]


def test_table_columns_are_checked_by_name_and_arrow_type() -> None:
    src = port("table", columns={"price": "float64", "sym": "string"})
    assert connection_problems(src, port("table", columns={"price": "double"})) == []
    assert connection_problems(src, port("table", columns={"qty": "int64"})) == [
        "the input needs column 'qty' (int64), which the output lacks"
    ]
    assert connection_problems(src, port("table", columns={"price": "int64"})) == [
        "column 'price' is float64 at the output but int64 at the input"
    ]
    assert connection_problems(port("table"), port("table", columns={"x": "int64"})) == []


def test_object_schemas_check_required_properties_and_types() -> None:
    src = port("object", json_schema={"properties": {"price": {"type": "number"}}})
    dst = port("object", json_schema={"required": ["price", "sym"]})
    assert connection_problems(src, dst) == [
        "the input requires property 'sym', which the output lacks"
    ]
    wrong = port("object", json_schema={"properties": {"price": {"type": "string"}}})
    assert connection_problems(src, wrong) == [
        "property 'price' is number at the output but string at the input"
    ]


def test_schema_versions_connect_across_minors_but_not_majors() -> None:
    v1 = port("object", schema_id="tick", schema_version="1.2.0")
    assert connection_problems(v1, port("object", schema_id="tick", schema_version="1.0.0")) == []
    problems = connection_problems(v1, port("object", schema_id="tick", schema_version="2.0.0"))
    assert problems == ["schema 'tick' 1.2.0 cannot feed 2.0.0: major versions differ"]
    other = port("object", schema_id="quote", schema_version="1.0.0")
    assert connection_problems(v1, other) == ["schema 'tick' cannot feed schema 'quote'"]


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("number", 1.5, "1.5"),
        ("number", 3, True),
        ("string", "x", 1),
        ("boolean", False, 0),
        ("array", [1], {"a": 1}),
        ("object", {"a": 1}, [1]),
        ("binary", b"x", "x"),
        ("table", pa.table({"a": [1]}), {"a": [1]}),
        ("error_packet", ErrorPacket(ErrorCode.TIMEOUT, "slow"), {"code": "TIMEOUT"}),
    ],
)
def test_values_are_checked_against_the_port_type(kind: str, good: object, bad: object) -> None:
    assert value_problem(port(kind), good, node_id="n", port="p") is None
    message = value_problem(port(kind), bad, node_id="n", port="p")
    assert message is not None
    assert message.startswith(f"node 'n' port 'p' expects {kind}; got {type(bad).__name__}")


def test_a_table_value_is_checked_against_its_columns() -> None:
    schema = port("table", columns={"price": "float64"})
    assert value_problem(schema, pa.table({"price": [1.0]}), node_id="n", port="p") is None
    message = value_problem(schema, pa.table({"price": [1]}), node_id="n", port="p")
    assert message == (
        "node 'n' port 'p' expects table with columns price: float64; "
        "got a table with column 'price' of type int64"
    )


def test_a_json_schema_value_check_names_the_failing_path() -> None:
    schema = port(
        "object",
        json_schema={"type": "object", "properties": {"price": {"type": "number"}}},
    )
    message = value_problem(schema, {"price": "high"}, node_id="n", port="p")
    assert message is not None
    assert "fails its schema at price" in message


def test_a_packet_is_checked_by_its_payload() -> None:
    packet = DataPacket(binary_value=pa.table({"a": [1]}))
    assert value_problem(port("table"), packet, node_id="n", port="p") is None


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "", "1.0.0-", "a.b.c"])
def test_bad_semver_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a semantic version"):
        parse_semver(text)


def test_semver_order() -> None:
    assert parse_semver("1.0.0-rc.1") < parse_semver("1.0.0") < parse_semver("1.2.0")
    assert parse_semver("1.10.0") > parse_semver("1.9.3")
    assert str(parse_semver("2.0.0-beta+build.5")) == "2.0.0-beta"


def test_arrow_type_names() -> None:
    assert arrow_type("float64") == pa.float64()
    with pytest.raises(ValueError, match="is not an Arrow type name"):
        arrow_type("floaty")
