"""Drafts in a real browser (Debian's chromium, driven by Playwright): what a client sees of a
member's edit.

Invariants:
- a widget on a shop's page shows the published revision: a draft edit does not show until the
  space is published, and shows after;
- a visitor who opened their invitation link sees the same: the edit once published only.

A widget's published read may be cached by the browser for `MICROSPACE_WIDGET_CACHE_SECONDS`
(public, with an ETag); each look below is a fresh browser context, as another visitor's.
"""

# ruff: noqa: F811 (the fixtures of tests/test_widget_browser.py, imported)
from __future__ import annotations

from sqlalchemy import select

from core.db import owner_db
from core.ids import encode_id
from models import Block
from tests.test_widget_browser import (  # noqa: F401
    _open_invitation,
    _world,
    browser,
    servers,
)

EDIT = (
    "mutation($id: ID!, $b: JSON!) { blockUpdate(input: {id: $id, body: $b}) "
    "{ userErrors { code } } }"
)
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }"


async def _headings(browser, url: str) -> list[str]:
    context = await browser.new_context()  # its own cache: nothing cached from before
    try:
        page = await context.new_page()
        await page.goto(url)
        widget = page.locator("#published")
        await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
        return list(await widget.locator(".block h3").all_inner_texts())
    finally:
        await context.close()


async def _edit_first_block(api, owner_url, t, published) -> None:
    async with owner_db(owner_url, t.tenant_id) as db:
        first = await db.scalar(
            select(Block.id).where(Block.space_id == published).order_by(Block.position)
        )
    result = await api(t.token)(
        EDIT, {"id": encode_id("Block", first), "b": {"text": "Welcome (edited)"}}
    )
    assert result["data"]["blockUpdate"]["userErrors"] == []


async def test_a_widget_shows_a_draft_edit_only_once_published(
    api, new_tenant, owner_url, servers, browser
):
    # given a widget on a shop's page showing a published space
    t, published = await _world(api, new_tenant, owner_url, servers)
    url = f"{servers['page']}/page.html"
    assert await _headings(browser, url) == ["Getting started", "Your first week"]

    # when a member edits the draft, the page does not show it
    await _edit_first_block(api, owner_url, t, published)
    assert await _headings(browser, url) == ["Getting started", "Your first week"]

    # then, once published, it does
    result = await api(t.token)(PUBLISH, {"id": encode_id("Space", published)})
    assert result["data"]["spacePublish"]["userErrors"] == []
    assert await _headings(browser, url) == ["Welcome (edited)", "Your first week"]


async def test_a_visitor_sees_a_draft_edit_only_once_published(
    api, new_tenant, owner_url, servers, browser, settings
):
    # given a visitor who opened their invitation link
    t, page, widget = await _open_invitation(api, new_tenant, owner_url, servers, browser, settings)
    assert await widget.locator(".block h3").all_inner_texts() == [
        "Getting started",
        "Your first week",
    ]
    published = await _published_space(owner_url, t)

    # when a member edits the draft, the visitor's page still shows what was published
    await _edit_first_block(api, owner_url, t, published)
    await page.reload()
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await widget.locator(".block h3").all_inner_texts() == [
        "Getting started",
        "Your first week",
    ]

    # then, once published, the visitor sees the edit
    result = await api(t.token)(PUBLISH, {"id": encode_id("Space", published)})
    assert result["data"]["spacePublish"]["userErrors"] == []
    await page.reload()
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await widget.locator(".block h3").all_inner_texts() == [
        "Welcome (edited)",
        "Your first week",
    ]


async def _published_space(owner_url, t):
    from models import Space

    async with owner_db(owner_url, t.tenant_id) as db:
        return await db.scalar(select(Space.id).where(Space.status == "published"))
