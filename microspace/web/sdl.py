"""The published schema contract: the SDL the server serves, as `schema.graphql` holds it."""

from __future__ import annotations

from pathlib import Path

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def printed_schema() -> str:
    """The SDL of the schema the API serves, with a trailing newline."""
    from schema.build import build_schema

    return build_schema().as_str().rstrip("\n") + "\n"
