#!/usr/bin/env python3
"""Breaking schema changes against the last tagged version (graphql-core's find_breaking_changes).

Exit 0 when there is no tag yet, when nothing breaks, or when the commit message states why
with a `Breaking-Change: <reason>` trailer; exit 1 otherwise. Usage:
    .ci/schema_breaking.py [--repo DIR] [--file schema.graphql] [--message-file FILE]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from graphql import build_schema, find_breaking_changes

TRAILER = re.compile(r"^Breaking-Change:\s*\S.*$", re.MULTILINE | re.IGNORECASE)


def git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=False, capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


def breaking(old_sdl: str, new_sdl: str) -> list[str]:
    changes = find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    return [f"{c.type.name}: {c.description}" for c in changes]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--file", default="schema.graphql")
    p.add_argument("--message-file", type=Path, help="commit message (default: HEAD's)")
    args = p.parse_args(argv)
    tag = (git(args.repo, "describe", "--tags", "--abbrev=0") or "").strip()
    if not tag:
        print("schema: no tagged version yet, nothing to compare against: pass")
        return 0
    old = git(args.repo, "show", f"{tag}:{args.file}")
    if old is None:
        print(f"schema: {tag} has no {args.file}, nothing to compare against: pass")
        return 0
    changes = breaking(old, (args.repo / args.file).read_text())
    if not changes:
        print(f"schema: no breaking change since {tag}")
        return 0
    print(f"schema: {len(changes)} breaking change(s) since {tag}:")
    for change in changes:
        print(f"  - {change}")
    if args.message_file is not None:
        message = args.message_file.read_text()
    else:
        message = git(args.repo, "log", "-1", "--format=%B") or ""
    reason = TRAILER.search(message)
    if reason:
        print(f"schema: accepted, the commit states a reason: {reason.group(0)}")
        return 0
    print("schema: refused: add a `Breaking-Change: <reason>` trailer to the commit message")
    return 1


if __name__ == "__main__":
    sys.exit(main())
