#!/usr/bin/env bash
# The performance suite in one command: bash benchmarks/run.sh [--quick] [--only NAME] [--repeat N]
#
# Makes benchmarks/.venv (git-ignored) on first use, installs the peers pinned and this
# project into it, then runs benchmarks/suite.py there. The table goes to stdout, the
# figures to benchmarks/results/latest.json. The project's own .venv is not touched.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"

# The peers, pinned. dask is plain dask (dask.delayed with the synchronous scheduler);
# distributed runs the `cluster` benchmark's LocalCluster (this project's extra [dask] also
# brings bokeh, the dashboard). ipykernel and nbclient run the `notebook` benchmark's kernel
# (the versions of uv.lock).
peers=(
    "streamz==0.6.*"
    "ryvencore==0.5.*"
    "dask==2026.8.0"
    "distributed==2026.8.0"
    "polars==2.1.*"
    "ipykernel==7.4.*"
    "nbclient==0.11.*"
)

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv"
    python3 -m venv "$venv"
fi

# Install (or refresh) only when the pins or the project's dependencies changed.
stamp="$venv/.installed"
want="$(printf '%s\n' "${peers[@]}"; sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    echo "installing the peers and dataflow-jupyter into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${peers[@]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dask]"
    printf '%s' "$want" > "$stamp"
fi

cd "$root"
exec "$venv/bin/python" "$here/suite.py" "$@"
