#!/usr/bin/env bash
# `make run`: run the workflow on config/config.yaml, then build results/report.html.
# Arguments are passed to snakemake (e.g. --cores 2, --configfile config/paper.yaml).
# When every output and the report are up to date it does nothing and says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SNAKEMAKE=(.venv/bin/snakemake "$@")
REPORT=results/report.html

pending=$("${SNAKEMAKE[@]}" --dry-run --quiet rules 2>&1) || { echo "$pending" >&2; exit 1; }
if grep -q "Nothing to be done" <<<"$pending" && [ -f "$REPORT" ] &&
   [ -z "$(find results -type f -newer "$REPORT" ! -path 'results/logs/*' ! -name '.*' -print -quit)" ]; then
  echo "make run: nothing to do: every output and $REPORT are up to date."
  exit 0
fi

start=$(date +%s)
"${SNAKEMAKE[@]}"
"${SNAKEMAKE[@]}" --report "$REPORT"
echo "make run: done in $(( $(date +%s) - start )) s; report: $REPORT"
