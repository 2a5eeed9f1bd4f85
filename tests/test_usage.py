"""Usage events and analytics through HTTP.

Invariants guarded here:
- no usage event is stored for a contact without analytics consent, and withdrawing the
  consent deletes the contact's stored events in the same transaction;
- for callers without `read_individual` on Analytics, no count describing fewer than 5
  distinct contacts (zero included) is ever returned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import owner_db
from core.ids import encode_id
from models import UsageEvent
from tests.conftest import error_codes
from tests.factories import make_contacts, make_space

RECORD = """
mutation($c: ID!, $s: ID!, $b: ID) {
  usageRecord(input: {contactId: $c, spaceId: $s, blockId: $b}) { recorded userErrors { code field } }
}"""
ANALYTICS = """
query($s: ID!) {
  spaceAnalytics(spaceId: $s) {
    views uniqueViewers suppressed minimumGroupSize
    blocks { views uniqueViewers suppressed block { id } }
  }
}"""


async def _events(owner_url, tenant_id) -> list[UsageEvent]:
    async with owner_db(owner_url, tenant_id) as db:
        return list(await db.scalars(select(UsageEvent)))


async def test_no_usage_event_without_analytics_consent(api, new_tenant, owner_url):
    # given: a contact that has not consented to analytics
    t = await new_tenant()
    owner = api(t.token)
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    space, blocks = await make_space(owner_url, t.tenant_id, blocks=1)
    contact = encode_id("Contact", cid)
    # when / then: nothing is stored
    refused = await owner(RECORD, {"c": contact, "s": space, "b": blocks[0]})
    assert refused["data"]["usageRecord"] == {
        "recorded": False,
        "userErrors": [{"code": "NO_CONSENT", "field": ["contactId"]}],
    }
    assert await _events(owner_url, t.tenant_id) == []
    # with consent, events are stored...
    await owner(
        'mutation($c: ID!) { consentGrant(input: {contactId: $c, purpose: ANALYTICS, policyVersion: "v1"}) { event { id } } }',
        {"c": contact},
    )
    for block in (None, blocks[0]):
        assert (await owner(RECORD, {"c": contact, "s": space, "b": block}))["data"]["usageRecord"][
            "recorded"
        ] is True
    assert len(await _events(owner_url, t.tenant_id)) == 2
    # ...and a withdrawal deletes them at once, and stops new ones
    await owner(
        "mutation($c: ID!) { consentWithdraw(input: {contactId: $c, purpose: ANALYTICS}) { event { id } } }",
        {"c": contact},
    )
    assert await _events(owner_url, t.tenant_id) == []
    assert (await owner(RECORD, {"c": contact, "s": space, "b": None}))["data"]["usageRecord"][
        "recorded"
    ] is False
    assert await _events(owner_url, t.tenant_id) == []


async def test_a_block_of_another_space_is_refused(api, new_tenant, owner_url):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("analytics",))
    space, _ = await make_space(owner_url, t.tenant_id)
    _, other_blocks = await make_space(owner_url, t.tenant_id, blocks=1)
    result = await api(t.token)(
        RECORD, {"c": encode_id("Contact", cid), "s": space, "b": other_blocks[0]}
    )
    assert result["data"]["usageRecord"]["userErrors"][0]["code"] == "BLOCK_NOT_IN_SPACE"


def _small_counts(node: Any) -> list[int]:
    """Every count under 5 anywhere in an analytics answer (0 included)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("views", "uniqueViewers") and isinstance(value, int) and value < 5:
                found.append(value)
            else:
                found.extend(_small_counts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_small_counts(item))
    return found


async def test_suppressed_aggregates_never_reveal_a_group_under_5(
    api, new_tenant, new_member, owner_url
):
    # given: 4 contacts viewed the space page (twice each), 6 viewed block 0, 1 viewed block 1
    t = await new_tenant()
    owner = api(t.token)
    people = [
        encode_id("Contact", c)
        for c in await make_contacts(owner_url, t.tenant_id, 7, consents=("analytics",))
    ]
    space, blocks = await make_space(owner_url, t.tenant_id, blocks=3)
    for person in people[:4]:
        for _ in range(2):
            await owner(RECORD, {"c": person, "s": space, "b": None})
    for person in people[:6]:
        await owner(RECORD, {"c": person, "s": space, "b": blocks[0]})
    await owner(RECORD, {"c": people[6], "s": space, "b": blocks[1]})
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    officer = api((await new_member(t.tenant_id, "privacy_officer")).token)
    # when
    hidden = (await viewer(ANALYTICS, {"s": space}))["data"]["spaceAnalytics"]
    full = (await owner(ANALYTICS, {"s": space}))["data"]["spaceAnalytics"]
    # then: the viewer sees only the group of 6; no small group, not even its existence
    assert (hidden["views"], hidden["uniqueViewers"], hidden["suppressed"]) == (None, None, True)
    assert [(b["views"], b["uniqueViewers"], b["suppressed"]) for b in hidden["blocks"]] == [
        (6, 6, False),
        (None, None, True),
        (None, None, True),
    ]
    assert [b["block"]["id"] for b in hidden["blocks"]] == blocks
    assert _small_counts(hidden) == []
    # owners and privacy officers may see individuals, so nothing is suppressed for them
    assert (full["views"], full["uniqueViewers"], full["suppressed"]) == (8, 4, False)
    assert [(b["views"], b["uniqueViewers"]) for b in full["blocks"]] == [(6, 6), (1, 1), (0, 0)]
    assert (await officer(ANALYTICS, {"s": space}))["data"]["spaceAnalytics"]["uniqueViewers"] == 4
    # a fifth viewer of the page makes that group large enough
    await owner(RECORD, {"c": people[4], "s": space, "b": None})
    again = (await viewer(ANALYTICS, {"s": space}))["data"]["spaceAnalytics"]
    assert (again["views"], again["uniqueViewers"]) == (9, 5)


