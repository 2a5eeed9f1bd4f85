"""Tenant policy overrides: list, set (upsert), remove; each bumps the tenant's version."""

from __future__ import annotations

import re
import uuid

import strawberry
from sqlalchemy import select, update

from core.errors import NotFound
from core.ids import decode_id, encode_id
from models import Tenant
from models.audit import PolicyRule as PolicyRuleModel
from policies.authz import read_policy_rows
from schema.context import Info
from schema.policies import (
    PolicyErrorCode,
    PolicyRule,
    PolicyRuleInput,
    PolicyRulePayload,
    PolicyRuleRemovePayload,
    PolicyUserError,
)

ACTIONS = {
    "read",
    "read_masked",
    "create",
    "update",
    "delete",
    "publish",
    "export",
    "erase",
    "manage",
    "*",
}
OBJECT_RE = re.compile(r"^(\*|[A-Z][A-Za-z]{0,63}(\.(\*|[a-z][A-Za-z0-9]{0,63}))?)$")
# overriding these could lock every owner out of fixing the policy again
PROTECTED_OBJECTS = {"*", "Policy"}


def known_subjects() -> set[str]:
    return {row[1] for row in read_policy_rows() if row[0] == "p"} | {"widget", "subject"}


def _error(code: PolicyErrorCode, field: str, message: str) -> PolicyRulePayload:
    return PolicyRulePayload(
        user_errors=[PolicyUserError(code=code, field=[field], message=message)]
    )


async def _bump_version(info: Info) -> None:
    tenant_id = info.context.principal.tenant_id
    await info.context.db.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(policy_version=Tenant.policy_version + 1)
    )


async def list_policy_rules(info: Info) -> list[PolicyRule]:
    """The tenant's overrides, oldest first."""
    rows = await info.context.db.scalars(
        select(PolicyRuleModel).order_by(PolicyRuleModel.created_at, PolicyRuleModel.id)
    )
    return [PolicyRule.from_model(r) for r in rows]


async def set_policy_rule(info: Info, input: PolicyRuleInput) -> PolicyRulePayload:
    """Allow or deny (subject, object, action) in this tenant, replacing an earlier rule."""
    if input.subject not in known_subjects():
        return _error(PolicyErrorCode.UNKNOWN_SUBJECT, "subject", "Unknown role or scope.")
    if input.action not in ACTIONS:
        return _error(
            PolicyErrorCode.UNKNOWN_ACTION,
            "action",
            f"action must be one of: {', '.join(sorted(ACTIONS))}.",
        )
    if not OBJECT_RE.match(input.object):
        return _error(
            PolicyErrorCode.INVALID_OBJECT, "object", "object must be a type, Type.field or Type.*."
        )
    if input.object.split(".")[0] in PROTECTED_OBJECTS:
        return _error(
            PolicyErrorCode.PROTECTED,
            "object",
            "Rules on policies themselves cannot be overridden.",
        )
    db = info.context.db
    row = await db.scalar(
        select(PolicyRuleModel).where(
            PolicyRuleModel.subject == input.subject,
            PolicyRuleModel.object == input.object,
            PolicyRuleModel.action == input.action,
        )
    )
    if row is None:
        row = PolicyRuleModel(
            id=uuid.uuid4(),
            subject=input.subject,
            object=input.object,
            action=input.action,
            effect=input.effect.value,
            created_by=info.context.principal.member_id,
        )
        db.add(row)
    else:
        row.effect = input.effect.value
    await db.flush()
    await db.refresh(row)
    await _bump_version(info)
    await info.context.emit("policy.updated", row.id, ["effect"])
    return PolicyRulePayload(rule=PolicyRule.from_model(row))


async def remove_policy_rule(info: Info, id: strawberry.ID) -> PolicyRuleRemovePayload:
    """Drop an override; the default policy applies again from the next request."""
    db = info.context.db
    row = await db.scalar(
        select(PolicyRuleModel).where(PolicyRuleModel.id == decode_id(id, "PolicyRule"))
    )
    if row is None:
        raise NotFound()
    await db.delete(row)
    await _bump_version(info)
    await info.context.emit("policy.updated", row.id)
    return PolicyRuleRemovePayload(deleted_rule_id=strawberry.ID(encode_id("PolicyRule", row.id)))
