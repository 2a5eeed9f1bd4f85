"""Error texts a client shows its users are plain sentences, through HTTP.

Invariants guarded here:
- a malformed ID names the type it should have been in words ("not an API key ID"), never
  a type name glued into a sentence ("not a ApiKey ID");
- a mutation refused for several reasons gives one typed user error per reason, each one
  sentence naming its field, never messages joined with "; ";
- a user error's message is a sentence, not a field name followed by an error code.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.ids import invalid_id, type_words

KEY_CREATE = """mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) {
  apiKey { id } userErrors { code field message } } }"""
PROFILE = """mutation($input: MemberProfileUpdateInput!) { memberProfileUpdate(input: $input) {
  userErrors { code field message } } }"""
# a sentence: a capital (or a field name) first, a full stop last, no glued-on code or list
SENTENCE = re.compile(r"^[A-Za-z][^;]*[.]$")


def _plain(message: str) -> bool:
    return bool(SENTENCE.match(message)) and not re.search(r": [a-z]+_[a-z_]+\.?$", message)


@pytest.mark.parametrize(
    ("type_name", "words"),
    [
        ("ApiKey", "an API key ID"),
        ("WebhookSubscription", "a webhook subscription ID"),
        ("AuditEntry", "an audit entry ID"),
        ("Space", "a space ID"),
    ],
)
def test_an_invalid_id_names_its_type_in_words(type_name: str, words: str) -> None:
    assert str(invalid_id(type_name)) == f"The ID given is not {words}."
    assert type_words(type_name) in words


async def test_a_malformed_id_says_which_type_it_should_name(api, new_tenant, read_path) -> None:
    tenant = await new_tenant()
    result = await api(tenant.token)('{ apiKey(id: "k") { id } space(id: "s") { id } }')
    messages = {e["path"][0]: e["message"] for e in result["errors"]}
    assert messages == {
        "apiKey": "The ID given is not an API key ID.",
        "space": "The ID given is not a space ID.",
    }


async def test_a_key_refused_for_two_reasons_gets_two_sentences(api, new_tenant) -> None:
    # given a partner key with no scope and an expiry in the past
    tenant = await new_tenant()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    input_ = {"kind": "PARTNER", "name": "sync", "scopes": [], "expiresAt": past}
    # when it is created
    payload = (await api(tenant.token)(KEY_CREATE, {"input": input_}))["data"]["apiKeyCreate"]
    # then each problem is its own error, on its own field, in its own sentence
    assert payload["apiKey"] is None
    errors = payload["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("REQUIRED", ["scopes"]),
        ("INVALID_EXPIRY", ["expiresAt"]),
    ]
    assert all(_plain(e["message"]) for e in errors), errors


async def test_a_too_long_key_name_is_told_in_a_sentence(api, new_tenant) -> None:
    tenant = await new_tenant()
    input_ = {"kind": "PARTNER", "name": "k" * 201, "scopes": ["contacts:read"]}
    payload = (await api(tenant.token)(KEY_CREATE, {"input": input_}))["data"]["apiKeyCreate"]
    assert [e["message"] for e in payload["userErrors"]] == [
        "The name may be at most 200 printable characters."
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fullName", "x" * 201, "fullName may be at most 200 characters."),
        ("company", "a\u0007b", "company may not hold control characters."),
    ],
)
async def test_profile_errors_are_sentences(api, new_tenant, field, value, message) -> None:
    tenant = await new_tenant()
    result = await api(tenant.token)(PROFILE, {"input": {field: value}})
    errors = result["data"]["memberProfileUpdate"]["userErrors"]
    assert [(e["field"], e["message"]) for e in errors] == [([field], message)]
    assert _plain(message)
