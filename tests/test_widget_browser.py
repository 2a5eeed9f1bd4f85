"""The reference widget in a real browser (Debian's chromium, driven by Playwright).

A host page on another origin (http://127.0.0.1:<port>) embeds `/widget.js` from the API
(http://localhost:<another port>). Invariants:
- the blocks of a published space bound to the key render inside the widget's shadow root;
- a draft bound to the key does not show (NOT_FOUND, like a random ID);
- the same page on an origin the key does not allow (a third port) is refused by
  the browser's CORS check, and nothing renders;
- a visitor arriving from their invitation link is asked before any analytics: no usage
  event before consent, one after allowing; declining records nothing;
- a preview link shows a draft to someone without an account, marked as a preview in their
  language, on its own page and on the tenant's page (from the link's fragment, that space
  only); once revoked it shows nothing;
- in live mode the widget renders its space again when it is published, and a space bound
  to the key that was not published appears once it is.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from core.db import owner_db
from core.ids import encode_id
from microspace.commands.widget_admin import set_tenant_web
from models import Block, SpaceAccess, UsageEvent
from tests.factories import make_access, make_contacts, make_spaces, mint_key, publish
from tests.live_waits import subscribed
from tests.ports import serve
from tests.widgets import invitation_token

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Shop</title>
<style>{css}</style></head><body><main>
<h1>Our partner portal</h1>
<div id="published" data-microspace-space="{published}" style="min-height:480px"></div>
<div id="draft" data-microspace-space="{draft}" style="min-height:120px"></div>
<p id="below">Below the widgets.</p>
</main><script src="{api}/widget.js" data-key="{key}" async></script>
</body></html>"""


def _chromium() -> str:
    """Debian's chromium (.ci/run installs it; Playwright cannot download its own here)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("no system Chromium: apt-get install chromium")
    return CHROMIUM


@pytest.fixture
async def servers(app) -> AsyncIterator[dict[str, str]]:
    """The API, the host page on an allowed origin and on another: their base URLs under
    "api", "page" and "elsewhere"; "html" holds the page HTML."""
    pages: dict[str, str] = {}

    async def page(_request) -> HTMLResponse:
        return HTMLResponse(pages["html"])

    host = Starlette(routes=[Route("/page.html", page)])
    started = [await serve(app), await serve(host), await serve(host)]
    pages["api"] = f"http://localhost:{started[0][2]}"
    pages["page"] = f"http://127.0.0.1:{started[1][2]}"
    pages["elsewhere"] = f"http://127.0.0.1:{started[2][2]}"
    try:
        yield pages
    finally:
        for server, task, _port in started:
            server.should_exit = True
            await task


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _usage(owner_url, tenant_id) -> int:
    async with owner_db(owner_url, tenant_id) as db:
        return int(await db.scalar(select(func.count()).select_from(UsageEvent)))


async def _usage_recorded(owner_url, tenant_id) -> int:
    """The usage rows once the widget's own request has arrived (or after 10 s)."""
    for _ in range(100):
        if await _usage(owner_url, tenant_id):
            break
        await asyncio.sleep(0.1)
    return await _usage(owner_url, tenant_id)


async def _world(api, new_tenant, owner_url, servers):
    t = await new_tenant("Browser")
    published = (
        await make_spaces(owner_url, t.tenant_id, 1, status="published", title="Welcome pack")
    )[0]
    draft = (await make_spaces(owner_url, t.tenant_id, 1, status="draft", title="Secret draft"))[0]
    async with owner_db(owner_url, t.tenant_id) as db:
        for i, text in enumerate(["Getting started", "Your first week"]):
            db.add(
                Block(
                    id=uuid.uuid4(),
                    space_id=published,
                    kind="heading",
                    position=i,
                    body={"text": text},
                )
            )
        db.add(
            Block(
                id=uuid.uuid4(),
                space_id=draft,
                kind="heading",
                position=0,
                body={"text": "Unreleased plan"},
            )
        )
    await publish(owner_url, t.tenant_id, published)  # the blocks, as widgets see them
    ids = [encode_id("Space", s) for s in (published, draft)]
    key = await mint_key(api(t.token), "widget", [], spaceIds=ids, allowedOrigins=[servers["page"]])
    servers["html"] = HOST_PAGE.format(
        published=ids[0], draft=ids[1], api=servers["api"], key=key, lang="en", css=""
    )
    servers.update(key=key, published=ids[0], draft=ids[1])
    await set_tenant_web(owner_url, str(t.tenant_id), None, f"{servers['page']}/page.html")
    return t, published


