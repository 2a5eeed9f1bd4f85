"""Unexpected failures are masked; expected ones keep their message and code.

Invariants:
- a resolver that raises something unexpected yields only a generic message and the
  request id (the one in `X-Request-ID`), never the exception text, SQL or a path;
- the server log has the full trace under that request id;
- the request's transaction is rolled back.
"""

from __future__ import annotations

import logging
import uuid

from core.ids import encode_id
from schema.spaces import Space
from tests.conftest import error_codes
from tests.factories import make_contacts, make_spaces

SECRET = "boom: SELECT password FROM members WHERE host='db.internal' /srv/app/secret.py"


async def test_unexpected_exception_is_masked_and_logged(
    app, client, new_tenant, owner_url, monkeypatch, caplog
):
    tenant = await new_tenant()
    # the failure is planted in a resolver: this request takes the resolver path
    monkeypatch.setattr(app.state.compiled_reads, "enabled", False)
    await make_spaces(owner_url, tenant.tenant_id, 1)

    def explode(cls, row):
        raise RuntimeError(SECRET)

    # given a resolver that fails unexpectedly (test-only, no debug field in the schema)
    monkeypatch.setattr(Space, "from_model", classmethod(explode))
    caplog.set_level(logging.ERROR, logger="microspace")
    # when
    response = await client.post(
        "/graphql",
        json={"query": "{ spaces { edges { node { title } } } }"},
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    # then the client sees a generic message and the request id, nothing else
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert request_id in error["message"]
    for leak in ("boom", "SELECT", "db.internal", ".py", "RuntimeError", "Traceback"):
        assert leak not in response.text
    # and the log has the trace under the same request id
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert SECRET in caplog.text and "Traceback" in caplog.text and "explode" in caplog.text


async def test_expected_errors_keep_message_and_code(api):
    result = await api(None)("{ spaces { totalCount } }")
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert "bearer token" in result["errors"][0]["message"]


async def test_failing_sibling_field_does_not_turn_into_a_500(api, new_tenant, owner_url):
    # a non-null root field fails while a sibling's statement is in flight: graphql-core
    # cancels the sibling mid-statement; the request must roll back and answer the error
    tenant = await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, 2, blocks_each=2)
    missing = encode_id("WebhookSubscription", uuid.uuid4())
    # (a connection filtered by a missing ID is non-null; every lookup by ID is nullable,
    # see the next test)
    query = """query($id: ID!) { viewer { tenantId } spaces { edges { node { blocks { totalCount } } } }
        webhookDeliveries(subscriptionId: $id) { totalCount } }"""
    for _ in range(5):
        result = await api(tenant.token)(query, {"id": missing})
        assert result["data"] is None and error_codes(result) == ["NOT_FOUND"]
    assert error_codes(await api(tenant.token)("{ spaces { totalCount } }")) == []


async def test_bad_argument_beside_a_lookup_in_flight_is_the_argument_error(
    app, api, new_tenant, owner_url, monkeypatch
):
    # the failing root refuses its arguments before any SQL, while the sibling lookup's
    # statement is in flight: the request completes before the cancelled statement has
    # unwound, and used to commit a transaction that statement had invalidated (a 500)
    monkeypatch.setattr(app.state.compiled_reads, "enabled", False)
    tenant = await new_tenant()
    contact = encode_id("Contact", (await make_contacts(owner_url, tenant.tenant_id, 1))[0])
    query = """query($id: ID!) { contact(id: $id) { locale }
        contacts(first: 0, last: 0, orderBy: {field: CREATED_AT, direction: ASC}) { totalCount } }"""
    for _ in range(5):
        result = await api(tenant.token)(query, {"id": contact})
        assert result["data"] is None and error_codes(result) == ["BAD_USER_INPUT"]
    assert error_codes(await api(tenant.token)("{ contacts { totalCount } }")) == []


async def test_missing_lookup_is_null_and_siblings_survive(api, new_tenant, owner_url):
    # the Relay convention: a nullable lookup answers null plus NOT_FOUND at its own path
    tenant, other = await new_tenant(), await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, 2, blocks_each=2)
    from core.ids import encode_id

    foreign = encode_id("Space", (await make_spaces(owner_url, other.tenant_id, 1))[0])
    query = """query($id: ID!) { viewer { tenantId } spaces { edges { node { blocks { totalCount } } } }
        node(id: $id) { id } space(id: $id) { id } }"""
    for _ in range(5):
        result = await api(tenant.token)(query, {"id": foreign})
        assert error_codes(result) == ["NOT_FOUND", "NOT_FOUND"]
        assert sorted(e["path"] for e in result["errors"]) == [["node"], ["space"]]
        data = result["data"]
        assert data["node"] is None and data["space"] is None
        assert data["viewer"]["tenantId"] == encode_id("Tenant", tenant.tenant_id)
        assert [e["node"]["blocks"]["totalCount"] for e in data["spaces"]["edges"]] == [2, 2]
