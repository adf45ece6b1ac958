// Builds both front ends from one source tree (run by hatch-jupyter-builder on install):
//   src/widget/index.tsx -> dataflow_jupyter/static/canvas.js + canvas.css (anywidget: minified
//                           ESM, one copy; elkjs's worker beside it, sent to the canvas on demand)
//   src/lab/plugin.ts + src/lab/mime.tsx -> lib/ (ESM, JupyterLab's own packages left as
//                           imports), then @jupyter/builder makes the prebuilt (federated)
//                           JupyterLab extension of it in dataflow_jupyter/labextension/,
//                           which the wheel installs as share/jupyter/labextensions/dataflow-jupyter
// The widget bundle must stay under 1.5 MB: anywidget stores it in every widget's saved state.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dataflow_jupyter", "static");
const lib = join(here, "lib");
const labOut = join(here, "..", "dataflow_jupyter", "labextension");
const LIMIT = 1.5 * 1024 * 1024;
const common = {
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  logLevel: "warning",
};
mkdirSync(out, { recursive: true });

const started = Date.now();
await build({ ...common, entryPoints: { canvas: join(here, "src", "widget", "index.tsx") }, outdir: out });
const elkWorker = join(here, "node_modules", "elkjs", "lib", "elk-worker.min.js");
copyFileSync(elkWorker, join(out, "elk-worker.min.js"));

const kb = (dir, file) => (statSync(join(dir, file)).size / 1024).toFixed(1);
const size = statSync(join(out, "canvas.js")).size;
console.log(
  `canvas.js ${kb(out, "canvas.js")} kB, canvas.css ${kb(out, "canvas.css")} kB, ` +
    `elk-worker.min.js ${kb(out, "elk-worker.min.js")} kB (loaded on demand) in ${Date.now() - started} ms`,
);
if (size > LIMIT) {
  console.error(`canvas.js is ${(size / 1048576).toFixed(2)} MB; the limit is 1.5 MB`);
  process.exit(1);
}

// ---- the JupyterLab extension ----------------------------------------------------------------
const labStarted = Date.now();
rmSync(lib, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { plugin: join(here, "src", "lab", "plugin.ts"), mime: join(here, "src", "lab", "mime.tsx") },
  outdir: lib,
  splitting: true,
  // JupyterLab's packages are shared singletons: the federated build takes them from the page
  external: ["@jupyterlab/*", "@lumino/*"],
});
await build({ ...common, entryPoints: { style: join(here, "src", "lab", "style.css") }, outdir: lib });
const builder = spawnSync(
  process.execPath,
  [
    join(here, "node_modules", "@jupyter", "builder", "lib", "build-labextension.js"),
    "--core-package-file",
    join(here, "node_modules", "@jupyterlab", "core-meta", "core.package.json"),
    here,
  ],
  { stdio: "inherit" },
);
if (builder.status !== 0) {
  console.error(`the JupyterLab extension build failed (exit ${builder.status ?? builder.signal})`);
  process.exit(1);
}
copyFileSync(elkWorker, join(labOut, "static", "elk-worker.min.js")); // the document editor's auto-layout
copyFileSync(join(here, "install.json"), join(labOut, "install.json"));
console.log(`JupyterLab extension in dataflow_jupyter/labextension in ${Date.now() - labStarted} ms`);
