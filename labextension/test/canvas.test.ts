import { strict as assert } from "node:assert";
import { test } from "node:test";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import ELK from "elkjs/lib/elk.bundled.js";
import { decodeArrow } from "../src/canvas/arrowTable";
import { addEdge, addNode, deleteElements, moveNodes, nextId, normalizeDoc } from "../src/canvas/graphDoc";
import { canRedo, canUndo, initHistory, pushHistory, redo, undo } from "../src/canvas/history";
import { elkGraph, elkPositions } from "../src/canvas/layout";
import { initialForm, validateForm } from "../src/canvas/settingsForm";
import type { GraphDoc, NodeSpec, SettingSpec } from "../src/canvas/types";

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
