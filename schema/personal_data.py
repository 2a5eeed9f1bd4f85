"""Personal-data fields: the `@personalData` directive and the one redaction extension.

A field backed by a personal-data column is declared with `personal(Model.column)`: the SDL
shows its fideslang category, and `Redact` applies the policy decision for the caller (value,
mask, or null with an entry in `extensions.redactions`) and records the read for the audit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from policies.redaction import Decision, decide, mask

REASON = "not permitted by policy"


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Personal data of this fideslang category: may come back masked or null by policy.",
)
class PersonalData:
    category: str


def backed_by(model: type[Any]) -> Callable[[type[Any]], type[Any]]:
    """Mark a GraphQL type as built from `model`: its personal columns must be guarded."""

    def mark(cls: type[Any]) -> type[Any]:
        cls.__backed_by__ = model
        return cls

    return mark


class Redact(FieldExtension):
    """Apply the caller's redaction decision to one personal field."""

    def __init__(self, category: str) -> None:
        self.category = category
        self.obj: str | None = None
        # (authz, decision) of the latest request: an identity check per row instead of
        # `decide()`; an Authorizer lives for one request, so it identifies the request
        self._last: tuple[Any, Decision] | None = None

    def _decision(self, ctx: Any, raw: Any) -> Decision:
        last = self._last
        authz = ctx.authz
        if last is not None and last[0] is authz:
            return last[1]
        if self.obj is None:
            # the policy object is the GraphQL name, as partners read it in the SDL
            self.obj = f"{raw.parent_type.name}.{raw.field_name}"
        decision = decide(authz, self.obj)
        self._last = (authz, decision)
        return decision

    def _apply(self, source: Any, info: Info, value: Any) -> Any:
        raw = info._raw_info  # graphql-core's info: skips strawberry's property hops per row
        ctx = raw.context
        decision = self._decision(ctx, raw)
        if decision is Decision.FULL:
            if value is not None:
                ctx.audit.read(getattr(source, "subject_pk", None), raw.field_name)
            return value
        if decision is Decision.MASKED:
            masked = mask(self.category, value)
            if masked is not None or value is None:
                self._audit(ctx, source, raw, value)
                return masked
            # a value with no partial form is withheld, as if redacted
        ctx.redactions.append(
            {"path": raw.path.as_list(), "category": self.category, "reason": REASON}
        )
        return None

    @staticmethod
    def _audit(ctx: Any, source: Any, raw: Any, value: Any) -> None:
        if value is not None:
            ctx.audit.read(getattr(source, "subject_pk", None), raw.field_name)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return self._apply(source, info, next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        return self._apply(source, info, await next_(source, info, **kwargs))


def personal(column: InstrumentedAttribute[Any], *, description: str | None = None, **kwargs: Any) -> Any:
    """A nullable field backed by a personal-data column, redacted by policy."""
    category = column.property.columns[0].info["pii"]
    return strawberry.field(
        description=description,
        directives=[PersonalData(category=category)],
        extensions=[Redact(category)],
        **kwargs,
    )
