"""The compiled read path (docs/performance.md, "The compiled read path").

A query operation whose every field the compiler supports runs as one SQL statement that
builds the response JSON in PostgreSQL; everything else, and every error, is answered by
the resolver path. Plans are cached by document, operation, the caller's policy identity
and the shape of the variables (which are null, and the booleans of @skip/@include).
"""

from __future__ import annotations

from compiler.cache import CompiledReads
from compiler.collect import Unsupported

__all__ = ["CompiledReads", "Unsupported"]
