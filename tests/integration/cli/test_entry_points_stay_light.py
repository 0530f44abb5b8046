"""Entry points that never score or train do not load the transformer stack (so they start in about a second)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "onnxruntime", "sklearn")

# Runs one `dealpulse` command in a fresh interpreter, then reports which heavy packages it imported.
PROBE = """
import json, sys
from dealpulse.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [name for name in %r if name in sys.modules]}))
""" % (HEAVY,)


def run_probe(tmp_path: Path, *args: str) -> dict:
    env = {**os.environ, "DEALPULSE_ENV": "test", "DEALPULSE_VAR_DIR": str(tmp_path),
           "DEALPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'light.db'}"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("db", "upgrade"), ("sync", "--all"), ("mailbox", "status")])
def test_commands_that_never_score_do_not_import_the_transformer_stack(tmp_path: Path, args: tuple[str, ...]) -> None:
    if args[0] in ("sync", "mailbox"):
        assert run_probe(tmp_path, "db", "upgrade")["code"] == 0
    outcome = run_probe(tmp_path, *args)
    assert outcome == {"code": 0, "loaded": []}


def test_the_web_app_starts_without_the_transformer_stack(tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "from dealpulse.app import create_app\n"
        "client = create_app().test_client()\n"
        "status = client.get('/healthz').status_code\n"
        f"print(json.dumps({{'status': status, 'loaded': [n for n in {HEAVY!r} if n in sys.modules]}}))\n"
    )
    env = {**os.environ, "DEALPULSE_ENV": "test", "DEALPULSE_VAR_DIR": str(tmp_path),
           "DEALPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'light.db'}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": 200, "loaded": []}