async def test_blocks_render_and_a_draft_does_not(api, new_tenant, owner_url, servers, browser):
    await _world(api, new_tenant, owner_url, servers)
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")

    widget = page.locator("#published")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    # Playwright's locators pierce open shadow roots: the blocks are inside the widget's
    # the host page has its h1: the space's title is an h2, its headings below it
    assert await widget.locator("h2").inner_text() == "Welcome pack"
    assert await widget.locator(".block h3").all_inner_texts() == [
        "Getting started",
        "Your first week",
    ]
    assert await page.evaluate("document.querySelector('#published').shadowRoot !== null")
    assert await page.evaluate("document.body.innerText.indexOf('Getting started')") == -1

    draft = page.locator("#draft")
    await draft.and_(page.locator("[data-state=error]")).wait_for(timeout=15_000)
    assert await draft.get_attribute("data-error") == "NOT_FOUND"
    html = await page.evaluate("document.querySelector('#draft').shadowRoot.innerHTML")
    assert "Unreleased plan" not in html and "Secret draft" not in html


async def test_a_disallowed_origin_is_refused_by_the_browser(
    api, new_tenant, owner_url, servers, browser
):
    await _world(api, new_tenant, owner_url, servers)
    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    await page.goto(f"{servers['elsewhere']}/page.html")

    widget = page.locator("#published")
    await widget.and_(page.locator("[data-state=error]")).wait_for(timeout=15_000)
    # the fetch failed in the browser (no Access-Control-Allow-Origin), not in the API
    assert await widget.get_attribute("data-error") == "NETWORK"
    assert any("CORS policy" in line for line in console), console
    html = await page.evaluate("document.querySelector('#published').shadowRoot.innerHTML")
    assert "Getting started" not in html


async def _open_invitation(api, new_tenant, owner_url, servers, browser, settings, blocks=()):
    t, published = await _world(api, new_tenant, owner_url, servers)
    async with owner_db(owner_url, t.tenant_id) as db:
        for i, (kind, body) in enumerate(blocks, start=10):
            db.add(Block(id=uuid.uuid4(), space_id=published, kind=kind, position=i, body=body))
    if blocks:
        await publish(owner_url, t.tenant_id, published)
    contact = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    await make_access(owner_url, t.tenant_id, published, [contact])
    async with owner_db(owner_url, t.tenant_id) as db:
        invited_at = await db.scalar(select(SpaceAccess.invited_at))
    token = invitation_token(
        settings.secret(), t.tenant_id, published, contact, invited_at=invited_at
    )
    page = await browser.new_page()
    # the e-mail's link shows a page; its button accepts, then redirects to the widget page
    await page.goto(f"{servers['api']}/invitations/{token}")
    await page.locator("form button").click()
    await page.wait_for_url(f"{servers['page']}/page.html", timeout=15_000)
    assert page.url == f"{servers['page']}/page.html"  # the session left the address bar at once
    widget = page.locator("#published")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    await widget.locator(".consent").wait_for(timeout=15_000)
    return t, page, widget


async def test_no_usage_event_before_consent_and_one_after(
    api, new_tenant, owner_url, servers, browser, settings
):
    t, _page, widget = await _open_invitation(
        api, new_tenant, owner_url, servers, browser, settings
    )
    await asyncio.sleep(0.5)  # whatever the page would send on its own has been sent
    assert await _usage(owner_url, t.tenant_id) == 0

    await widget.locator("button[data-consent=allow]").click()
    assert await _usage_recorded(owner_url, t.tenant_id) == 1
    assert await widget.locator(".consent").count() == 0


async def test_declining_records_nothing(api, new_tenant, owner_url, servers, browser, settings):
    t, page, widget = await _open_invitation(api, new_tenant, owner_url, servers, browser, settings)
    await widget.locator("button[data-consent=decline]").click()
    await page.reload()
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    await asyncio.sleep(0.5)
    assert await widget.locator(".consent").count() == 0  # not asked again this session
    assert await _usage(owner_url, t.tenant_id) == 0


PREVIEW = """mutation($input: PreviewLinkCreateInput!) { previewLinkCreate(input: $input) {
  previewLink { id } secret userErrors { code } } }"""


