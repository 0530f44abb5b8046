#!/usr/bin/env bash
# Run the whole suite; test output (screenshots) goes to test-output/.
set -uo pipefail
mkdir -p test-output
.venv/bin/pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "no tests were collected" >&2
fi
exit "$status"
