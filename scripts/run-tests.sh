#!/usr/bin/env bash
# Run the architecture checks, then the whole suite; test output (screenshots) goes to test-output/.
# A broken layer contract (import-linter) or a ruff finding fails the run before any test starts.
set -uo pipefail
mkdir -p test-output
export PYTHONPATH="backend${PYTHONPATH:+:$PYTHONPATH}"
.venv/bin/lint-imports --config pyproject.toml || { echo "the dependency rule is broken (see README, Architecture)" >&2; exit 1; }
.venv/bin/ruff check backend tests bench || { echo "ruff found problems" >&2; exit 1; }
.venv/bin/pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "no tests were collected" >&2
fi
exit "$status"
