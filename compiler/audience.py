"""What a widget key, a visitor or a preview link may see (store/audience.py), as SQL for
the planner.

The resolver path narrows the session: every statement on spaces, blocks, contacts, space
accesses and consent events carries the criteria. Here each table a plan reads becomes a
derived table with the same criteria, wherever it is read (a root list, a lookup by ID, a
nested object or connection). Whose rows they are (the widget key, the visitor's contact)
is a statement parameter, so one plan serves every key and visitor of a policy.

Widgets and visitors read spaces and blocks from the published revision, never the draft
(a preview reads the draft): the views
`published.spaces` and `published.blocks` (migrations/published.py) have the tables' columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler import sql
from compiler.shapes import Inputs
from models import Block
from models.space_access import ACTIVE_STATES
from store.audience import ARCHIVED, BOUND, PUBLISHED, PUBLISHED_READERS

# what widgets and visitors read in place of the draft tables (a preview reads the draft)
PUBLISHED_TABLES = {"spaces": "published.spaces", "blocks": "published.blocks"}
OWN_ROWS = {"contacts": "id", "space_access": "contact_id", "consent_events": "contact_id"}


class Audience:
    """The criteria of one principal kind; `param` adds a statement parameter."""

    def __init__(self, kind: str, param: Callable[[Callable[[Inputs], Any], str], str]) -> None:
        self.kind = kind
        self._param = param
        self._who: str | None = None
        self.published = PUBLISHED_TABLES if kind in PUBLISHED_READERS else {}

    def who(self) -> str:
        """The widget key's or preview's id, or the visitor's contact id, one parameter per
        plan."""
        if self._who is None:
            if self.kind in BOUND:
                self._who = self._param(lambda i: i.principal.token_id, "uuid")
            else:
                self._who = self._param(lambda i: i.principal.contact_id, "uuid")
        return self._who

    def spaces(self, a: str) -> str:
        published = f"{a}.status = {sql.literal(PUBLISHED)}"
        if self.kind in BOUND:
            bound = (
                f"SELECT unnest(w.space_ids) FROM api_tokens w WHERE w.tenant_id = $1 "
                f"AND w.id = {self.who()}"
            )
            if self.kind == "preview":  # the draft, whatever its status but archived
                return f"{a}.id IN ({bound}) AND {a}.status <> {sql.literal(ARCHIVED)}"
            return f"{a}.id IN ({bound}) AND {published}"
        states = ", ".join(sql.literal(s) for s in ACTIVE_STATES)
        shared = (
            f"SELECT g.space_id FROM space_access g WHERE g.tenant_id = $1 "
            f"AND g.contact_id = {self.who()} AND g.state IN ({states})"
        )
        return f"{a}.id IN ({shared}) AND {published}"

    def table(self, table: str) -> str:
        """`table`, or the derived table of its rows this audience may see."""
        n = f"{table}_seen"
        if table == "spaces":
            where = self.spaces(n)
        elif table == "blocks" and self.published:
            return self._published_blocks(n)
        elif table == "blocks":
            where = (
                f"{n}.space_id IN (SELECT v.id FROM spaces v "
                f"WHERE v.tenant_id = $1 AND {self.spaces('v')})"
            )
        elif table in OWN_ROWS and self.kind == "visitor":
            where = f"{n}.{OWN_ROWS[table]} = {self.who()}"
        else:
            where = "false"  # a widget or preview speaks for no contact; any other: nothing
        source = self.published.get(table, table)
        return f"(SELECT * FROM {source} {n} WHERE {where})"

    def _published_blocks(self, n: str) -> str:
        """The published revision's blocks of the spaces this audience sees: the rows of
        `published.blocks`, with the space's criteria on the one join to the draft row
        (the view joined again in a subquery would look the space up twice per block)."""
        columns = ", ".join(
            f"{n}.block_id AS id" if c == "id" else f"{n}.{c}"
            for c in (col.name for col in Block.__table__.columns)
        )
        return (
            f"(SELECT {columns} FROM block_revisions {n} JOIN spaces v ON v.tenant_id = "
            f"{n}.tenant_id AND v.id = {n}.space_id AND v.published_revision_id = "
            f"{n}.revision_id WHERE v.tenant_id = $1 AND {self.spaces('v')})"
        )
