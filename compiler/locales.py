"""A block's locale as SQL: store/locales.py's `served`, in the statement.

The requested tag's candidates (store/locales.py `candidates`, at most MAX_CANDIDATES) are
statement parameters, one each, computed per request from the variables: a block row is
served in the first its `bodies` hold, else in its own `body` under the tenant's default.
Plain expressions on the row: no join, no subquery per row (the default is one subquery on
the tenant's row, run once per statement).
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import FieldNode, GraphQLField

from compiler import sql
from compiler.collect import argument
from compiler.context import PlanContext
from compiler.shapes import Inputs
from store.locales import MAX_CANDIDATES, candidates, requested

DEFAULT = "(SELECT lt.default_locale FROM tenants lt WHERE lt.id = $1)"


class Requested:
    """A read's `locale` argument: checked on every request (a malformed tag leaves the plan,
    the resolver path answers its INVALID_LOCALE), its candidates made statement parameters
    once a field reads them (a parameter no statement names has no type)."""

    def __init__(self, ctx: PlanContext, field_def: GraphQLField, nodes: list[FieldNode]) -> None:
        self.ctx = ctx
        self.get = argument(field_def, nodes[0], "locale")
        self._params: tuple[str, ...] | None = None
        ctx.checks.append(self.check)

    def check(self, i: Inputs) -> None:
        self.tags(i)

    def tags(self, i: Inputs) -> list[str]:
        return candidates(requested(self.get(i.variables)))

    def params(self) -> tuple[str, ...]:
        """The candidates as `text` parameters, NULL past the last."""
        if self._params is None:

            def nth(index: int) -> Callable[[Inputs], str | None]:
                def tag(i: Inputs) -> str | None:
                    tags = self.tags(i)
                    return tags[index] if index < len(tags) else None

                return tag

            self._params = tuple(self.ctx.param(nth(n), "text") for n in range(MAX_CANDIDATES))
        return self._params


def requested_params(
    ctx: PlanContext, field_def: GraphQLField, nodes: list[FieldNode]
) -> Requested | None:
    """The read's `locale` argument; None when it names none."""
    if argument(field_def, nodes[0], "locale")(ctx.variables) is None:
        return None
    return Requested(ctx, field_def, nodes)


def served_locale(alias: str, locale: Requested | None) -> str:
    """The locale the block row `alias` is served in."""
    if locale is None:
        return DEFAULT
    tags = locale.params()
    whens = " ".join(f"WHEN {alias}.bodies ? {t} THEN {t}" for t in tags)
    return f"CASE {whens} ELSE {DEFAULT} END"


def served_body(alias: str, locale: Requested) -> str:
    """The served body (JSONB) of the block row `alias`."""
    tags = locale.params()
    return f"coalesce({', '.join(f'{alias}.bodies -> {t}' for t in tags)}, {alias}.body)"


def served_has(alias: str, locale: Requested) -> str:
    """Whether the served body holds a merge field: a body of another locale tested as
    `blocks.has_merge_fields` is made (migration 0035), else that column."""
    tests = [f"strpos(({alias}.bodies -> {t})::text, '{{{{') > 0" for t in locale.params()]
    return f"coalesce({', '.join(tests)}, {alias}.has_merge_fields)"


def served_body_json(alias: str, locale: Requested, own: str, kind: str) -> str:
    """The served body's JSON text: a body of a locale in `bodies` written as `kind`
    (compiler/sql.py json_text), else `own`, the JSON text of the block's own body."""
    others = [str(sql.json_text(f"{alias}.bodies -> {t}", kind, False)) for t in locale.params()]
    return f"coalesce({', '.join(others)}, {own})"
