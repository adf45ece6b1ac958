// Runs the front end's unit tests (test/*.test.ts): esbuild bundles each one for node, then
// `node --test` runs them. The tests cover the pure modules (documents, history, settings
// form, Arrow decoding, layout input); the components are covered by tests/browser/.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tests = join(here, "..", "test");
const out = mkdtempSync(join(tmpdir(), "dfj-test-"));
try {
  const entries = readdirSync(tests).filter((f) => f.endsWith(".test.ts"));
  await build({
    entryPoints: entries.map((f) => join(tests, f)),
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    external: ["node:*"],
    logLevel: "error",
  });
  const files = entries.map((f) => join(out, f.replace(/\.ts$/, ".mjs")));
  const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
