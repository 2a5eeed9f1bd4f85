"""The schema contract clients build against.

Invariants guarded here:
- `schema.graphql` is exactly what `microspace schema` prints (a change to the API surface
  updates the file in the same commit);
- the breaking-change check passes without a tag, fails on a breaking change since the last
  tag, and passes again when the commit message carries a `Breaking-Change:` reason;
- every personal-data field names its category in introspection and in the SDL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import introspection_from_schema, parse

from microspace.commands.cli import main
from microspace.web.sdl import SCHEMA_FILE, printed_schema
from models.pii import personal_columns

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / ".ci" / "schema_breaking.py"
V1 = "type Query {\n  space(id: ID!): Space\n}\n\ntype Space {\n  title: String!\n}\n"
ADDED = V1.replace("title: String!", "title: String!\n  slug: String")
REMOVED = V1.replace("title: String!", "slug: String")


def test_committed_schema_matches_the_printed_one(capsys) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == printed_schema()
    assert SCHEMA_FILE.read_text() == printed, (
        "schema.graphql is stale: run `microspace schema --write` and commit it"
    )


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
    )


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--repo", str(repo)],
        check=False,
        capture_output=True,
        text=True,
    )


def _commit(repo: Path, sdl: str, message: str) -> None:
    (repo / "schema.graphql").write_text(sdl)
    _git(repo, "add", "schema.graphql")
    _git(repo, "commit", "-q", "-m", message)


def test_breaking_change_check_against_the_last_tag(tmp_path: Path) -> None:
    # given a repository with no tag
    _git(tmp_path, "init", "-q")
    _commit(tmp_path, V1, "v1")
    first = _check(tmp_path)
    assert first.returncode == 0 and "no tagged version" in first.stdout
    # when a field is added after a tag: not breaking
    _git(tmp_path, "tag", "v1.0.0")
    _commit(tmp_path, ADDED, "add slug")
    assert _check(tmp_path).returncode == 0
    # when a field is removed without a reason: refused, naming the change
    _commit(tmp_path, REMOVED, "drop title")
    refused = _check(tmp_path)
    assert refused.returncode == 1, refused.stdout
    assert "FIELD_REMOVED" in refused.stdout and "Space.title" in refused.stdout
    # then a stated reason in the commit message lets it pass
    _commit(tmp_path, REMOVED + "\n", "drop title\n\nBreaking-Change: title moved to slug")
    assert _check(tmp_path).returncode == 0


def test_this_repository_has_no_unexplained_breaking_change() -> None:
    # CI runs the suite on the commit under test: its message is HEAD's
    done = subprocess.run(
        [sys.executable, str(CHECK), "--repo", str(ROOT)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("schema:")


def _personal_fields_in_sdl(sdl: str) -> dict[tuple[str, str], str]:
    found = {}
    for definition in parse(sdl).definitions:
        for field in getattr(definition, "fields", None) or []:
            for directive in field.directives or []:
                if directive.name.value == "personalData":
                    category = directive.arguments[0].value.value  # type: ignore[attr-defined]
                    found[(definition.name.value, field.name.value)] = category  # type: ignore[attr-defined]
    return found


def test_personal_fields_name_their_category_in_introspection_and_sdl() -> None:
    from schema.build import build_schema

    # given the SDL's @personalData fields
    marked = _personal_fields_in_sdl(printed_schema())
    assert ("Contact", "email") in marked and len(marked) >= 6
    assert set(marked.values()) <= {c.category for c in personal_columns()}
    # when a client introspects each of those types
    # (the standard introspection query: what codegen and GraphiQL send)
    introspection = introspection_from_schema(build_schema()._schema)
    descriptions = {
        (t["name"], f["name"]): f["description"] or ""
        for t in introspection["__schema"]["types"]
        for f in t.get("fields") or []
    }
    # then every one of them names its category in the description it reads
    for (type_name, field), category in marked.items():
        assert f"Personal data ({category})" in descriptions[(type_name, field)], (type_name, field)
