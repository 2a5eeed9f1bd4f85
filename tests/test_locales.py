"""Content locales: a tenant's locales and default, block bodies per locale, reads along the
fallback chain (docs/content.md, Locales).

Invariants:
- tags are BCP 47, kept in their conventional case; owners and admins set them, every
  member reads them; a malformed tag, a duplicate, a default not listed are refused and
  change nothing;
- a block's body in a locale is valid for its kind like its own body; a locale the tenant
  does not have is UNKNOWN_LOCALE, the default's body cannot be cleared;
- a read in `de-AT` serves each block in `de-AT`, else `de`, else the default, and says
  which in `Block.locale`; both read paths give that answer, for members and widget keys;
  a malformed `locale` is INVALID_LOCALE on both;
- a new default takes the blocks' `body`; the old default's body is kept under its tag;
- one tenant's locales never decide another's reads.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.db import owner_db
from core.ids import decode_id, encode_id
from models import Block
from store.locales import Reading, candidates, canonical, served
from tests.conftest import error_codes
from tests.factories import make_spaces, mint_key, publish
from tests.widgets import PersistedApi

LOCALES_UPDATE = """mutation($input: ContentLocalesUpdateInput!) {
  contentLocalesUpdate(input: $input) {
    contentLocales { locales defaultLocale } userErrors { code field message } } }"""
LOCALES_READ = "query { contentLocales { locales defaultLocale } }"
BODY_SET = """mutation($input: BlockLocaleBodySetInput!) { blockLocaleBodySet(input: $input) {
  block { id locale body } userErrors { code field message } } }"""
BODY_CLEAR = """mutation($input: BlockLocaleBodyClearInput!) { blockLocaleBodyClear(input: $input) {
  block { id locale body } userErrors { code field message } } }"""
SPACE_IN = """query($id: ID!, $locale: String) { space(id: $id) {
  blocks(locale: $locale) { edges { node { id locale body
    content { ... on HeadingBody { text level } } } } } } }"""
BLOCK_IN = """query($id: ID!, $locale: String) { block(id: $id, locale: $locale) {
  locale body content { __typename ... on HeadingBody { text } } } }"""
# literal locales, for tests/test_compiled_reads.py's suite (it fills only ids)
SPACES_IN_AUSTRIAN = """query { spaces(first: 5) { edges { node { id
  blocks(first: 5, locale: "de-AT") { edges { node { id locale body
    content { ... on HeadingBody { text level } } } } } } } } }"""
BLOCK_IN_FRENCH = """query($id: ID!) { block(id: $id, locale: "fr-CA") { id locale body
  content { __typename ... on HeadingBody { text } } space { title } } }"""
# a locale asked for, none of its fields read: still checked
IDS_IN = """query($id: ID!, $locale: String) { space(id: $id) {
  blocks(locale: $locale) { edges { node { id } } } } }"""
BLOCK_LOCALE_ONLY = """query($id: ID!) { block(id: $id) { locale kind } }"""


def test_tags_are_checked_and_kept_in_their_conventional_case():
    assert canonical("de") == "de"
    assert canonical("DE-at") == "de-AT"
    assert canonical("zh-hant-tw") == "zh-Hant-TW"
    assert canonical("es-419") == "es-419"
    assert canonical("sl-rozaj-biske") == "sl-rozaj-biske"
    assert canonical("en-a-bbb-x-Private") == "en-a-bbb-x-private"
    for bad in ("", "d", "de_AT", "de-", "-de", "de--at", "toolonglanguage", "de AT", "de-AT!", 7):
        assert canonical(bad) is None, bad
    assert canonical("x" * 40) is None
    assert candidates("de-CH-1996") == ["de-CH-1996", "de-CH", "de"]
    assert candidates("de-a-xyz") == ["de-a-xyz", "de"]
    assert candidates("sl-IT-rozaj-biske-1994") == [
        "sl-IT-rozaj-biske-1994",
        "sl-IT-rozaj",
        "sl-IT",
        "sl",
    ]
    reading = Reading(("de-AT", "de"), "en")
    assert served(reading, {"t": "en"}, {"de": {"t": "de"}}) == ("de", {"t": "de"})
    assert served(reading, {"t": "en"}, {"fr": {"t": "fr"}}) == ("en", {"t": "en"})
    assert served(Reading((), "en"), {"t": "en"}, {"de": {"t": "de"}}) == ("en", {"t": "en"})


async def test_owners_and_admins_set_locales_and_bad_ones_change_nothing(
    api, new_tenant, new_member
):
    t = await new_tenant("Locales")
    owner = api(t.token)
    assert (await owner(LOCALES_READ))["data"]["contentLocales"] == {
        "locales": ["en"],
        "defaultLocale": "en",
    }
    wanted = {"locales": ["EN", "de", "de-at", "fr"], "defaultLocale": "en"}
    result = await owner(LOCALES_UPDATE, {"input": wanted})
    expected = {"locales": ["en", "de", "de-AT", "fr"], "defaultLocale": "en"}
    assert result["data"]["contentLocalesUpdate"] == {"contentLocales": expected, "userErrors": []}

    refused = [
        (
            {"locales": ["en", "de_AT"], "defaultLocale": "en"},
            "INVALID_LOCALE",
            ["input", "locales", "1"],
        ),
        (
            {"locales": ["en", "EN"], "defaultLocale": "en"},
            "DUPLICATE_LOCALE",
            ["input", "locales", "1"],
        ),
        (
            {"locales": ["en", "de"], "defaultLocale": "fr"},
            "DEFAULT_NOT_LISTED",
            ["input", "defaultLocale"],
        ),
        ({"locales": ["en"], "defaultLocale": "?"}, "INVALID_LOCALE", ["input", "defaultLocale"]),
        ({"locales": [], "defaultLocale": "en"}, "DEFAULT_NOT_LISTED", ["input", "defaultLocale"]),
        (
            {"locales": [f"en-{i:03d}" for i in range(31)], "defaultLocale": "en-000"},
            "TOO_MANY",
            ["input", "locales"],
        ),
    ]
    for given, code, field in refused:
        result = await owner(LOCALES_UPDATE, {"input": given})
        errors = result["data"]["contentLocalesUpdate"]["userErrors"]
        assert (errors[0]["code"], errors[0]["field"]) == (code, field), given
    viewer = await new_member(t.tenant_id, "viewer")
    assert (await api(viewer.token)(LOCALES_READ))["data"]["contentLocales"] == expected

    admin = await new_member(t.tenant_id, "admin")
    result = await api(admin.token)(
        LOCALES_UPDATE, {"input": {"locales": ["en", "nl"], "defaultLocale": "en"}}
    )
    assert result["data"]["contentLocalesUpdate"]["userErrors"] == []
    editor = await new_member(t.tenant_id, "editor")
    result = await api(editor.token)(LOCALES_UPDATE, {"input": wanted})
    assert error_codes(result) == ["FORBIDDEN"]
    assert (await owner(LOCALES_READ))["data"]["contentLocales"]["locales"] == ["en", "nl"]


async def _tenant_with_german(api, new_tenant, owner_url, status: str = "draft"):
    t = await new_tenant("Deutsch")
    owner = api(t.token)
    wanted = {"locales": ["en", "de", "de-AT"], "defaultLocale": "en"}
    assert (await owner(LOCALES_UPDATE, {"input": wanted}))["data"]["contentLocalesUpdate"][
        "userErrors"
    ] == []
    (space,) = await make_spaces(owner_url, t.tenant_id, 1, blocks_each=3, status=status)
    async with owner_db(owner_url, t.tenant_id) as db:
        rows = await db.scalars(
            select(Block.id).where(Block.space_id == space).order_by(Block.position)
        )
        blocks = [encode_id("Block", b) for b in rows]
    for block, locale, text in [
        (blocks[0], "de", "Hallo"),
        (blocks[1], "de-AT", "Servus"),
        (blocks[1], "de", "Guten Tag"),
    ]:
        given = {"id": block, "locale": locale, "content": {"heading": {"text": text}}}
        result = await owner(BODY_SET, {"input": given})
        assert result["data"]["blockLocaleBodySet"]["userErrors"] == [], result
        assert result["data"]["blockLocaleBodySet"]["block"]["locale"] == locale
    if status == "published":
        await publish(owner_url, t.tenant_id, space)  # the revision holds every locale
    return t, encode_id("Space", space), blocks


async def test_reads_fall_back_along_the_chain_on_both_paths(
    api, new_tenant, owner_url, read_path, served_app
):
    t, space, blocks = await _tenant_with_german(api, new_tenant, owner_url)
    owner = api(t.token)
    reads = served_app.state.compiled_reads

    async def read(locale):
        before = reads.compiled
        result = await owner(SPACE_IN, {"id": space, "locale": locale})
        assert "errors" not in result, result
        # the compiled path answers it (not left to the resolvers)
        assert reads.compiled == before + (read_path == "compiled")
        return [
            (e["node"]["locale"], e["node"]["body"]["text"], e["node"]["content"]["text"])
            for e in result["data"]["space"]["blocks"]["edges"]
        ]

    assert await read("de-AT") == [
        ("de", "Hallo", "Hallo"),
        ("de-AT", "Servus", "Servus"),
        ("en", "Block 2", "Block 2"),
    ]
    assert await read("de") == [
        ("de", "Hallo", "Hallo"),
        ("de", "Guten Tag", "Guten Tag"),
        ("en", "Block 2", "Block 2"),
    ]
    assert await read("DE-ch") == await read("de")
    english = [
        ("en", "Block 0", "Block 0"),
        ("en", "Block 1", "Block 1"),
        ("en", "Block 2", "Block 2"),
    ]
    assert await read("fr") == english  # a language the tenant lacks: the default
    assert await read(None) == english
    result = await owner(BLOCK_IN, {"id": blocks[1], "locale": "de-AT-1996"})
    assert result["data"]["block"] == {
        "locale": "de-AT",
        "body": {"text": "Servus", "level": 2},
        "content": {"__typename": "HeadingBody", "text": "Servus"},
    }
    result = await owner(IDS_IN, {"id": space, "locale": "de"})
    assert len(result["data"]["space"]["blocks"]["edges"]) == 3
    for bad in ("de_AT", "", "x" * 50, "de-AT;"):
        result = await owner(SPACE_IN, {"id": space, "locale": bad})
        assert error_codes(result) == ["INVALID_LOCALE"], bad
        result = await owner(IDS_IN, {"id": space, "locale": bad})
        assert error_codes(result) == ["INVALID_LOCALE"], bad
        result = await owner(BLOCK_IN, {"id": blocks[0], "locale": bad})
        assert error_codes(result) == ["INVALID_LOCALE"], bad


async def test_block_bodies_per_locale_are_checked(api, new_tenant, owner_url):
    t, _space, blocks = await _tenant_with_german(api, new_tenant, owner_url)
    owner = api(t.token)

    async def set_body(locale, content, block=blocks[2]):
        result = await owner(
            BODY_SET, {"input": {"id": block, "locale": locale, "content": content}}
        )
        return result["data"]["blockLocaleBodySet"] if result.get("data") else result

    refused = await set_body("fr", {"heading": {"text": "Bonjour"}})
    assert refused["userErrors"][0]["code"] == "UNKNOWN_LOCALE"
    assert refused["userErrors"][0]["field"] == ["locale"]
    refused = await set_body("de", {"link": {"url": "https://e.com"}})
    assert refused["userErrors"][0]["code"] == "CONTENT_CONFLICT"
    refused = await set_body("de", {"heading": {"text": "x" * 301}})
    assert refused["userErrors"][0]["code"] == "INVALID_BODY"
    assert refused["userErrors"][0]["field"] == ["content", "heading", "text"]
    missing = await set_body("de", {"heading": {"text": "Hallo"}}, encode_id("Block", uuid.uuid4()))
    assert error_codes(missing) == ["NOT_FOUND"]
    # the default locale's body is the block's own
    done = await set_body("EN", {"heading": {"text": "Hello", "level": 3}})
    assert done["userErrors"] == [] and done["block"]["body"] == {"text": "Hello", "level": 3}
    cleared = await owner(BODY_CLEAR, {"input": {"id": blocks[0], "locale": "en"}})
    assert cleared["data"]["blockLocaleBodyClear"]["userErrors"][0]["code"] == "DEFAULT_LOCALE"
    cleared = await owner(BODY_CLEAR, {"input": {"id": blocks[0], "locale": "de"}})
    assert cleared["data"]["blockLocaleBodyClear"] == {
        "block": {"id": blocks[0], "locale": "en", "body": {"text": "Block 0", "level": 2}},
        "userErrors": [],
    }
    result = await owner(BLOCK_IN, {"id": blocks[0], "locale": "de"})
    assert result["data"]["block"]["locale"] == "en"
    async with owner_db(owner_url, t.tenant_id) as db:
        stored = {str(b.id): b.bodies for b in await db.scalars(select(Block))}
    assert list(stored.values()).count({}) == 2  # nothing else was stored

    viewer = await api(t.token)(LOCALES_READ)
    assert viewer["data"]["contentLocales"]["locales"] == ["en", "de", "de-AT"]


async def test_a_new_default_takes_the_blocks_body(api, new_tenant, owner_url, read_path):
    t, space, _blocks = await _tenant_with_german(api, new_tenant, owner_url)
    owner = api(t.token)
    result = await owner(
        LOCALES_UPDATE, {"input": {"locales": ["en", "de", "de-AT"], "defaultLocale": "de"}}
    )
    assert result["data"]["contentLocalesUpdate"]["userErrors"] == []

    async def read(locale):
        result = await owner(SPACE_IN, {"id": space, "locale": locale})
        return [
            (e["node"]["locale"], e["node"]["body"]["text"])
            for e in result["data"]["space"]["blocks"]["edges"]
        ]

    assert await read(None) == [("de", "Hallo"), ("de", "Guten Tag"), ("de", "Block 2")]
    assert await read("en") == [("en", "Block 0"), ("en", "Block 1"), ("en", "Block 2")]
    assert await read("de-AT") == [("de", "Hallo"), ("de-AT", "Servus"), ("de", "Block 2")]
    # dropping locales drops the drafts' bodies in them
    result = await owner(LOCALES_UPDATE, {"input": {"locales": ["de"], "defaultLocale": "de"}})
    assert result["data"]["contentLocalesUpdate"]["userErrors"] == []
    assert await read("en") == [("de", "Hallo"), ("de", "Guten Tag"), ("de", "Block 2")]
    assert await read("de-AT") == [("de", "Hallo"), ("de", "Guten Tag"), ("de", "Block 2")]
    async with owner_db(owner_url, t.tenant_id) as db:
        assert [b.bodies for b in await db.scalars(select(Block))] == [{}, {}, {}]


async def test_widget_keys_read_locales_and_tenants_stay_apart(
    api, client, new_tenant, owner_url, read_path
):
    t, space, blocks = await _tenant_with_german(api, new_tenant, owner_url, status="published")
    other = await new_tenant("Anders")
    # the other tenant has German as its default: it must not decide this tenant's reads
    await api(other.token)(LOCALES_UPDATE, {"input": {"locales": ["de"], "defaultLocale": "de"}})
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=[space], allowedOrigins=["https://a.example"]
    )
    widget = PersistedApi(client, key, api(t.token))
    result = await widget(SPACE_IN, {"id": space, "locale": "de-AT"})
    got = [
        (e["node"]["locale"], e["node"]["body"]["text"])
        for e in result["data"]["space"]["blocks"]["edges"]
    ]
    assert got == [("de", "Hallo"), ("de-AT", "Servus"), ("en", "Block 2")]
    result = await widget(SPACE_IN, {"id": space, "locale": "tlh"})
    got = [e["node"]["locale"] for e in result["data"]["space"]["blocks"]["edges"]]
    assert got == ["en", "en", "en"]
    # another tenant's member reads none of it
    result = await api(other.token)(BLOCK_IN, {"id": blocks[1], "locale": "de"})
    assert result["data"]["block"] is None and error_codes(result) == ["NOT_FOUND"]
    # and its blocks are served in its own default
    (theirs,) = await make_spaces(owner_url, other.tenant_id, 1, blocks_each=1)
    result = await api(other.token)(SPACE_IN, {"id": encode_id("Space", theirs), "locale": "en"})
    assert [e["node"]["locale"] for e in result["data"]["space"]["blocks"]["edges"]] == ["de"]


@pytest.mark.parametrize("query", [BLOCK_LOCALE_ONLY])
async def test_a_block_without_a_locale_asked_is_in_the_default(
    api, new_tenant, owner_url, read_path, query
):
    t, _space, blocks = await _tenant_with_german(api, new_tenant, owner_url)
    result = await api(t.token)(query, {"id": blocks[0]})
    assert result["data"]["block"] == {"locale": "en", "kind": "HEADING"}


async def test_a_locales_body_names_only_the_tenants_files(api, client, new_tenant):
    from tests.test_asset_blocks import ADD, SPACE, _upload
    from tests.test_files import PDF, PNG

    mine, theirs = await new_tenant("Mine"), await new_tenant("Theirs")
    owner = api(mine.token)
    await owner(LOCALES_UPDATE, {"input": {"locales": ["en", "de"], "defaultLocale": "en"}})
    photo = await _upload(client, mine.token, PNG, "foto.png")
    contract = await _upload(client, mine.token, PDF, "vertrag.pdf")
    foreign = await _upload(client, theirs.token, PNG, "theirs.png")
    space = (await owner(SPACE, {"t": "Bilder"}))["data"]["spaceCreate"]["space"]["id"]
    content = {"image": {"assetId": photo["id"], "alt": "The team"}}
    added = await owner(ADD, {"input": {"spaceId": space, "content": content}})
    block = added["data"]["blockAdd"]["block"]["id"]

    async def german(image):
        given = {"id": block, "locale": "de", "content": {"image": image}}
        return (await owner(BODY_SET, {"input": given}))["data"]["blockLocaleBodySet"]

    for asset, code in [(foreign, "ASSET_NOT_FOUND"), (contract, "ASSET_KIND_MISMATCH")]:
        refused = await german({"assetId": asset["id"], "alt": "Das Team"})
        assert refused["userErrors"][0]["code"] == code
        assert refused["userErrors"][0]["field"] == ["content", "image", "assetId"]
    refused = await german({"assetId": photo["id"]})
    assert refused["userErrors"][0]["code"] == "ALT_TEXT_REQUIRED"
    done = await german({"assetId": photo["id"], "alt": "Das Team"})
    assert done["userErrors"] == [] and done["block"]["locale"] == "de"


async def test_merge_fields_in_a_locales_body_are_checked_and_filled_in(
    api, client, new_tenant, owner_url, read_path
):
    t, space, blocks = await _tenant_with_german(api, new_tenant, owner_url, status="published")
    owner = api(t.token)
    bad = {"id": blocks[2], "locale": "de", "content": {"heading": {"text": "Hallo {{kunde}}"}}}
    refused = (await owner(BODY_SET, {"input": bad}))["data"]["blockLocaleBodySet"]
    assert refused["userErrors"][0]["code"] == "INVALID_MERGE_FIELD"
    good = {**bad, "content": {"heading": {"text": "Hallo {{contact.firstName | du}}"}}}
    assert (await owner(BODY_SET, {"input": good}))["data"]["blockLocaleBodySet"][
        "userErrors"
    ] == []
    await publish(owner_url, t.tenant_id, space)
    key = await mint_key(
        owner, "widget", [], spaceIds=[space], allowedOrigins=["https://a.example"]
    )
    widget = PersistedApi(client, key, owner)
    result = await widget(SPACE_IN, {"id": space, "locale": "de"})
    got = [e["node"] for e in result["data"]["space"]["blocks"]["edges"]][2]
    # a widget speaks for no contact: the fallback, in the body and the typed content
    assert (got["locale"], got["body"]["text"], got["content"]["text"]) == (
        "de",
        "Hallo du",
        "Hallo du",
    )
    async with owner_db(owner_url, t.tenant_id) as db:
        stored = await db.scalar(
            select(Block.bodies).where(Block.id == decode_id(blocks[2], "Block"))
        )
    assert stored["de"]["text"] == "Hallo {{contact.firstName | du}}"


async def test_personalised_spaces_take_every_locale_of_their_template(
    api, app_engine, new_tenant, owner_url, read_path
):
    from tests.test_templates import _contacts, _template, personalised

    t = await new_tenant("Vorlage")
    owner = api(t.token)
    await owner(LOCALES_UPDATE, {"input": {"locales": ["en", "de"], "defaultLocale": "en"}})
    template = await _template(owner)
    first = (await owner(SPACE_IN, {"id": template}))["data"]["space"]["blocks"]["edges"][0]
    german = {"heading": {"text": "Willkommen {{contact.firstName | du}}!"}}
    given = {"id": first["node"]["id"], "locale": "de", "content": german}
    assert (await owner(BODY_SET, {"input": given}))["data"]["blockLocaleBodySet"][
        "userErrors"
    ] == []
    contacts = await _contacts(owner_url, t.tenant_id, 1)
    ids = [encode_id("Contact", c) for c in contacts]
    made = await personalised(owner, app_engine, {"templateId": template, "contactIds": ids})
    assert made["state"] == "COMPLETED"
    async with owner_db(owner_url, t.tenant_id) as db:
        copied = await db.scalar(
            select(Block.bodies).where(
                Block.template_block_id == decode_id(first["node"]["id"], "Block")
            )
        )
    assert copied == {"de": {"text": "Willkommen {{contact.firstName | du}}!", "level": 2}}


async def test_the_published_revision_holds_every_locale(
    api, client, new_tenant, owner_url, read_path
):
    t, space, blocks = await _tenant_with_german(api, new_tenant, owner_url, status="published")
    owner = api(t.token)
    key = await mint_key(
        owner, "widget", [], spaceIds=[space], allowedOrigins=["https://a.example"]
    )
    widget = PersistedApi(client, key, owner)

    async def shown():
        result = await widget(SPACE_IN, {"id": space, "locale": "de"})
        return [e["node"]["body"]["text"] for e in result["data"]["space"]["blocks"]["edges"]]

    assert await shown() == ["Hallo", "Guten Tag", "Block 2"]
    # a draft's German edit is not shown until published; the space says it changed
    given = {"id": blocks[0], "locale": "de", "content": {"heading": {"text": "Hallo neu"}}}
    assert (await owner(BODY_SET, {"input": given}))["data"]["blockLocaleBodySet"][
        "userErrors"
    ] == []
    assert await shown() == ["Hallo", "Guten Tag", "Block 2"]
    state = await owner("query($id: ID!) { space(id: $id) { state } }", {"id": space})
    assert state["data"]["space"]["state"] == "CHANGED"
    published = await owner(
        "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }", {"id": space}
    )
    assert published["data"]["spacePublish"]["userErrors"] == []
    assert await shown() == ["Hallo neu", "Guten Tag", "Block 2"]


REVISION_IN = """query($id: ID!, $n: Int!, $locale: String) { space(id: $id) {
  revision(number: $n) { number blocks(locale: $locale) { edges { node { id locale body
    content { ... on HeadingBody { text } } } } } } } }"""


async def test_a_revisions_blocks_read_in_a_locale(api, new_tenant, owner_url, read_path):
    # given revision 1 with German and Austrian bodies, then a German edit published as 2
    t, space, blocks = await _tenant_with_german(api, new_tenant, owner_url)
    owner = api(t.token)
    publish = "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }"
    assert (await owner(publish, {"id": space}))["data"]["spacePublish"]["userErrors"] == []
    given = {"id": blocks[0], "locale": "de", "content": {"heading": {"text": "Hallo neu"}}}
    assert (await owner(BODY_SET, {"input": given}))["data"]["blockLocaleBodySet"][
        "userErrors"
    ] == []
    assert (await owner(publish, {"id": space}))["data"]["spacePublish"]["userErrors"] == []

    async def read(n, locale):
        result = await owner(REVISION_IN, {"id": space, "n": n, "locale": locale})
        assert "errors" not in result, result
        edges = result["data"]["space"]["revision"]["blocks"]["edges"]
        texts = [(e["node"]["locale"], e["node"]["body"]["text"]) for e in edges]
        assert [t for _, t in texts] == [e["node"]["content"]["text"] for e in edges]
        return texts

    # then each revision answers in the chain's first locale it holds, as it was then
    assert await read(1, "de-AT-1996") == [
        ("de", "Hallo"),
        ("de-AT", "Servus"),
        ("en", "Block 2"),
    ]
    assert await read(2, "de-AT") == [
        ("de", "Hallo neu"),
        ("de-AT", "Servus"),
        ("en", "Block 2"),
    ]
    english = [("en", "Block 0"), ("en", "Block 1"), ("en", "Block 2")]
    assert await read(1, "fr") == english  # a language the tenant lacks: the default
    assert await read(1, None) == english
    # a malformed tag is the error Space.blocks(locale:) gives, at the field
    for bad in ("de_AT", "", "de-AT;"):
        result = await owner(REVISION_IN, {"id": space, "n": 1, "locale": bad})
        assert error_codes(result) == ["INVALID_LOCALE"], bad
        assert result["errors"][0]["path"] == ["space", "revision", "blocks"]
        assert result["data"]["space"]["revision"] is None
