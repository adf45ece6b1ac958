// Extra rspack settings for @jupyter/builder (package.json jupyterlab.webpackConfig). The
// entries are esbuild's output (build.mjs): its CommonJS shim's `require` and the bundled
// canvas's size are expected, so they are not warned about on every install.
module.exports = {
  ignoreWarnings: [/Critical dependency: require function is used/],
  performance: { hints: false },
};
