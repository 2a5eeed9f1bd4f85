"""Invitation links open one session, and die with the invitation they were sent for.

Invariants (through HTTP):
- a GET of the link (a mail scanner, a preview) creates nothing: no session, no acceptance;
- opening the link any number of times (GET, then the page's POST) leaves one visitor
  session for the access; each opening hands out a new secret, the earlier one stops;
- revoking the access revokes its session and kills the link (INVITATION_REVOKED); after a
  re-invitation the earlier link stays dead (INVITATION_SUPERSEDED) while the new one opens
  the same session row again;
- a link signed before links named their invitation (version 1) opens only the invitation
  it was made for;
- another site's form cannot open a link in the visitor's browser (ORIGIN_NOT_ALLOWED).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core import signed
from core.db import owner_db
from core.ids import encode_id
from core.invitation_links import PURPOSE
from models import ApiToken, SpaceAccess
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_spaces
from tests.widgets import PersistedApi, current_invitation_token

VIEWER = "query Me { viewer { kind contactId } }"
ACCESS = """query($c: ID!) { contact(id: $c) { spaces { edges { node { id state } } } } }"""
INVITE = """mutation($s: ID!, $ids: [ID!]!) { spaceInvite(input: {spaceId: $s, contactIds: $ids}) {
  userErrors { code } } }"""
REVOKE = "mutation($id: ID!) { spaceAccessRevoke(id: $id) { spaceAccess { state } } }"


async def _world(new_tenant, owner_url):
    t = await new_tenant("L")
    space = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status="published"))[0]
    jane = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    await make_access(owner_url, t.tenant_id, space, [jane])
    return t, space, jane


async def _sessions(owner_url, tenant_id) -> list[ApiToken]:
    async with owner_db(owner_url, tenant_id) as db:
        return list(await db.scalars(select(ApiToken).where(ApiToken.kind == "visitor")))


async def _state(owner_url, tenant_id) -> str:
    async with owner_db(owner_url, tenant_id) as db:
        return str(await db.scalar(select(SpaceAccess.state)))


async def _works(client, api, owner_token: str, secret: str) -> bool:
    """Whether the visitor session's secret authenticates (a trusted read answers)."""
    result = await PersistedApi(client, secret, api(owner_token))(VIEWER)
    if "errors" in result:
        refused = await api(secret)(VIEWER)
        assert error_codes(refused) == ["UNAUTHENTICATED"], (result, refused)
        return False
    assert result["data"]["viewer"]["kind"] == "visitor", result
    return True


async def test_a_scanners_get_creates_nothing(client, new_tenant, owner_url, settings):
    t, space, jane = await _world(new_tenant, owner_url)
    token = await current_invitation_token(client, settings.secret(), t.tenant_id, space, jane)

    for _ in range(5):
        page = await client.get(f"/invitations/{token}")
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "msv_" not in page.text

    assert await _sessions(owner_url, t.tenant_id) == []
    assert await _state(owner_url, t.tenant_id) == "invited"


async def test_opening_a_link_again_keeps_one_session(api, client, new_tenant, owner_url, settings):
    # given an invitation link
    t, space, jane = await _world(new_tenant, owner_url)
    token = await current_invitation_token(client, settings.secret(), t.tenant_id, space, jane)

    # when the contact (or a scanner) opens it five times, page and button
    secrets = []
    for _ in range(5):
        assert (await client.get(f"/invitations/{token}")).status_code == 200
        opened = await client.post(f"/invitations/{token}")
        assert opened.status_code == 200, opened.text
        secrets.append(opened.json()["visitorToken"])

    # then one session row exists, holding the last secret only
    rows = await _sessions(owner_url, t.tenant_id)
    assert len(rows) == 1 and rows[0].revoked_at is None
    assert len(set(secrets)) == 5
    assert await _works(client, api, t.token, secrets[-1])
    assert not await _works(client, api, t.token, secrets[0])
    assert await _state(owner_url, t.tenant_id) == "accepted"


