import { strict as assert } from "node:assert";
import { test } from "node:test";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import ELK from "elkjs/lib/elk.bundled.js";
import { META_KEY, decodeArrow, formatNumber } from "../src/canvas/arrowTable";
import { edgeProblems } from "../src/canvas/connections";
import {
  addEdge,
  addNode,
  deleteElements,
  docToFlowEdges,
  indexDoc,
  moveNodes,
  nextId,
  nodeOffload,
  normalizeDoc,
  setNodeSettings,
} from "../src/canvas/graphDoc";
import { canRedo, canUndo, initHistory, pushHistory, redo, undo } from "../src/canvas/history";
import { elkGraph, elkPositions } from "../src/canvas/layout";
import { MIN_FIT_ZOOM, overlapping, readableViewport, resolveOverlaps } from "../src/canvas/placement";
import { initialForm, validateForm } from "../src/canvas/settingsForm";
import { dashboardUrl, mergeStatus, normalizeStatus } from "../src/canvas/status";
import { graphText } from "../src/lab/graphText";
import type { GraphDoc, NodeSpec, PortSpec, SettingSpec } from "../src/canvas/types";

const spec = (settings: SettingSpec[] = []): NodeSpec =>
  ({
    id: "mapper",
    version: "1.2.0",
    category: "Logic",
    name: "Mapper",
    ui: { color: "#8b5cf6", icon: "shuffle" },
    ports: { inputs: [{ name: "in", type: "any" }], outputs: [{ name: "out", type: "any" }] },
    settings,
  }) as unknown as NodeSpec;

const empty = (): GraphDoc => normalizeDoc({ id: "g", version: "1.0.0", metadata: { author: "me" } });

test("new ids follow the largest n<k>, whatever ids Python gave", () => {
  assert.equal(nextId("n", []), "n1");
  assert.equal(nextId("n", ["n1", "src", "n7", "n10x"]), "n8");
  assert.equal(nextId("e", ["e2", "wire"]), "e3");
});

test("a new node starts from its spec's defaults, at a whole position", () => {
  const settings: SettingSpec[] = [
    { name: "expression", type: "expression", required: true } as SettingSpec,
    { name: "level", type: "enum", options: ["info", "warn"], default: "info" } as SettingSpec,
  ];
  const { doc, id } = addNode(empty(), spec(settings), { x: 10.6, y: -3.2 });
  assert.equal(id, "n1");
  assert.deepEqual(doc.nodes[0], {
    id: "n1",
    typeId: "mapper",
    version: "1.2.0",
    settings: { level: "info" },
    position: { x: 11, y: -3 },
  });
  assert.deepEqual(doc.metadata, { author: "me" }); // fields the canvas does not edit are kept
});

test("deleting a node takes its edges; nothing to delete keeps the same document", () => {
  let doc = empty();
  for (let i = 0; i < 3; i++) doc = addNode(doc, spec(), { x: i * 100, y: 0 }).doc;
  doc = addEdge(doc, { source: "n1", sourcePort: "out", target: "n2", targetPort: "in" }).doc;
  doc = addEdge(doc, { source: "n2", sourcePort: "out", target: "n3", targetPort: "in" }).doc;
  const without = deleteElements(doc, ["n2"], []);
  assert.deepEqual(without.nodes.map((n) => n.id), ["n1", "n3"]);
  assert.deepEqual(without.edges, []);
  assert.equal(deleteElements(doc, ["nope"], ["nope"]), doc);
  const edgeOnly = deleteElements(doc, [], ["e1"]);
  assert.deepEqual(edgeOnly.edges.map((e) => e.id), ["e2"]);
});

test("moves round to whole positions and a move to the same place changes nothing", () => {
  const doc = addNode(empty(), spec(), { x: 0, y: 0 }).doc;
  assert.equal(moveNodes(doc, new Map([["n1", { x: 0.2, y: -0.3 }]])), doc);
  const moved = moveNodes(doc, new Map([["n1", { x: 40.5, y: 9.4 }]]));
  assert.deepEqual(moved.nodes[0]?.position, { x: 41, y: 9 });
});

test("undo and redo walk the history; a new edit drops the redo branch; the limit holds", () => {
  const a = empty();
  const b = addNode(a, spec(), { x: 0, y: 0 }).doc;
  const c = addNode(b, spec(), { x: 0, y: 0 }).doc;
  let h = pushHistory(pushHistory(initHistory(a), b), c);
  h = undo(undo(h));
  assert.equal(h.present, a);
  assert.equal(canUndo(h), false);
  h = redo(h);
  assert.equal(h.present, b);
  assert.equal(canRedo(h), true);
  h = pushHistory(h, a);
  assert.equal(canRedo(h), false);
  let long = initHistory(a);
  for (let i = 0; i < 10; i++) long = pushHistory(long, addNode(a, spec(), { x: i, y: 0 }).doc, 4);
  assert.equal(long.past.length, 4);
});

