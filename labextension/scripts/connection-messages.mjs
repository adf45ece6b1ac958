// Reads {catalog, graph, cases} as JSON on stdin and prints the message with which the canvas
// refuses each case (a {source, sourcePort, target, targetPort} connection), or null:
// tests/widget/test_connection_messages.py compares them with what Graph.connect raises, so
// Python and the canvas refuse a connection in the same words.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  stdin: {
    contents: [
      'export { connectionProblem } from "./connections";',
      'export { normalizeCatalog } from "./catalog";',
      'export { indexDoc } from "./graphDoc";',
    ].join("\n"),
    resolveDir: join(here, "..", "src", "canvas"),
    loader: "ts",
  },
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "error",
});
const source = bundle.outputFiles[0].text;
const { connectionProblem, normalizeCatalog, indexDoc } = await import(
  `data:text/javascript;base64,${Buffer.from(source).toString("base64")}`
);
const { catalog, graph, cases } = JSON.parse(readFileSync(0, "utf8"));
const { specs, rules } = normalizeCatalog(catalog);
const index = indexDoc(graph);
console.log(JSON.stringify(cases.map((c) => connectionProblem(c, index, specs, rules))));