async def test_revoked_and_superseded_links_stay_dead(api, client, new_tenant, owner_url, settings):
    # given a session opened from the first invitation's link
    t, space, jane = await _world(new_tenant, owner_url)
    owner = api(t.token)
    secret = settings.secret()
    first = await current_invitation_token(client, secret, t.tenant_id, space, jane)
    session = (await client.post(f"/invitations/{first}")).json()["visitorToken"]
    assert await _works(client, api, t.token, session)

    # when the access is revoked: the session ends and the link is refused
    access = await owner(ACCESS, {"c": encode_id("Contact", jane)})
    access_id = access["data"]["contact"]["spaces"]["edges"][0]["node"]["id"]
    revoked = await owner(REVOKE, {"id": access_id})
    assert revoked["data"]["spaceAccessRevoke"]["spaceAccess"]["state"] == "REVOKED"
    assert not await _works(client, api, t.token, session)
    for response in (
        await client.get(f"/invitations/{first}"),
        await client.post(f"/invitations/{first}"),
    ):
        assert response.status_code == 410
        assert error_codes(response.json()) == ["INVITATION_REVOKED"]

    # and after a re-invitation the first link stays dead, the new one opens
    invited = await owner(
        INVITE, {"s": encode_id("Space", space), "ids": [encode_id("Contact", jane)]}
    )
    assert invited["data"]["spaceInvite"]["userErrors"] == []
    for response in (
        await client.get(f"/invitations/{first}"),
        await client.post(f"/invitations/{first}"),
    ):
        assert response.status_code == 410, response.text
        assert error_codes(response.json()) == ["INVITATION_SUPERSEDED"]
    assert await _sessions(owner_url, t.tenant_id) != [] and not await _works(
        client, api, t.token, session
    )
    second = await current_invitation_token(client, secret, t.tenant_id, space, jane)
    assert second != first
    reopened = await client.post(f"/invitations/{second}")
    assert reopened.status_code == 200, reopened.text
    assert await _works(client, api, t.token, reopened.json()["visitorToken"])
    assert not await _works(client, api, t.token, session)
    assert len(await _sessions(owner_url, t.tenant_id)) == 1


def _version_1(
    secret: bytes, ttl: float, tenant: uuid.UUID, space: uuid.UUID, contact: uuid.UUID
) -> str:
    """A link as signed before links named their invitation, made now."""
    expires = int((datetime.now(UTC) + timedelta(seconds=ttl)).timestamp())
    payload = {"v": 1, "t": str(tenant), "s": str(space), "c": str(contact), "exp": expires}
    return signed.seal(secret, PURPOSE, payload)  # the links' own signer: no other exists


async def test_a_version_1_link_opens_only_its_own_invitation(
    api, client, new_tenant, owner_url, settings
):
    t, space, jane = await _world(new_tenant, owner_url)
    owner = api(t.token)
    old = _version_1(settings.secret(), settings.invitation_link_ttl, t.tenant_id, space, jane)
    assert (await client.post(f"/invitations/{old}")).status_code == 200

    access = await owner(ACCESS, {"c": encode_id("Contact", jane)})
    access_id = access["data"]["contact"]["spaces"]["edges"][0]["node"]["id"]
    await owner(REVOKE, {"id": access_id})
    async with owner_db(owner_url, t.tenant_id) as db:  # re-invited a while after the link
        row = await db.scalar(select(SpaceAccess))
        row.state, row.revoked_at = "invited", None
        row.invited_at = datetime.now(UTC) + timedelta(seconds=5)
    refused = await client.post(f"/invitations/{old}")
    assert refused.status_code == 410 and error_codes(refused.json()) == ["INVITATION_SUPERSEDED"]


async def test_another_sites_form_cannot_open_a_link(client, new_tenant, owner_url, settings):
    t, space, jane = await _world(new_tenant, owner_url)
    token = await current_invitation_token(client, settings.secret(), t.tenant_id, space, jane)
    for origin in ("https://evil.example", "null"):
        refused = await client.post(f"/invitations/{token}", headers={"Origin": origin})
        assert refused.status_code == 403
        assert error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    own = await client.post(f"/invitations/{token}", headers={"Origin": "http://test"})
    assert own.status_code == 200, own.text
    assert len(await _sessions(owner_url, t.tenant_id)) == 1