test("the settings form checks every field before anything applies", () => {
  const specs = [
    { name: "expression", type: "expression", required: true },
    { name: "count", type: "integer", minimum: 0, maximum: 10 },
    { name: "rate", type: "number" },
    { name: "level", type: "enum", options: ["info", "warn"] },
    { name: "value", type: "json" },
    { name: "flag", type: "boolean", default: true },
  ] as SettingSpec[];
  const form = initialForm(specs, { count: 3, value: { a: 1 }, extra: "kept" });
  assert.equal(form.flag, true); // an absent boolean shows its default
  const bad = validateForm(
    specs,
    { ...form, expression: "", count: "2.5", rate: "fast", level: "debug", value: "{oops" },
    {},
  );
  assert.equal(bad.ok, false);
  assert.deepEqual(Object.keys(bad.ok ? {} : bad.errors).sort(), ["count", "expression", "level", "rate", "value"]);
  const tooMany = validateForm(specs, { ...form, expression: "value", count: "11" }, {});
  assert.equal(tooMany.ok, false);
  const good = validateForm(
    specs,
    { ...form, expression: "value * 2", count: "4", rate: "", level: "warn", value: "[1, 2]", flag: false },
    { extra: "kept", rate: 0.5 },
  );
  assert.deepEqual(good, {
    ok: true,
    settings: { extra: "kept", expression: "value * 2", count: 4, level: "warn", value: [1, 2], flag: false },
  });
});

test("an inspector page decodes from Arrow IPC bytes with readable cells", () => {
  const table = tableFromArrays({ packet_id: ["p1", "p2"], value: Float64Array.from([42, 1.5]) });
  const bytes = tableToIPC(table, "stream");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const page = decodeArrow(view);
  assert.deepEqual(page.columns, ["packet_id", "value"]);
  assert.deepEqual(page.rows, [
    ["p1", "42"],
    ["p2", "1.5"],
  ]);
});

test("ELK lays a chain out left to right from the canvas's layout input", async () => {
  let doc = empty();
  for (let i = 0; i < 4; i++) doc = addNode(doc, spec(), { x: 0, y: 0 }).doc;
  for (let i = 1; i < 4; i++) {
    doc = addEdge(doc, { source: `n${i}`, sourcePort: "out", target: `n${i + 1}`, targetPort: "in" }).doc;
  }
  const input = elkGraph(
    doc.nodes.map((n) => ({ id: n.id })),
    doc.edges,
  );
  const positions = elkPositions(await new ELK().layout(input));
  const xs = ["n1", "n2", "n3", "n4"].map((id) => positions.get(id)?.x ?? Number.NaN);
  assert.ok(xs.every((x, i) => i === 0 || x > (xs[i - 1] as number)), `x grows along the chain: ${xs}`);
});

test("floats show a readable precision; integers and tiny numbers stay exact", () => {
  assert.equal(formatNumber(3685.2272727272725), "3685.2273");
  assert.equal(formatNumber(0.5), "0.5");
  assert.equal(formatNumber(0.000123456), "0.000123456");
  assert.equal(formatNumber(1.5e-9), "1.5e-9");
  assert.equal(formatNumber(71232), "71232");
  assert.equal(formatNumber(-2.00001), "-2");
});

test("the inspector knows the packet-metadata columns the kernel names", () => {
  const table = tableFromArrays({ price: Float64Array.from([3685.2272727272725]), packet_id: ["p1"] });
  table.schema.metadata.set(META_KEY, JSON.stringify(["packet_id"]));
  const bytes = tableToIPC(table, "stream");
  const page = decodeArrow(bytes);
  assert.deepEqual(page.meta, [false, true]);
  assert.deepEqual(page.rows, [["3685.2273", "p1"]]);
  assert.deepEqual(page.full, [["3685.2272727272725", "p1"]]);
});

test("overlapping boxes are found; new nodes move to free spots, the others stay", () => {
  const at = (id: string, x: number, y: number) => ({ id, x, y, width: 240, height: 100 });
  const rects = [at("a", 0, 0), at("b", 300, 0), ...Array.from({ length: 20 }, (_, i) => at(`p${i}`, 0, 0))];
  assert.equal(overlapping([at("a", 0, 0), at("b", 240, 0)]).length, 0); // touching is fine
  assert.ok(overlapping(rects).length > 0);
  const fresh = new Set(rects.slice(2).map((r) => r.id));
  const moves = resolveOverlaps(rects, fresh);
  assert.equal(moves.size, 20);
  assert.ok(!moves.has("a") && !moves.has("b"));
  const after = rects.map((r) => ({ ...r, ...(moves.get(r.id) ?? {}) }));
  assert.deepEqual(overlapping(after), []);
});

