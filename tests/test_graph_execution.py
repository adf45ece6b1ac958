"""Where a node runs: ``execution.offload: cluster`` and ``parallelism`` in a node type's spec
and per node instance in a graph (``GraphNode.execution``), and the rules ``validate``
holds them to (issue 14)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from dataflow_jupyter import Graph, GraphValidationError
from dataflow_jupyter.graph import GraphNode, NodeExecution, graph_json_schema
from dataflow_jupyter.node import IONode, NodeContext, PureNode, StatefulNode
from dataflow_jupyter.spec import NodeSpec, node_spec_json_schema
from dataflow_jupyter.testing import node_registry, spec

if TYPE_CHECKING:
    from dataflow_jupyter import NodeRegistry
    from dataflow_jupyter.packets import DataPacket


class Square(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        return {"out": inputs["in"].value ** 2}


class AsyncSquare(PureNode):
    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        return {"out": inputs["in"].value ** 2}


class Total(StatefulNode):
    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        return {"out": inputs["in"].value}


class Source(IONode):
    async def run(self, ctx: NodeContext) -> None:
        await ctx.emit("out", 1)


class Writer(IONode):
    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> None:
        return None


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry(
        (spec("source", [], ["out"]), Source),
        (spec("square", ["in"], ["out"]), Square),
        (spec("async-square", ["in"], ["out"]), AsyncSquare),
        (spec("total", ["in"], ["out"]), Total),
        (spec("writer", ["in"], []), Writer),
        (spec("heavy", ["in"], ["out"], execution={"offload": "cluster"}), Square),
    )


def graph_with(
    registry: NodeRegistry, type_id: str, state: str = "memory", **execution: Any
) -> Graph:
    """source -> ``type_id`` (id ``x``, with ``execution``), the graph's state storage ``state``."""
    graph = Graph.from_dict(
        {"id": "g", "version": "1.0.0", "config": {"stateStorage": state}}, registry=registry
    )
    graph.add_node("source", id="src")
    graph.add_node(type_id, id="x", execution=execution or None)
    graph.connect("src.out", "x.in")
    return graph


# -- the spec ------------------------------------------------------------------------------------


def test_a_spec_may_send_its_node_to_the_cluster_with_parallelism() -> None:
    heavy = spec("heavy", ["in"], ["out"], execution={"offload": "cluster", "parallelism": 8})
    assert (heavy.execution.offload, heavy.execution.parallelism) == ("cluster", 8)
    assert spec("plain").execution.parallelism == 1
    assert heavy.to_json()["execution"]["parallelism"] == 8
    for bad in (0, 1025):
        with pytest.raises(ValueError, match="parallelism"):
            spec("heavy", execution={"parallelism": bad})
    schema = node_spec_json_schema()
    jsonschema.validate(heavy.to_json(), schema)
    execution = schema["$defs"]["ExecutionSpec"]["properties"]
    assert "cluster" in json.dumps(execution["offload"])
    assert execution["parallelism"]["minimum"] == 1


def test_with_execution_applies_an_instances_override() -> None:
    base = spec("square", ["in"], ["out"], execution={"retry": 2})
    assert base.with_execution(None) is base
    assert base.with_execution({"offload": None, "parallelism": None}) is base
    assert base.with_execution({"offload": "auto"}) is base  # nothing changes
    moved = base.with_execution({"offload": "cluster", "parallelism": 4})
    assert (moved.execution.offload, moved.execution.parallelism) == ("cluster", 4)
    assert moved.execution.retry == 2  # the rest is the type's
    assert (base.execution.offload, base.execution.parallelism) == ("auto", 1)  # frozen
    assert isinstance(moved, NodeSpec)
    again = moved.with_execution(NodeExecution(parallelism=2))  # a graph node's override
    assert (again.execution.offload, again.execution.parallelism) == ("cluster", 2)
    assert base.with_execution(NodeExecution()) is base
    with pytest.raises(ValueError, match="unknown execution key 'retry'"):
        base.with_execution({"retry": 5})
    with pytest.raises(ValueError, match="parallelism"):
        base.with_execution({"parallelism": 0})


# -- the graph document --------------------------------------------------------------------------


def test_a_nodes_execution_is_saved_only_when_set(registry: NodeRegistry, tmp_path: Any) -> None:
    graph = graph_with(registry, "square", offload="cluster", parallelism=4)
    graph.add_node("square", id="plain")
    [_, x, plain] = graph.to_dict()["nodes"]
    assert list(x) == ["id", "typeId", "version", "settings", "position", "execution"]
    assert x["execution"] == {"offload": "cluster", "parallelism": 4}
    assert "execution" not in plain
    path = graph.save(tmp_path / "g.dfgraph.json")
    again = Graph.load(path, registry=registry)
    assert again.node("x").execution == NodeExecution(offload="cluster", parallelism=4)
    assert again.node("plain").execution is None
    assert again.to_json() == path.read_text(encoding="utf-8")
    jsonschema.validate(graph.to_dict(), graph_json_schema())


def test_an_empty_override_is_no_override() -> None:
    node = GraphNode.model_validate(
        {"id": "a", "typeId": "square", "version": "1.0.0", "execution": {}}
    )
    assert node.execution is None
    half = GraphNode.model_validate(
        {"id": "a", "typeId": "square", "version": "1.0.0", "execution": {"parallelism": 2}}
    )
    assert half.model_dump(by_alias=True, exclude_none=True)["execution"] == {"parallelism": 2}


