"""Settings are declared once (core/config.py `Settings`).

Invariants guarded here:
- README.md's configuration table is exactly the one derived from the declarations; when it
  drifts, print the new one with
  `.venv/bin/python -c "from core.config import readme_table; print(readme_table())"`;
- every declaration names its own environment variable and says what it means;
- docs/limits.md's table states each variable's default as core/config.py declares it, and
  it is the one place stating the rate-limit figures: no other document does;
- `load_settings()` reads each variable with its setting's type, and `Limits` takes its
  values (and defaults) from the settings.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from core.config import Settings, load_settings, readme_table
from core.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_the_readme_table_is_derived_from_the_declarations() -> None:
    readme = README.read_text().splitlines()
    expected = readme_table().splitlines()
    start = readme.index(expected[0])
    assert readme[start : start + len(expected) + 1] == [*expected, ""], (
        "README.md's configuration table drifted from core/config.py: "
        "paste the output of core.config.readme_table() over it"
    )


def test_every_setting_has_its_own_variable_and_a_meaning() -> None:
    declared = fields(Settings)
    envs = [f.metadata["env"] for f in declared]
    assert len(set(envs)) == len(envs)
    assert all(f.metadata["meaning"] for f in declared)


def test_load_settings_reads_each_variable_with_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    for f in fields(Settings):
        monkeypatch.delenv(f.metadata["env"], raising=False)
    monkeypatch.setenv("MICROSPACE_MAX_COST", "7")
    monkeypatch.setenv("MICROSPACE_RATE_LIMIT_RATE", "2.5")
    monkeypatch.setenv("MICROSPACE_DEV", "off")
    monkeypatch.setenv("MICROSPACE_SMTP_USERNAME", "")
    monkeypatch.setenv("MICROSPACE_MAIL_DIR", "elsewhere")
    # when
    settings = load_settings()
    # then
    assert (settings.max_cost, settings.rate_limit_rate, settings.dev_mode) == (7, 2.5, False)
    assert (settings.smtp_username, settings.mail_dir) == (None, "elsewhere")
    untouched = {"max_cost", "rate_limit_rate", "dev_mode", "smtp_username", "mail_dir"}
    for f in fields(Settings):
        if f.name not in untouched:
            assert getattr(settings, f.name) == f.default, f.name


def test_limits_come_from_the_settings() -> None:
    settings = Settings(max_cost=123, max_depth=4)
    limits = Limits.from_settings(settings)
    assert (limits.max_cost, limits.max_depth) == (123, 4)
    # the defaults are the settings' defaults, not a second copy of them
    assert Limits() == Limits.from_settings(Settings())


def test_the_limits_doc_states_the_declared_defaults() -> None:
    by_env = {f.metadata["env"]: f.default for f in fields(Settings)}
    stated = {}
    for line in (ROOT / "docs" / "limits.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[A-Z_]+`", cells[1]):
            stated[cells[1].strip("`")] = cells[2].split()[0]
    assert {"MICROSPACE_RATE_LIMIT_BURST", "MICROSPACE_RATE_LIMIT_RATE"} <= stated.keys()
    for env, value in stated.items():
        default = by_env[env]
        if isinstance(default, bool):
            default = str(default).lower()
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        assert value == str(default), f"docs/limits.md says {env} = {value}, the code {default}"


def test_no_other_document_states_rate_limit_figures() -> None:
    # a figure next to a rate-limit variable, outside the one source (docs/limits.md) and
    # README's derived table: `MICROSPACE_RATE_LIMIT_BURST` points (50,000)
    figure = re.compile(r"MICROSPACE_RATE_LIMIT_(BURST|RATE)`[^.|]{0,40}?\(?\d[\d,]*")
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.name == "limits.md":
            continue
        text = "\n".join(
            line for line in doc.read_text().splitlines() if not line.startswith("| `MICROSPACE")
        )
        found = figure.search(text)
        assert found is None, f"{doc.name} states a rate-limit figure: {found.group(0)!r}"
