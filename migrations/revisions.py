"""The migration modules by revision id, for a downgrade that restores an earlier
function: file names may change (migrations/README.md), revision ids never do."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).resolve().parent / "versions"


def by_revision(revision: str) -> ModuleType:
    pattern = re.compile(rf'^revision = "{re.escape(revision)}"$', re.MULTILINE)
    for path in sorted(VERSIONS.glob("*.py")):
        if pattern.search(path.read_text(encoding="utf-8")):
            return importlib.import_module(f"migrations.versions.{path.stem}")
    raise LookupError(f"no migration has revision {revision}")