test("fit never zooms below the readable minimum; a big graph shows its top-left", () => {
  const small = readableViewport({ x: 0, y: 0, width: 500, height: 200 }, { width: 800, height: 500 });
  assert.ok(small.zoom >= MIN_FIT_ZOOM && small.zoom <= 1.25);
  const big = readableViewport({ x: 100, y: 50, width: 5000, height: 3000 }, { width: 600, height: 450 });
  assert.equal(big.zoom, MIN_FIT_ZOOM);
  assert.equal(big.x, 24 - 100 * MIN_FIT_ZOOM);
  assert.equal(big.y, 24 - 50 * MIN_FIT_ZOOM);
});

test("an edge of a loaded document that its ports refuse, or that names a missing port, is a problem", () => {
  const s = (id: string, inputs: PortSpec[], outputs: PortSpec[]) =>
    ({ id, version: "1.0.0", name: id, ports: { inputs, outputs }, settings: [], ui: {} }) as unknown as NodeSpec;
  const specs = new Map([
    ["src@1.0.0", s("src", [], [{ name: "out", type: "number" }, { name: "error", type: "error_packet" }])],
    ["sink@1.0.0", s("sink", [{ name: "in", type: "table" }], [])],
  ]);
  const doc = normalizeDoc({
    nodes: [
      { id: "a", typeId: "src", version: "1.0.0", settings: {}, position: { x: 0, y: 0 } },
      { id: "b", typeId: "sink", version: "1.0.0", settings: {}, position: { x: 300, y: 0 } },
    ],
    edges: [
      { id: "e1", source: "a", sourcePort: "error", target: "b", targetPort: "in" },
      { id: "e2", source: "a", sourcePort: "nope", target: "b", targetPort: "in" },
    ],
  });
  const problems = edgeProblems(doc, indexDoc(doc), specs, {});
  assert.match(problems.get("e1") ?? "", /an error_packet output cannot feed a table input/);
  assert.match(problems.get("e2") ?? "", /node a has no output port nope/);
  const edges = docToFlowEdges(doc, [], null, problems);
  assert.equal(edges[0]?.data?.problem, problems.get("e1"));
});

test("a node's execution override survives every edit and is saved as Python saves it", () => {
  const execution = { offload: "cluster", parallelism: 4 };
  const loaded = normalizeDoc({
    id: "g",
    version: "1.0.0",
    nodes: [
      { id: "n1", typeId: "mapper", version: "1.2.0", settings: {}, position: { x: 0, y: 0 }, execution },
      { id: "n2", typeId: "mapper", version: "1.2.0", settings: {}, position: { x: 0, y: 0 } },
    ],
    edges: [],
  });
  let doc = moveNodes(loaded, new Map([["n1", { x: 40, y: 8 }]]));
  doc = setNodeSettings(doc, "n1", { expression: "value" });
  doc = addNode(doc, spec(), { x: 0, y: 0 }).doc;
  doc = addEdge(doc, { source: "n1", sourcePort: "out", target: "n2", targetPort: "in" }).doc;
  assert.deepEqual(doc.nodes[0]?.execution, execution);
  assert.equal(doc.nodes[1]?.execution, undefined);
  const text = graphText(doc);
  assert.match(text, /"position": \{\n {8}"x": 40\.0,\n {8}"y": 8\.0\n {6}\},\n {6}"execution": \{\n {8}"offload": "cluster",\n {8}"parallelism": 4\n {6}\}/);
  assert.equal(graphText({ ...doc, nodes: [{ ...doc.nodes[1], execution: null }] }).includes("execution"), false);
});

test("a node shows where it is set to run: its own override, else its spec's", () => {
  const node = { id: "n1", typeId: "mapper", version: "1.2.0", settings: {}, position: { x: 0, y: 0 } };
  const clusterSpec = { ...spec(), execution: { offload: "cluster" } } as NodeSpec;
  assert.equal(nodeOffload(node, spec()), "auto");
  assert.equal(nodeOffload(node, null), "auto");
  assert.equal(nodeOffload(node, clusterSpec), "cluster");
  assert.equal(nodeOffload({ ...node, execution: { offload: "cluster" } }, spec()), "cluster");
  assert.equal(nodeOffload({ ...node, execution: { offload: "thread" } }, clusterSpec), "thread");
  assert.equal(nodeOffload({ ...node, execution: { parallelism: 2 } }, clusterSpec), "cluster");
});

test("the status carries the Dask dashboard's link, an http(s) URL only", () => {
  assert.equal(dashboardUrl("http://127.0.0.1:8787/status"), "http://127.0.0.1:8787/status");
  assert.equal(dashboardUrl("https://dask.example.org/status"), "https://dask.example.org/status");
  assert.equal(dashboardUrl("javascript:alert(1)"), null);
  assert.equal(dashboardUrl("not a url"), null);
  assert.equal(dashboardUrl(null), null);
  const status = normalizeStatus({ run: "running", dashboard: "http://127.0.0.1:8787/status" });
  assert.equal(status.dashboard, "http://127.0.0.1:8787/status");
  assert.equal(normalizeStatus({ run: "idle" }).dashboard, null); // an older kernel sends none
  assert.equal(mergeStatus(status, { type: "node-status", run: "done", dashboard: null }).dashboard, null);
});
