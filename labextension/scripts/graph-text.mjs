// Reads graph documents as a JSON list on stdin and prints, as a JSON list, the text the
// document editor writes for each (src/lab/graphText.ts): tests/widget/test_graph_text_parity.py
// compares them with Python's Graph.to_json, byte for byte.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, "..", "src", "lab", "graphText.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "error",
});
const source = bundle.outputFiles[0].text;
const { graphText, emptyGraph } = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
const docs = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify({ texts: docs.map((doc) => graphText(doc)), empty: graphText(emptyGraph("fresh")) }));
