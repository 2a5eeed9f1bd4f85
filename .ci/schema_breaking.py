#!/usr/bin/env python3
"""Breaking schema changes against the previous schema (graphql-core's find_breaking_changes).

The previous schema is `schema.graphql` at the commit before the change being checked:
- on a branch, the merge base with main (the whole branch is the change);
- on main itself, HEAD's first parent (main moves by one merge or fast-forward at a time);
- `--base REV` names it explicitly (e.g. the commit a push started from).
The schema checked is the working tree's, so the check runs before a commit too.

A break is accepted only when a line added to CHANGELOG.md since that commit, under a heading
that says "Breaking", names the coordinate the check reports (`Type.field`, `Type.field(arg:)`,
`Type`, `@directive`). An entry of an earlier change accepts nothing: a later commit compares
with a schema that already has the break, so it passes without one.

Exit 0 when there is nothing to compare with (no earlier commit, e.g. a shallow clone, or no
schema there), when nothing breaks, or when every break is accepted; 1 otherwise. Usage:
    .ci/schema_breaking.py [--repo DIR] [--file schema.graphql] [--changelog CHANGELOG.md]
                           [--base REV]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graphql import build_schema, find_breaking_changes

MAIN_REFS = ("main", "origin/main")
# a schema coordinate as graphql-core writes it: Type.field, Type.field(arg:), @dir(arg:)
DOTTED = re.compile(
    r"@[_A-Za-z]\w*(?:\([_A-Za-z]\w*:\))?|[_A-Za-z]\w*\.[_A-Za-z]\w*(?:\([_A-Za-z]\w*:\))?"
)
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=False, capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


def rev(repo: Path, name: str) -> str | None:
    out = git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    return out.strip() if out else None


def base_commit(repo: Path) -> tuple[str, str] | None:
    """(commit, how it was chosen) of the schema to compare with; None when there is none."""
    head = rev(repo, "HEAD")
    if head is None:
        return None
    for ref in MAIN_REFS:
        main = rev(repo, ref)
        if main is None:
            continue
        merge_base = (git(repo, "merge-base", "HEAD", ref) or "").strip()
        if main == head or merge_base == head:
            break  # on main (or a commit of it): the change is HEAD's own
        if merge_base:
            return merge_base, f"the merge base with {ref}"
    parent = rev(repo, "HEAD^1")
    return (parent, "the previous commit") if parent else None


@dataclass(frozen=True)
class Break:
    kind: str
    coordinate: str
    description: str

    def __str__(self) -> str:
        return f"{self.kind} {self.coordinate}: {self.description}"


def coordinate(description: str) -> str:
    """The schema coordinate a change is about, as its entry in the changelog names it."""
    found = DOTTED.search(description)
    if found:
        return found.group(0)
    words = description.rstrip(".").split()
    if description.startswith("Standard scalar "):
        return words[2]
    if " union type " in description:
        return words[-1]  # "<member> was removed from union type <union>"
    return words[0]  # "<type> was removed.", "<type> changed from ...", "<type> no longer ..."


def breaking(old_sdl: str, new_sdl: str) -> list[Break]:
    changes = find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    return [Break(c.type.name, coordinate(c.description), c.description) for c in changes]


def added_breaking_lines(repo: Path, base: str, changelog: str) -> list[str]:
    """Lines of the changelog added since `base` (committed or not) under a heading that
    says "Breaking"."""
    path = repo / changelog
    if not path.exists():
        return []
    diff = git(repo, "diff", "-U0", "--no-color", base, "--", changelog) or ""
    if git(repo, "ls-files", "--error-unmatch", changelog) is None:
        # not yet tracked: every line of it is new
        diff = f"@@ -0,0 +1,{len(path.read_text().splitlines())} @@"
    added: set[int] = set()
    for line in diff.splitlines():
        hunk = HUNK.match(line)
        if hunk:
            start, count = int(hunk.group(1)), int(hunk.group(2) or "1")
            added.update(range(start, start + count))
    heading = ""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("#"):
            heading = line
        elif number in added and "breaking" in heading.lower():
            out.append(line)
    return out


def names(lines: list[str], coord: str) -> bool:
    pattern = re.compile(rf"(?<![\w.@]){re.escape(coord)}(?![\w])")
    return any(pattern.search(line) for line in lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--file", default="schema.graphql")
    p.add_argument("--changelog", default="CHANGELOG.md")
    p.add_argument("--base", help="the commit to compare with (default: see above)")
    args = p.parse_args(argv)
    if args.base:
        found = rev(args.repo, args.base)
        if found is None:
            print(f"schema: --base {args.base} is not a commit of this repository", file=sys.stderr)
            return 1
        chosen: tuple[str, str] | None = (found, f"--base {args.base}")
    else:
        chosen = base_commit(args.repo)
    if chosen is None:
        shallow = (git(args.repo, "rev-parse", "--is-shallow-repository") or "").strip()
        why = "a shallow clone" if shallow == "true" else "the first commit"
        print(f"schema: no earlier commit to compare with ({why}): pass")
        return 0
    base, how = chosen
    label = f"{base[:10]} ({how})"
    old = git(args.repo, "show", f"{base}:{args.file}")
    if old is None:
        print(f"schema: {label} has no {args.file}, nothing to compare with: pass")
        return 0
    changes = breaking(old, (args.repo / args.file).read_text())
    if not changes:
        print(f"schema: no breaking change since {label}")
        return 0
    entries = added_breaking_lines(args.repo, base, args.changelog)
    missing = [c for c in changes if not names(entries, c.coordinate)]
    print(f"schema: {len(changes)} breaking change(s) since {label}:")
    for change in changes:
        print(
            f"  - {change}{'' if change in missing else '  [accepted in ' + args.changelog + ']'}"
        )
    if not missing:
        print(f"schema: accepted: {args.changelog} names every breaking change")
        return 0
    print(
        f"schema: refused: add an entry under a 'Breaking changes' heading of {args.changelog} "
        f"naming {', '.join(sorted({c.coordinate for c in missing}))} and what clients do about it"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
