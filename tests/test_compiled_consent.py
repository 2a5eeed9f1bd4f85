"""Differential tests of `consentGrant` on the fast lane (compiler/writes.py, migration
0049): the lane's answer and what it records are the resolver path's.

Twin tenants made alike, each with two contacts: tenant A through the resolver path (the
lane off), tenant B through the fast lane (the document and B's credential known by the
same grant before in both), each request with the same X-Request-ID. Compared once A's IDs
are read as B's: the answer, the ledger rows (purpose, action, source, policy version,
evidence, the contact, the token that recorded them), the domain events and the audit
entries (principal, request, operation, subjects, fields), in order. A grant the resolver
refuses with user errors, an unknown or foreign contact, a payload with personal data, a
viewer's (denied) grant and a visitor's source go the whole way, with nothing written by the
lane.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from core.ids import encode_id
from tests.factories import make_contacts


def lane(app):
    return app.state.fast_lane


@dataclass
class Twin:
    tenant_id: uuid.UUID
    token: str
    viewer: str
    contacts: list[uuid.UUID]
    ids: list[tuple[str, str]]  # (A's spelling, ...) of the tenant, members and tokens

    def contact(self, i: int) -> str:
        return encode_id("Contact", self.contacts[i])


async def _twin(new_tenant, new_member, owner_engine, owner_url, name: str) -> Twin:
    owner = await new_tenant(name)
    viewer = await new_member(owner.tenant_id, "viewer")
    contacts = await make_contacts(owner_url, owner.tenant_id, 2)
    async with owner_engine.connect() as conn:
        tokens = await conn.execute(
            text("SELECT id FROM api_tokens WHERE tenant_id = :t ORDER BY member_id = :o DESC"),
            {"t": owner.tenant_id, "o": owner.member_id},
        )
        token_ids = [r[0] for r in tokens]
    ids = [owner.tenant_id, owner.member_id, viewer.member_id, *contacts, *token_ids]
    return Twin(owner.tenant_id, owner.token, viewer.token, contacts, ids)


STATE = {
    "ledger": "SELECT id, contact_id, purpose, action, source, policy_version, evidence, "
    "recorded_by FROM consent_events WHERE tenant_id = :t ORDER BY occurred_at, id",
    "events": "SELECT topic, payload FROM domain_events WHERE tenant_id = :t "
    "ORDER BY created_at, topic, payload::text",
    "audit": "SELECT principal_kind, principal_id, request_id, operation, subject_contact_ids, "
    "fields FROM audit_log WHERE tenant_id = :t AND operation <> 'read' ORDER BY seq",
}


async def _state(owner_engine, tenant_id: uuid.UUID) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with owner_engine.connect() as conn:
        for name, sql in STATE.items():
            rows = await conn.execute(text(sql), {"t": tenant_id})
            out[name] = [[str(v) if isinstance(v, uuid.UUID) else v for v in r] for r in rows]
    return json.loads(json.dumps(out, default=str))


def _mapping(a: Twin, b: Twin, after_a: dict, after_b: dict) -> dict[str, str]:
    """A's identifiers as B's: the twins' own, and the ledger rows in the order written."""
    out: dict[str, str] = {}
    pairs = list(zip(a.ids, b.ids, strict=True))
    ledger = zip(after_a["ledger"], after_b["ledger"], strict=False)
    pairs += [(uuid.UUID(x[0]), uuid.UUID(y[0])) for x, y in ledger]
    for x, y in pairs:
        out[str(x)] = str(y)
        for type_name in ("Contact", "ConsentEvent"):
            out[encode_id(type_name, x)] = encode_id(type_name, y)
    return out


def _as_b(value: Any, mapping: dict[str, str]) -> Any:
    raw = json.dumps(value, sort_keys=True, default=str)
    for x, y in mapping.items():
        raw = raw.replace(x, y)
    return json.loads(raw)


GRANT = """mutation G($input: ConsentGrantInput!) { consentGrant(input: $input) {
    event { id purpose } userErrors { code field message } } }"""
GRANT_LITERAL = """mutation L($c: ID!) { consentGrant(input: {contactId: $c, purpose: ANALYTICS,
    policyVersion: " v2 ", source: FORM, evidence: "form 7"}) { __typename event { id } } }"""
GRANT_PERSONAL = """mutation P($input: ConsentGrantInput!) { consentGrant(input: $input) {
    event { id action evidence } consent { state granted } } }"""


