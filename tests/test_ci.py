"""CI runs what the README tells a contributor to run.

Invariant guarded here: `.ci/run` ends with the README's test command, verbatim, and that
command lints, checks formatting, type-checks and runs the suite.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_test_command() -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line.strip() for line in lines if "pip install -q -e '.[test]'" in line]
    assert len(commands) == 1, commands
    return commands[0]


def test_ci_runs_the_readme_test_command() -> None:
    command = _readme_test_command()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci[-1] == command
    for step in ("ruff check .", "ruff format --check .", "mypy", "pytest"):
        assert f".venv/bin/{step}" in command, step
