"""Consent state is not inferable by callers from whom it is withheld.

Invariants:
- for a viewer and for `contacts:read` / `contacts:write` keys, a contact who granted
  consent and one who never did look the same in `consents` (every field) and in the
  consent history's fields and cursors;
- a consent-history cursor reveals no withheld value (it does not decode to the timestamp),
  and paging with it still walks every event once, newest first;
- the schema walk fails on a field of a personal-data type whose column is not classified.
"""

from __future__ import annotations

import base64

import pytest
import strawberry

from core.ids import encode_id
from models import ConsentEvent as ConsentEventModel
from schema.personal_data import backed_by
from tests.factories import make_contacts, make_key
from tests.test_redaction import unguarded_fields

CONSENTS = """query($id: ID!) { contact(id: $id) {
    consents { purpose state granted changedAt source policyVersion }
    consentHistory(first: 1) { totalCount edges { cursor node { purpose action source policyVersion occurredAt } } }
} }"""
HISTORY = """query($id: ID!, $after: String) { contact(id: $id) {
    consentHistory(first: 1, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage } }
} }"""


async def _token(kind, tenant, new_member, owner_url):
    if kind == "viewer":
        return (await new_member(tenant.tenant_id, "viewer")).token
    return await make_key(owner_url, tenant.tenant_id, "partner", [kind])


@pytest.mark.parametrize("kind", ["viewer", "contacts:read", "contacts:write"])
async def test_withheld_consent_looks_the_same_granted_or_not(
    kind, api, new_tenant, new_member, owner_url
):
    tenant = await new_tenant()
    granted = (await make_contacts(owner_url, tenant.tenant_id, 1, consents=("marketing_email",)))[
        0
    ]
    never = (await make_contacts(owner_url, tenant.tenant_id, 1))[0]
    client = api(await _token(kind, tenant, new_member, owner_url))

    answers = []
    for cid in (granted, never):
        result = await client(CONSENTS, {"id": encode_id("Contact", cid)})
        contact = result["data"]["contact"]
        answers.append(contact["consents"])
        for edge in contact["consentHistory"]["edges"]:
            node = edge["node"]
            assert {k: node[k] for k in ("action", "source", "policyVersion", "occurredAt")} == {
                "action": None,
                "source": None,
                "policyVersion": None,
                "occurredAt": None,
            }, node
            decoded = base64.urlsafe_b64decode(edge["cursor"] + "==").decode("utf-8", "replace")
            assert ":" not in decoded and "T" not in decoded.replace("ConsentEvent", ""), decoded
    assert answers[0] == answers[1], answers


async def test_opaque_cursors_still_page_newest_first(api, new_tenant, owner_url):
    tenant = await new_tenant()
    cid = (
        await make_contacts(
            owner_url, tenant.tenant_id, 1, consents=("marketing_email", "analytics", "cookies")
        )
    )[0]
    owner = api(tenant.token)
    seen, after = [], None
    for _ in range(5):
        page = (await owner(HISTORY, {"id": encode_id("Contact", cid), "after": after}))["data"]
        history = page["contact"]["consentHistory"]
        seen += [e["node"]["id"] for e in history["edges"]]
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["edges"][-1]["cursor"]
    full = await owner(
        "query($id: ID!) { contact(id: $id) { consentHistory { edges { node { id } } } } }",
        {"id": encode_id("Contact", cid)},
    )
    expected = [e["node"]["id"] for e in full["data"]["contact"]["consentHistory"]["edges"]]
    assert seen == expected and len(seen) == 3


@backed_by(ConsentEventModel)
@strawberry.type
class UnclassifiedEvent:
    """Exposes a column that is neither personal nor declared public."""

    source: str | None


@strawberry.type
class UnclassifiedQuery:
    event: UnclassifiedEvent | None = None


def test_schema_walk_fails_on_an_unclassified_field():
    schema = strawberry.Schema(query=UnclassifiedQuery)
    assert unguarded_fields(schema) == ["UnclassifiedEvent.source"]
