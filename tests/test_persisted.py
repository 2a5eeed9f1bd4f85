"""Persisted queries: Apollo's automatic protocol for members and partners, and trusted
documents registered for widgets (mutation and CLI)."""

from __future__ import annotations

import pytest

from core.ids import encode_id
from microspace.commands.tenants import OperatorError
from microspace.commands.widget_admin import register_document_cli
from tests.conftest import error_codes
from tests.factories import make_spaces, mint_key
from tests.widgets import REGISTER, by_hash, sha256

SPACES = "query Spaces { spaces(first: 5) { edges { node { id } } } }"


async def test_automatic_persisted_queries_for_members(api, client, new_tenant):
    t = await new_tenant("P")
    auth = {"Authorization": f"Bearer {t.token}"}
    digest = sha256(SPACES)

    # the hash alone: not known yet, with Apollo's message and code
    first = await client.post("/graphql", json=by_hash(digest), headers=auth)
    assert first.status_code == 200
    error = first.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    # the retry with the text registers it; from then on the hash alone runs it
    retry = await client.post("/graphql", json={"query": SPACES, **by_hash(digest)}, headers=auth)
    assert retry.json()["data"]["spaces"]["edges"] == []
    again = await client.post("/graphql", json=by_hash(digest), headers=auth)
    assert again.json() == retry.json()

    # over GET too (Apollo's useGETForHashedQueries), though GET with text is off
    params = {"extensions": f'{{"persistedQuery":{{"version":1,"sha256Hash":"{digest}"}}}}'}
    got = await client.get("/graphql", params=params, headers=auth)
    assert got.status_code == 200 and got.json() == retry.json()


async def test_partner_keys_get_the_same_protocol(api, client, new_tenant):
    t = await new_tenant("P")
    key = await mint_key(api(t.token), "partner", ["spaces:read"])
    auth = {"Authorization": f"Bearer {key}"}
    digest = sha256(SPACES)
    assert error_codes(
        (await client.post("/graphql", json=by_hash(digest), headers=auth)).json()
    ) == ["PERSISTED_QUERY_NOT_FOUND"]
    retry = await client.post("/graphql", json={"query": SPACES, **by_hash(digest)}, headers=auth)
    assert "errors" not in retry.json()


@pytest.mark.parametrize(
    ("extensions", "query", "code"),
    [
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
            None,
            "PERSISTED_QUERY_INVALID",
        ),
        ({"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}, None, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": "abc"}, None, "PERSISTED_QUERY_INVALID"),
        (
            {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
            SPACES,
            "PERSISTED_QUERY_HASH_MISMATCH",
        ),
    ],
)
async def test_bad_persisted_query_input_gets_a_clear_error(
    client, new_tenant, extensions, query, code
):
    t = await new_tenant("P")
    body = {"extensions": extensions, **({"query": query} if query else {})}
    response = await client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {t.token}"}
    )
    assert error_codes(response.json()) == [code]


async def test_owner_registers_a_trusted_document_for_widgets(api, client, new_tenant, owner_url):
    t = await new_tenant("P")
    space = encode_id(
        "Space", (await make_spaces(owner_url, t.tenant_id, 1, status="published"))[0]
    )
    key = await mint_key(api(t.token), "widget", [], spaceIds=[space], allowedOrigins=[])
    widget = {"Authorization": f"Bearer {key}"}
    digest = sha256(SPACES)
    before = await client.post("/graphql", json=by_hash(digest), headers=widget)
    assert error_codes(before.json()) == ["PERSISTED_QUERY_REQUIRED"]

    result = await api(t.token)(REGISTER, {"input": {"document": SPACES, "sha256": digest}})
    assert result["data"]["persistedDocumentRegister"]["document"] == {
        "sha256": digest,
        "trusted": True,
    }
    after = await client.post("/graphql", json=by_hash(digest), headers=widget)
    assert [e["node"]["id"] for e in after.json()["data"]["spaces"]["edges"]] == [space]


@pytest.mark.parametrize(
    ("document", "given", "code"),
    [
        ("{ nope }", None, "INVALID_DOCUMENT"),
        ("{ spaces {", None, "INVALID_DOCUMENT"),
        (SPACES, "0" * 64, "HASH_MISMATCH"),
        ("#" * 100_001, None, "TOO_LONG"),
    ],
)
async def test_registering_a_bad_document_is_a_user_error(api, new_tenant, document, given, code):
    t = await new_tenant("P")
    result = await api(t.token)(REGISTER, {"input": {"document": document, "sha256": given}})
    assert [e["code"] for e in result["data"]["persistedDocumentRegister"]["userErrors"]] == [code]


async def test_only_owners_and_admins_register(api, new_tenant, new_member):
    t = await new_tenant("P")
    editor = await new_member(t.tenant_id, "editor")
    result = await api(editor.token)(REGISTER, {"input": {"document": SPACES}})
    assert error_codes(result) == ["FORBIDDEN"]


async def test_cli_registers_a_trusted_document(api, client, new_tenant, owner_url):
    t = await new_tenant("P")
    registered = await register_document_cli(owner_url, str(t.tenant_id), SPACES)
    assert registered == {"sha256": sha256(SPACES), "trusted": True}
    key = await mint_key(api(t.token), "widget", [], spaceIds=[], allowedOrigins=[])
    ran = await client.post(
        "/graphql", json=by_hash(sha256(SPACES)), headers={"Authorization": f"Bearer {key}"}
    )
    assert ran.json()["data"]["spaces"]["edges"] == []
    with pytest.raises(OperatorError):
        await register_document_cli(owner_url, str(t.tenant_id), "{ nope }")


async def test_cli_commands_for_widgets(database_url, new_tenant, tmp_path):
    """`document-register` and `tenant-web` through the real command line."""
    import json

    from tests.test_cli import run_cli, run_cli_process

    t = await new_tenant("P")
    doc = tmp_path / "spaces.graphql"
    doc.write_text(SPACES)
    # in a new interpreter: the widget commands' smoke test as an operator runs them
    code, out, err = await run_cli_process(
        database_url, "document-register", "--tenant", str(t.tenant_id), "--file", str(doc)
    )
    assert code == 0, err
    assert json.loads(out) == {"sha256": sha256(SPACES), "trusted": True}

    code, out, err = await run_cli(
        database_url,
        "tenant-web",
        "--tenant",
        str(t.tenant_id),
        "--cors-origin",
        "https://app.example",
        "--visitor-url",
        "https://shop.example/portal",
    )
    assert code == 0, err
    assert json.loads(out) == {
        "cors_origins": ["https://app.example"],
        "visitor_url": "https://shop.example/portal",
    }
    for bad in (["--cors-origin", "https://app.example/"], ["--visitor-url", "ftp://x"]):
        code, out, err = await run_cli(
            database_url, "tenant-web", "--tenant", str(t.tenant_id), *bad
        )
        assert code == 2 and err.startswith("error: ") and out == "", (bad, err)
    doc.write_text("{ nope }")
    code, _, err = await run_cli(
        database_url, "document-register", "--tenant", str(t.tenant_id), "--file", str(doc)
    )
    assert code == 2 and "does not validate" in err


async def test_a_document_that_cannot_run_is_never_registered(client, new_tenant):
    t = await new_tenant("P")
    auth = {"Authorization": f"Bearer {t.token}"}
    bad = "{ nope }"
    digest = sha256(bad)
    retry = await client.post("/graphql", json={"query": bad, **by_hash(digest)}, headers=auth)
    assert error_codes(retry.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    again = await client.post("/graphql", json=by_hash(digest), headers=auth)
    assert error_codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
