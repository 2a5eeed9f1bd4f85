"""The schema contract clients build against.

Invariants guarded here:
- `schema.graphql` is exactly what `microspace schema` prints (a change to the API surface
  updates the file in the same commit);
- the breaking-change check compares with the schema before the change (the merge base with
  main on a branch, the previous commit on main), refuses a break unless an entry added to
  CHANGELOG.md's breaking changes names it, lets a later unrelated commit pass, passes with a
  message where there is no earlier commit (a shallow clone), and runs in `.ci/run`;
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


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--repo", str(repo)],
        check=False,
        capture_output=True,
        text=True,
    )


def _commit(repo: Path, message: str, **files: str) -> None:
    for name, text in files.items():
        (repo / name).write_text(text)
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)


def _repo(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    _commit(path, "v1", **{"schema.graphql": V1, "CHANGELOG.md": CHANGELOG})
    return path


CHANGELOG = "# Changelog\n\n## Unreleased\n\n### Breaking changes\n\n### Added\n"


def _entry(line: str, section: str = "### Breaking changes") -> str:
    return CHANGELOG.replace(f"{section}\n", f"{section}\n{line}\n")


def test_breaking_change_check_on_main(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _check(repo)
    assert first.returncode == 0 and "no earlier commit" in first.stdout, first.stdout
    # when a field is added: not breaking
    _commit(repo, "add slug", **{"schema.graphql": ADDED})
    assert _check(repo).returncode == 0
    # when a field is removed without an entry: refused, naming the change
    _commit(repo, "drop title", **{"schema.graphql": REMOVED})
    refused = _check(repo)
    assert refused.returncode == 1, refused.stdout
    assert "FIELD_REMOVED Space.title" in refused.stdout and "CHANGELOG.md" in refused.stdout
    # nor with an entry outside the breaking changes, nor one naming another field, nor
    # with the old reason in the commit message
    for changelog in (_entry("- `Space.title` removed.", "### Added"), _entry("- `Space.tit`")):
        _git(repo, "reset", "-q", "--hard", "HEAD~1")
        _commit(repo, "drop title", **{"schema.graphql": REMOVED, "CHANGELOG.md": changelog})
        assert _check(repo).returncode == 1, changelog
    _git(repo, "reset", "-q", "--hard", "HEAD~1")
    _commit(repo, "drop title\n\nBreaking-Change: moved", **{"schema.graphql": REMOVED})
    assert _check(repo).returncode == 1
    # then an entry naming it, added with the change, accepts it
    _git(repo, "reset", "-q", "--hard", "HEAD~1")
    entry = _entry("- `Space.title` removed: read `slug` instead.")
    _commit(repo, "drop title", **{"schema.graphql": REMOVED, "CHANGELOG.md": entry})
    accepted = _check(repo)
    assert accepted.returncode == 0 and "accepted" in accepted.stdout, accepted.stdout
    # and a later unrelated commit passes: it compares with the schema that has the break
    _commit(repo, "docs", **{"README.md": "hello\n"})
    later = _check(repo)
    assert later.returncode == 0 and "no breaking change" in later.stdout, later.stdout
    # while a second break needs an entry of its own: the earlier one accepts nothing
    _commit(repo, "drop space", **{"schema.graphql": REMOVED.replace("Space", "Room")})
    again = _check(repo)
    assert again.returncode == 1 and "TYPE_REMOVED Space" in again.stdout, again.stdout


def test_breaking_change_check_on_a_branch(tmp_path: Path) -> None:
    # given a branch whose first commit breaks and whose second changes something else
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", "feature")
    _commit(repo, "drop title", **{"schema.graphql": REMOVED})
    _commit(repo, "docs", **{"README.md": "hello\n"})
    # then the whole branch is the change: compared with the merge base, refused
    refused = _check(repo)
    assert refused.returncode == 1 and "merge base with main" in refused.stdout, refused.stdout
    # main moving on meanwhile changes nothing
    _git(repo, "checkout", "-q", "main")
    _commit(repo, "main docs", **{"NOTES.md": "x\n"})
    _git(repo, "checkout", "-q", "feature")
    assert _check(repo).returncode == 1
    # an entry not yet committed is seen (the check runs before a commit too); committed, too
    (repo / "CHANGELOG.md").write_text(_entry("- `Space.title`: removed."))
    assert _check(repo).returncode == 0
    _commit(repo, "changelog", **{"CHANGELOG.md": _entry("- `Space.title`: removed.")})
    assert _check(repo).returncode == 0


def test_breaking_change_check_on_fresh_and_shallow_clones(tmp_path: Path) -> None:
    origin = _repo(tmp_path / "origin")
    entry = _entry("- `Space.title` removed.")
    _commit(origin, "drop title", **{"schema.graphql": REMOVED, "CHANGELOG.md": entry})
    _commit(origin, "drop slug", **{"schema.graphql": V1.replace("title: String!", "n: Int")})
    # a fresh clone checks out main: its last commit is the change, and it breaks
    _git(tmp_path, "clone", "-q", str(origin), "fresh")
    fresh = _check(tmp_path / "fresh")
    assert fresh.returncode == 1 and "the previous commit" in fresh.stdout, fresh.stdout
    # a shallow clone has no earlier commit: it says so and passes
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", "shallow")
    shallow = _check(tmp_path / "shallow")
    assert shallow.returncode == 0, shallow.stdout
    assert "no earlier commit to compare with (a shallow clone)" in shallow.stdout


def test_ci_runs_the_check_before_the_suite() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    check = next(i for i, line in enumerate(lines) if ".ci/schema_breaking.py" in line)
    assert check < len(lines) - 1  # the last line is the test command (tests/test_ci.py)


def test_this_repository_has_no_unexplained_breaking_change() -> None:
    # CI runs the suite on the commit under test (or a branch): breaks named in CHANGELOG.md
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