async def test_analytics_refuses_a_reversed_range(api, new_tenant, owner_url):
    t = await new_tenant()
    space, _ = await make_space(owner_url, t.tenant_id)
    bad_range = await api(t.token)(
        'query($s: ID!) { spaceAnalytics(spaceId: $s, since: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z") { views } }',
        {"s": space},
    )
    assert error_codes(bad_range) == ["BAD_USER_INPUT"]


DOWNLOAD = """mutation($c: ID!, $s: ID!, $b: ID) {
  usageRecord(input: {contactId: $c, spaceId: $s, blockId: $b, action: DOWNLOAD}) {
    recorded userErrors { code field } } }"""
DOWNLOADS = """query($s: ID!) { spaceAnalytics(spaceId: $s) { views uniqueViewers
  blocks { views uniqueViewers suppressed downloads uniqueDownloaders downloadsSuppressed } } }"""


async def _file_block(owner_url, tenant_id, space: str) -> str:
    import uuid

    from core.ids import decode_id
    from models import Block

    bid = uuid.uuid4()
    async with owner_db(owner_url, tenant_id) as db:
        db.add(
            Block(
                id=bid,
                space_id=decode_id(space, "Space"),
                kind="file",
                position=50,
                body={"url": "https://files.example/prices.pdf", "name": "Prices"},
            )
        )
    return encode_id("Block", bid)


async def test_downloads_are_counted_apart_from_views_and_only_under_consent(
    api, new_tenant, new_member, owner_url
):
    # given: 6 contacts with analytics consent, 1 without; a space with a heading and a file
    t = await new_tenant()
    owner = api(t.token)
    people = [
        encode_id("Contact", c)
        for c in await make_contacts(owner_url, t.tenant_id, 6, consents=("analytics",))
    ]
    (refuser,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    space, (heading,) = await make_space(owner_url, t.tenant_id, blocks=1)
    file = await _file_block(owner_url, t.tenant_id, space)
    # when: 5 of them download the file (one twice), the sixth only views it
    for person in people[:5]:
        answer = await owner(DOWNLOAD, {"c": person, "s": space, "b": file})
        assert answer["data"]["usageRecord"] == {"recorded": True, "userErrors": []}
    await owner(DOWNLOAD, {"c": people[0], "s": space, "b": file})
    await owner(RECORD, {"c": people[5], "s": space, "b": file})
    # then: nothing without consent, and a download names a file block
    refused = await owner(DOWNLOAD, {"c": encode_id("Contact", refuser), "s": space, "b": file})
    assert refused["data"]["usageRecord"]["userErrors"] == [
        {"code": "NO_CONSENT", "field": ["contactId"]}
    ]
    for block in (heading, None):
        wrong = await owner(DOWNLOAD, {"c": people[0], "s": space, "b": block})
        assert wrong["data"]["usageRecord"] == {
            "recorded": False,
            "userErrors": [{"code": "NOT_A_DOWNLOAD", "field": ["blockId"]}],
        }
    events = await _events(owner_url, t.tenant_id)
    assert sorted(e.action for e in events) == ["download"] * 6 + ["view"]
    # downloads are counted apart from views, each group held to the minimum of 5
    full = (await owner(DOWNLOADS, {"s": space}))["data"]["spaceAnalytics"]
    assert [
        (b["views"], b["downloads"], b["uniqueDownloaders"], b["downloadsSuppressed"])
        for b in full["blocks"]
    ] == [(0, 0, 0, False), (1, 6, 5, False)]
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    hidden = (await viewer(DOWNLOADS, {"s": space}))["data"]["spaceAnalytics"]
    assert [
        (b["views"], b["suppressed"], b["downloads"], b["uniqueDownloaders"])
        for b in hidden["blocks"]
    ] == [(None, True, None, None), (None, True, 6, 5)]
    assert (hidden["views"], hidden["uniqueViewers"]) == (None, None)
    # a withdrawal deletes their downloads with their views
    await owner(
        "mutation($c: ID!) { consentWithdraw(input: {contactId: $c, purpose: ANALYTICS}) { event { id } } }",
        {"c": people[0]},
    )
    assert len(await _events(owner_url, t.tenant_id)) == 5
    after = (await viewer(DOWNLOADS, {"s": space}))["data"]["spaceAnalytics"]["blocks"][1]
    assert (after["downloads"], after["downloadsSuppressed"]) == (None, True)
