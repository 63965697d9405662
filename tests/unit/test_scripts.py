"""The two commands of the README: running the server and running the tests."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _venv_of(script: str) -> str:
    text = (SCRIPTS / script).read_text()
    assigned = re.search(r"^VENV=(\S+)$", text, re.MULTILINE)
    if assigned:
        return assigned.group(1)
    created = re.search(r"python3 -m venv (\S+)", text)
    assert created, f"{script} creates no virtual environment"
    return created.group(1)


def test_the_test_command_installs_into_another_environment_than_the_running_server():
    # pip install -e into the server's environment removes the installed package (and its
    # static files) from under a server that `scripts/serve.sh` started from it
    assert _venv_of("test.sh") != _venv_of("serve.sh")


def test_the_test_command_runs_everything_from_its_own_environment():
    text = (SCRIPTS / "test.sh").read_text()
    venv = _venv_of("test.sh")
    for tool in ("pip", "ruff", "mypy", "lint-imports", "python"):
        for match in re.finditer(rf"(\S*)/bin/{tool}\b", text):
            assert match.group(1) in (venv, "$VENV"), match.group(0)


def test_the_test_command_checks_the_layer_contract():
    # pyproject.toml [tool.importlinter]: the layers, the faces' independence, no cycle
    assert "$VENV/bin/lint-imports" in (SCRIPTS / "test.sh").read_text()