def _input(**more: Any) -> Callable[[Twin, Twin], dict[str, Any]]:
    def make(w: Twin, x: Twin) -> dict[str, Any]:
        given = {"contactId": w.contact(0), "purpose": "MARKETING_EMAIL", "policyVersion": "v1"}
        given.update({k: v(w, x) if callable(v) else v for k, v in more.items()})
        return {"input": given}

    return make


@dataclass(frozen=True)
class Case:
    name: str
    document: str
    variables: Callable[[Twin, Twin], dict[str, Any]]
    laned: bool
    token: str = "token"


CASES = [
    Case("grant", GRANT, _input(), True),
    Case(
        "grant with evidence and a source",
        GRANT,
        _input(contactId=lambda w, x: w.contact(1), source="IMPORT", evidence="row 12"),
        True,
    ),
    Case("grant with a padded policy version", GRANT, _input(policyVersion="  v3 "), True),
    Case("grant written inline", GRANT_LITERAL, lambda w, x: {"c": w.contact(1)}, True),
    Case("grant without a policy version", GRANT, _input(policyVersion="   "), False),
    Case("grant with a policy version too long", GRANT, _input(policyVersion="v" * 51), False),
    Case("grant with evidence too long", GRANT, _input(evidence="e" * 2001), False),
    Case("grant with the one-click source", GRANT, _input(source="ONE_CLICK"), False),
    Case(
        "grant of another tenant's contact",
        GRANT,
        _input(contactId=lambda w, x: x.contact(0)),
        False,
    ),
    Case(
        "grant of an unknown contact",
        GRANT,
        _input(contactId=encode_id("Contact", uuid.UUID(int=5))),
        False,
    ),
    Case("grant of a malformed ID", GRANT, _input(contactId="Zm9v"), False),
    Case("grant with personal data in the payload", GRANT_PERSONAL, _input(), False),
    Case("grant by a viewer", GRANT, _input(), False, token="viewer"),
]


def _learning(document: str, learner: Twin, x: Twin) -> dict[str, Any]:
    cases = [c for c in CASES if c.document == document]
    case = next((c for c in cases if c.laned), cases[0])
    return case.variables(learner, x)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_the_lane_grants_as_the_resolver_path_does(
    case: Case, app, api, client, new_tenant, new_member, owner_engine, owner_url
) -> None:
    a = await _twin(new_tenant, new_member, owner_engine, owner_url, "A")
    b = await _twin(new_tenant, new_member, owner_engine, owner_url, "B")
    x = await _twin(new_tenant, new_member, owner_engine, owner_url, "X")

    async def send(twin: Twin, request_id: str, token: str, variables: dict[str, Any]):
        body = {"query": case.document, "variables": variables}
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": request_id}
        return await client.post("/graphql", json=body, headers=headers)

    learning = f"learn-{uuid.uuid4().hex[:12]}"  # the same in both: their audit entries too
    for twin in (a, b):
        variables = _learning(case.document, twin, x)
        learned = await send(twin, learning, twin.token, variables)
        assert "errors" not in learned.json(), learned.json()
        await api(twin.viewer)("{ viewer { kind } }")  # the lane knows the viewer too

    request_id = f"grant-{uuid.uuid4().hex[:12]}"
    lane(app).enabled = False
    try:
        resolver = await send(a, request_id, getattr(a, case.token), case.variables(a, x))
    finally:
        lane(app).enabled = True
    answered = lane(app).answered
    before_b = await _state(owner_engine, b.tenant_id)
    laned = await send(b, request_id, getattr(b, case.token), case.variables(b, x))

    assert lane(app).answered == answered + (1 if case.laned else 0), lane(app).misses
    after_a = await _state(owner_engine, a.tenant_id)
    after_b = await _state(owner_engine, b.tenant_id)
    mapping = _mapping(a, b, after_a, after_b)
    assert laned.status_code == resolver.status_code
    assert laned.json() == _as_b(resolver.json(), mapping)
    assert after_b == _as_b(after_a, mapping)
    if case.laned:
        assert after_b != before_b  # the lane wrote: a ledger row, its event, its audit entry
        assert len(after_b["ledger"]) == len(before_b["ledger"]) + 1
        entry = after_b["audit"][-1]
        assert entry[2] == request_id and entry[3] == "consent_granted"
    assert (await _state(owner_engine, x.tenant_id))["ledger"] == []
