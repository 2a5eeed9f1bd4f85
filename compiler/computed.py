"""Fields with a resolver of their own that a plan computes in SQL, the same definition as
the resolver's (TableType.computed)."""

from __future__ import annotations

from compiler.context import PlanContext
from compiler.sql import Piece, Raw, enum_name, global_id, literal
from store.audience import PUBLISHED_READERS
from store.revisions import AUTHOR_TYPES, state_sql


def value(ctx: PlanContext, type_name: str, alias: str, name: str) -> Piece:
    """The JSON text of a computed field of the row `alias`."""
    if (type_name, name) == ("Space", "state"):
        kind = ctx.principal.kind if ctx.principal is not None else None
        if kind in PUBLISHED_READERS:
            return Raw('"PUBLISHED"')  # they read published revisions only (schema/spaces.py)
        return "('\"' || " + enum_name(f"({state_sql(alias)})") + " || '\"')"
    if (type_name, name) == ("SpaceRevision", "authorId"):
        # store/revisions.py AUTHOR_TYPES: the author's node type by their kind
        branches = " ".join(
            f"WHEN {literal(kind)} THEN '\"' || {global_id(node, f'{alias}.author_id')} || '\"'"
            for kind, node in AUTHOR_TYPES.items()
        )
        return f"coalesce(CASE {alias}.author_kind {branches} END, 'null')"
    raise KeyError((type_name, name))
