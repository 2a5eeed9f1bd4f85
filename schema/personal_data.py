"""Personal-data fields: the `@personalData` directive and the one redaction extension.

A field backed by a personal-data column is declared with `personal(Model.column)`: the SDL
shows its fideslang category, and `Redact` applies the policy decision for the caller (value,
mask, or null with an entry in `extensions.redactions`) and records the read for the audit.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from core.audit import AuditSubject
from policies.redaction import Decision, mask

REASON = "not permitted by policy"


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Personal data of this fideslang category: may come back masked or null by policy.",
)
class PersonalData:
    category: str


def backed_by(
    model: type[Any], *, public: tuple[str, ...] = ()
) -> Callable[[type[Any]], type[Any]]:
    """Mark a GraphQL type as built from `model`: every field on one of its columns is
    classified, either personal (guarded) or named in `public` (reveals nothing about the
    person). The schema walk (tests/test_redaction.py) fails on any field that is neither."""

    def mark(cls: type[Any]) -> type[Any]:
        cls.__backed_by__ = model
        cls.__public_columns__ = frozenset(public)
        return cls

    return mark


def subjects_of(source: AuditSubject) -> tuple[uuid.UUID | None, ...]:
    """The subjects a personal field's value is about (the audit subject protocol): one
    contact, or several (`subject_pks`: a subject request that matched many contacts)."""
    many: tuple[uuid.UUID, ...] = getattr(source, "subject_pks", ())
    return many or (source.subject_pk,)


def _audit_read(ctx: Any, source: AuditSubject, field: str) -> None:
    for subject in subjects_of(source):
        ctx.audit.read(subject, field)


class Redact(FieldExtension):
    """Apply the caller's redaction decision to one personal field."""

    def __init__(self, category: str) -> None:
        self.category = category
        self.obj: str | None = None

    def redact(self, source: Any, raw: GraphQLResolveInfo[Any], value: Any) -> Any:
        """The value, its mask, or None recorded in `extensions.redactions`; a disclosed
        value is recorded for the audit. `raw` is graphql-core's info."""
        ctx = raw.context
        if self.obj is None:
            # the policy object is the GraphQL name, as partners read it in the SDL
            self.obj = f"{raw.parent_type.name}.{raw.field_name}"
        decision = ctx.authz.field_decision(self.obj)
        if decision is Decision.FULL:
            if value is not None:
                _audit_read(ctx, source, raw.field_name)
            return value
        if decision is Decision.MASKED:
            masked = mask(self.category, value)
            if masked is not None or value is None:
                if value is not None:
                    _audit_read(ctx, source, raw.field_name)
                return masked
            # a value with no partial form is withheld, as if redacted
        ctx.redactions.append((raw.path, self.category))
        return None

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return self.redact(source, info._raw_info, next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        return self.redact(source, info._raw_info, await next_(source, info, **kwargs))

    def compiled(self, attribute: str) -> Callable[[Any, GraphQLResolveInfo[Any]], Any]:
        """The same decision as a plain graphql-core resolver of an attribute field: it skips
        strawberry's per-field wrapping, which cost more than the redaction itself."""

        def resolve(source: Any, raw: GraphQLResolveInfo[Any]) -> Any:
            return self.redact(source, raw, getattr(source, attribute))

        return resolve


def compile_redaction(schema: strawberry.Schema) -> int:
    """Install the lean resolver on every personal attribute field; returns how many."""
    compiled = 0
    graphql_types = schema._schema.type_map
    for name, entry in schema.schema_converter.type_map.items():
        definition = getattr(entry, "definition", None)
        for field in getattr(definition, "fields", None) or []:
            redact = next((e for e in field.extensions if isinstance(e, Redact)), None)
            if redact is None or field.base_resolver is not None:
                continue
            graphql_name = schema.config.name_converter.get_graphql_name(field)
            graphql_type = graphql_types[name]
            assert isinstance(graphql_type, GraphQLObjectType)
            graphql_type.fields[graphql_name].resolve = redact.compiled(field.python_name)
            compiled += 1
    return compiled


def personal(
    column: InstrumentedAttribute[Any],
    *,
    description: str | None = None,
    category: str | None = None,
    **kwargs: Any,
) -> Any:
    """A nullable field backed by a personal-data column, redacted by policy.

    `category` classifies a column that is not personal by itself but reveals personal
    data through this field (a consent's source or policy version reveals that it exists).
    """
    category = category or column.property.columns[0].info["pii"]
    return strawberry.field(
        description=description,
        directives=[PersonalData(category=category)],
        extensions=[Redact(category)],
        **kwargs,
    )
