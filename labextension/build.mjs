// Bundles the canvas widget into the Python package (run by hatch-jupyter-builder on install).
//   src/widget/index.tsx -> dataflow_jupyter/static/canvas.js + canvas.css (minified ESM, one copy)
//   elkjs's worker        -> dataflow_jupyter/static/elk-worker.min.js (sent to the canvas on demand)
// The bundle must stay under 1.5 MB: anywidget stores it in every widget's saved state.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dataflow_jupyter", "static");
const LIMIT = 1.5 * 1024 * 1024;
mkdirSync(out, { recursive: true });

const started = Date.now();
await build({
  entryPoints: { canvas: join(here, "src", "widget", "index.tsx") },
  outdir: out,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "node_modules", "elkjs", "lib", "elk-worker.min.js"), join(out, "elk-worker.min.js"));

const kb = (file) => (statSync(join(out, file)).size / 1024).toFixed(1);
const size = statSync(join(out, "canvas.js")).size;
console.log(
  `canvas.js ${kb("canvas.js")} kB, canvas.css ${kb("canvas.css")} kB, ` +
    `elk-worker.min.js ${kb("elk-worker.min.js")} kB (loaded on demand) in ${Date.now() - started} ms`,
);
if (size > LIMIT) {
  console.error(`canvas.js is ${(size / 1048576).toFixed(2)} MB; the limit is 1.5 MB`);
  process.exit(1);
}