async def test_a_preview_link_shows_the_draft_to_someone_without_an_account(
    api, new_tenant, owner_url, servers, browser
):
    # given a draft, which the tenant's widget does not show, and a preview link of it
    t, _published = await _world(api, new_tenant, owner_url, servers)
    made = await api(t.token)(PREVIEW, {"input": {"spaceId": servers["draft"]}})
    secret = made["data"]["previewLinkCreate"]["secret"]

    # when someone without an account opens the link (no cookie, no key of their own)
    context = await browser.new_context(locale="de-DE")
    page = await context.new_page()
    await page.goto(f"{servers['api']}/previews/{secret}")

    # then the draft shows, marked as a preview in their language
    widget = page.locator("microspace-space")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await widget.get_attribute("data-preview") == ""
    assert await widget.locator("h1").inner_text() == "Secret draft"
    assert await widget.locator(".block h2").all_inner_texts() == ["Unreleased plan"]
    assert await widget.locator("[part=preview]").inner_text() == "Vorschau: nicht veröffentlicht"

    # and on the tenant's own page, the link's fragment previews that space only
    host = await context.new_page()
    await host.goto(
        f"{servers['page']}/page.html#microspace-preview={secret}"
        f"&microspace-spaceId={servers['draft']}"
    )
    draft = host.locator("#draft")
    await draft.and_(host.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await draft.locator(".block h3").all_inner_texts() == ["Unreleased plan"]
    published = host.locator("#published")
    await published.and_(host.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await published.locator("[part=preview]").count() == 0
    assert "microspace-preview" not in host.url  # the secret left the address bar

    # once revoked, the link shows why it no longer opens, and the widget no draft
    link_id = made["data"]["previewLinkCreate"]["previewLink"]["id"]
    revoke = "mutation($id: ID!) { previewLinkRevoke(id: $id) { previewLink { id } } }"
    await api(t.token)(revoke, {"id": link_id})
    dead = await page.goto(f"{servers['api']}/previews/{secret}")
    assert dead is not None and dead.status == 410
    assert await page.locator("#refused").get_attribute("data-error") == "PREVIEW_LINK_REVOKED"
    await host.reload()
    await draft.and_(host.locator("[data-state=error]")).wait_for(timeout=15_000)
    # from another origin a dead credential's answer carries no CORS headers (as for a
    # revoked widget key): the browser refuses it, and nothing of the draft shows
    assert await draft.get_attribute("data-error") == "NETWORK"
    shown = await host.evaluate("document.querySelector('#draft').shadowRoot.innerHTML")
    assert "Unreleased plan" not in shown
    await context.close()


async def test_live_mode_renders_the_space_again_on_publish(
    app, api, new_tenant, owner_url, servers, browser
):
    # given the widget in live mode on a page of an allowed origin
    t, _published = await _world(api, new_tenant, owner_url, servers)
    servers["html"] = servers["html"].replace("async></script>", "data-live async></script>")
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")
    widget = page.locator("#published")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await widget.locator("h2").inner_text() == "Welcome pack"
    owner = api(t.token)
    space = servers["published"]
    # the socket is open and subscribed (both elements), its tenant followed, before the
    # change is made
    await subscribed(app, t.tenant_id, 2)
    # when the title is changed and the space published again
    await owner(
        'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "Welcome pack, v2"}) '
        "{ space { id } } }",
        {"id": space},
    )
    await owner("mutation($id: ID!) { spacePublish(id: $id) { space { id } } }", {"id": space})
    # then the widget shows it without the page being loaded again
    await page.wait_for_function(
        "document.querySelector('#published').shadowRoot.querySelector('h2')"
        " && document.querySelector('#published').shadowRoot.querySelector('h2')"
        ".textContent === 'Welcome pack, v2'",
        timeout=15_000,
    )
    # and the draft bound to the key, once published, appears too
    await owner(
        "mutation($id: ID!) { spacePublish(id: $id) { space { id } } }", {"id": servers["draft"]}
    )
    draft = page.locator("#draft")
    await draft.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await draft.locator("h2").inner_text() == "Secret draft"


LOCALES = """mutation { contentLocalesUpdate(input: {locales: ["en", "de"], defaultLocale: "en"}) {
  userErrors { code } } }"""
GERMAN = """mutation($id: ID!, $text: String!) { blockLocaleBodySet(input: {id: $id, locale: "de",
  content: {heading: {text: $text}}}) { userErrors { code } } }"""


@pytest.mark.parametrize(
    ("lang", "texts", "served"),
    [
        ("de-AT", ["Erste Schritte", "Your first week"], ["de", "en"]),
        ("tlh", ["Getting started", "Your first week"], ["en", "en"]),
    ],
)
async def test_the_page_language_picks_the_content_locale(
    api, new_tenant, owner_url, servers, browser, lang, texts, served
):
    # given a tenant in English and German, its first block also in German
    t, published = await _world(api, new_tenant, owner_url, servers)
    owner = api(t.token)
    assert (await owner(LOCALES))["data"]["contentLocalesUpdate"]["userErrors"] == []
    async with owner_db(owner_url, t.tenant_id) as db:
        first = await db.scalar(
            select(Block.id).where(Block.space_id == published, Block.position == 0)
        )
    result = await owner(GERMAN, {"id": encode_id("Block", first), "text": "Erste Schritte"})
    assert result["data"]["blockLocaleBodySet"]["userErrors"] == []
    await publish(owner_url, t.tenant_id, published)  # widgets read the published revision
    servers["html"] = servers["html"].replace('<html lang="en">', f'<html lang="{lang}">')

    # when an Austrian page (or one in a language the tenant lacks) shows the space
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")
    widget = page.locator("#published")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)

    # then German where there is German, else the default; each block says its language
    assert await widget.locator(".block h3").all_inner_texts() == texts
    assert [await b.get_attribute("lang") for b in await widget.locator(".block").all()] == served