def test_a_bad_override_names_the_node_and_the_key(registry: NodeRegistry) -> None:
    document = {
        "id": "g",
        "version": "1.0.0",
        "nodes": [
            {"id": "a", "typeId": "square", "version": "1.0.0", "execution": {"offload": "gpu"}},
            {"id": "b", "typeId": "square", "version": "1.0.0", "execution": {"retry": 3}},
            {"id": "c", "typeId": "square", "version": "1.0.0", "execution": {"parallelism": 0}},
        ],
    }
    with pytest.raises(GraphValidationError) as info:
        Graph.from_dict(document, registry=registry)
    [offload, key, parallelism] = info.value.problems
    assert offload.startswith("node 'a' (nodes[0]) 'execution.offload': Input should be 'auto'")
    assert key == "node 'b' (nodes[1]): unknown key 'retry'; allowed keys: offload, parallelism"
    assert parallelism.startswith("node 'c' (nodes[2]) 'execution.parallelism': Input should be")


def test_add_node_and_update_node_set_the_override(registry: NodeRegistry) -> None:
    graph = Graph("g", registry=registry)
    graph.add_node("square", id="a", execution=NodeExecution(offload="cluster"))
    assert graph.node("a").execution == NodeExecution(offload="cluster")
    moved = graph.update_node("a", execution={"offload": "cluster", "parallelism": 3})
    assert moved.execution == NodeExecution(offload="cluster", parallelism=3)
    assert graph.update_node("a", settings={}).execution == moved.execution  # kept
    assert graph.update_node("a", execution={}).execution is None  # removed
    with pytest.raises(GraphValidationError, match="unknown key 'where'"):
        graph.update_node("a", execution={"where": "cluster"})


# -- the rules -----------------------------------------------------------------------------------


def test_pure_sync_nodes_may_run_on_the_cluster_in_parallel(registry: NodeRegistry) -> None:
    assert graph_with(registry, "square", offload="cluster", parallelism=16).problems() == []
    assert graph_with(registry, "heavy", parallelism=2).problems() == []  # its type says cluster
    assert graph_with(registry, "square", offload="thread").problems() == []


def test_parallelism_needs_the_cluster(registry: NodeRegistry) -> None:
    [problem] = graph_with(registry, "square", parallelism=4).problems()
    assert problem == (
        "node 'x' (square 1.0.0): execution.parallelism is 4, but it runs in the kernel "
        "(execution.offload: auto), where a node fires one firing at a time; set "
        "execution.offload to cluster (and run with a cluster executor such as DaskExecutor), "
        "or parallelism to 1"
    )
    graph = graph_with(registry, "heavy", offload="thread", parallelism=4)
    assert graph.node_problems() == {"x": [problem.split(": ", 1)[1].replace("auto", "thread")]}


def test_parallelism_is_for_pure_nodes_only(registry: NodeRegistry) -> None:
    [problem] = graph_with(
        registry, "total", state="redis", offload="cluster", parallelism=2
    ).problems()
    assert problem == (
        "node 'x' (total 1.0.0): execution.parallelism is 2, but total is a stateful node: "
        "each firing depends on the ones before it, so they run one at a time. Set "
        "parallelism to 1; only pure nodes fire in parallel"
    )


@pytest.mark.parametrize("storage", ["memory", "file"])
def test_a_stateful_node_on_the_cluster_needs_redis_state(
    registry: NodeRegistry, storage: str
) -> None:
    graph = graph_with(registry, "total", state=storage, offload="cluster")
    [problem] = graph.problems()
    assert problem == (
        "node 'x' (total 1.0.0): it runs on the cluster (execution.offload: cluster) and keeps "
        "state: set the graph's state storage to redis (config.stateStorage: "
        f'{{"type": "redis", "url": ...}}) so the workers can reach it; {storage} state stays '
        "in the kernel"
    )
    assert graph.node_problems() == {"x": [problem.split(": ", 1)[1]]}
    with pytest.raises(GraphValidationError, match="set the graph's state storage to redis"):
        graph.validate()
    assert graph_with(registry, "total", state="redis", offload="cluster").problems() == []


def test_sources_and_io_nodes_stay_in_the_kernel(registry: NodeRegistry) -> None:
    graph = Graph("g", registry=registry)
    graph.add_node("source", id="src", execution={"offload": "cluster"})
    graph.add_node("writer", id="out", execution={"offload": "cluster"})
    graph.connect("src.out", "out.in")
    assert graph.problems() == [
        "node 'src' (source 1.0.0): it runs on the cluster (execution.offload: cluster), but "
        "source is a source: sources and I/O nodes run in the kernel. Set execution.offload "
        "to auto",
        "node 'out' (writer 1.0.0): it runs on the cluster (execution.offload: cluster), but "
        "writer is an I/O node: sources and I/O nodes run in the kernel. Set "
        "execution.offload to auto",
    ]


def test_async_nodes_may_run_on_the_cluster(registry: NodeRegistry) -> None:
    """A worker awaits an ``async def process`` on its own event loop."""
    assert graph_with(registry, "async-square", offload="cluster").problems() == []
    assert graph_with(registry, "async-square", offload="cluster", parallelism=4).problems() == []


def test_only_nodes_that_ask_for_the_cluster_load_their_class() -> None:
    """A spec registered without a class is checked by its spec alone (parallelism's rule)."""
    registry = node_registry((spec("source", [], ["out"]), Source))
    registry.register(spec("square", ["in"], ["out"]))
    assert graph_with(registry, "square", offload="cluster", parallelism=3).problems() == []
    [problem] = graph_with(registry, "square", parallelism=3).problems()
    assert "where a node fires one firing at a time" in problem
