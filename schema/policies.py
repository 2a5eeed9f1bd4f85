"""Tenant policy overrides: types, inputs and payloads."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from core.ids import encode_id
from models.audit import PolicyRule as PolicyRuleModel
from schema.errors import UserError
from schema.node import Node


@strawberry.enum
class PolicyEffect(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@strawberry.type(
    description="A tenant's override of the default policy; takes effect on the next request."
)
class PolicyRule(Node):
    subject: str = strawberry.field(description="A role, a partner scope, `widget` or `subject`.")
    object: str = strawberry.field(
        description="A type (`Contact`), a field (`Contact.email`) or a pattern (`Contact.*`)."
    )
    action: str
    effect: PolicyEffect
    created_at: datetime

    @classmethod
    def from_model(cls, row: PolicyRuleModel) -> PolicyRule:
        return cls(
            id=strawberry.ID(encode_id("PolicyRule", row.id)),
            subject=row.subject,
            object=row.object,
            action=row.action,
            effect=PolicyEffect(row.effect),
            created_at=row.created_at,
        )


@strawberry.enum
class PolicyErrorCode(enum.Enum):
    UNKNOWN_SUBJECT = "unknown_subject"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_OBJECT = "invalid_object"
    PROTECTED = "protected"


@strawberry.type
class PolicyUserError(UserError):
    code: PolicyErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class PolicyRuleInput:
    subject: str
    object: str
    action: str
    effect: PolicyEffect


@strawberry.type
class PolicyRulePayload:
    rule: PolicyRule | None = None
    user_errors: list[PolicyUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PolicyRuleRemovePayload:
    deleted_rule_id: strawberry.ID | None = None
    user_errors: list[PolicyUserError] = strawberry.field(default_factory=list)
