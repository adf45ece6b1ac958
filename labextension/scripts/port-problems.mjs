// Reads port pairs as JSON on stdin and prints the canvas's verdict for each (the reason a
// connection is refused, or null): tests/widget/test_connection_parity.py compares them with
// the kernel's types.connection_problems, so the canvas refuses exactly what the kernel does.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, "..", "src", "canvas", "connections.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "error",
});
const source = bundle.outputFiles[0].text;
const { portProblem } = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
const { rules, cases } = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(([source, target]) => portProblem(source, target, rules))));
