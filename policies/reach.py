"""What a principal (typically a partner key) may do and read, by type and personal-data
category: derived from the policies and the personal-data map, never kept as a list.

A customer reviews an integration with this before authorising it; webhooks deliver exactly
this much (the same decisions redact their payloads).
"""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.utils.str_converters import to_camel_case

from models.base import Base
from models.pii import personal_columns_of
from policies.authz import policy_types
from policies.redaction import Checks, Decision, decide

ACTIONS = ("read", "create", "update", "delete", "publish", "export", "erase", "manage")
# types whose rows are read under another type's root field (as node() and the schema do)
GATES = {"ConsentEvent": "Consent", "SubjectRequestEvent": "SubjectRequest"}


@dataclass(frozen=True)
class FieldReach:
    field: str
    category: str
    decision: Decision


@dataclass(frozen=True)
class TypeReach:
    type_name: str
    actions: tuple[str, ...]
    fields: tuple[FieldReach, ...]


def _models() -> dict[str, type]:
    return {m.class_.__name__: m.class_ for m in Base.registry.mappers}


def reach(authz: Checks) -> list[TypeReach]:
    """Every type of the policy the principal may act on or read a personal field of."""
    models = _models()
    names = set(policy_types()) | {t for t in GATES if t in models}
    out = []
    for name in sorted(names):
        readable = authz.can(GATES.get(name, name), "read")
        # a gated type is read (only) under its gate's root field
        actions = (
            (("read",) if readable else ())
            if name in GATES
            else tuple(a for a in ACTIONS if authz.can(name, a))
        )
        fields: list[FieldReach] = []
        model = models.get(name)
        if model is not None:
            for column in personal_columns_of(model.__table__):  # type: ignore[attr-defined]
                graphql = to_camel_case(column.name)
                decision = decide(authz, f"{name}.{graphql}") if readable else Decision.REDACTED
                fields.append(FieldReach(graphql, column.info["pii"], decision))
        if actions or any(f.decision is not Decision.REDACTED for f in fields):
            out.append(TypeReach(name, actions, tuple(fields)))
    return out
