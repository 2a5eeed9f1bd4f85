"""The compiled read path's pages: backward pages, orderBy, updatedSince and page info are
compiled and answer exactly as the resolver path does (the differential fixtures of
tests/test_compiled_reads.py)."""

from __future__ import annotations

from typing import Any

from tests.test_compiled_reads import Differ, audits, world  # noqa: F401 (fixtures)

PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $order: SpaceOrder,
      $since: DateTime) {
  spaces(first: $first, after: $after, last: $last, before: $before, orderBy: $order,
         updatedSince: $since) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id title blocks(last: 2) { edges { cursor node { id position } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }
  }
}
"""

NO_CURSORS = """
query($first: Int, $last: Int, $order: SpaceOrder) {
  spaces(first: $first, last: $last, orderBy: $order) {
    edges { node { id title } }
  }
}
"""

CONTACTS = """
query($first: Int, $last: Int, $order: ContactOrder) {
  contacts(first: $first, last: $last, orderBy: $order) {
    totalCount
    edges { node { id fullName } }
  }
}
"""


async def _cursors(api: Any, token: str) -> list[str]:
    result = await api(token).post(PAGE, {"first": 10})
    return [e["cursor"] for e in result.json()["data"]["spaces"]["edges"]]


async def test_pages_compile_and_answer_alike(app, api, world, audits):  # noqa: F811
    differ = Differ(app, api, audits)
    token = world.tokens["owner"]
    cursors = await _cursors(api, token)
    assert len(cursors) >= 4
    asks: list[dict[str, Any]] = [
        {"first": 2},
        {"first": 2, "after": cursors[1]},
        {"last": 2},
        {"last": 2, "before": cursors[3]},
        {"last": 10, "before": cursors[2]},
        {"first": 2, "before": cursors[3]},
        {"last": 1, "after": cursors[0], "before": cursors[3]},
        {"last": 0},
        {"first": 3, "order": {"field": "UPDATED_AT", "direction": "DESC"}},
        {"last": 3, "order": {"field": "CREATED_AT"}},
        {"first": 2, "since": "2000-01-01T00:00:00+00:00"},
        {"first": 2, "since": "2999-01-01T00:00:00+00:00"},
    ]
    for variables in asks:
        assert await differ.check(token, PAGE, variables), variables
    for variables in (
        {"first": 3, "order": {"field": "TITLE", "direction": "DESC"}},
        {"last": 2, "order": {"field": "TITLE"}},
    ):
        assert await differ.check(token, NO_CURSORS, variables), variables
    for principal in ("owner", "privacy_officer", "viewer"):
        for variables in (
            {"first": 3, "order": {"field": "NAME"}},
            {"last": 2, "order": {"field": "NAME", "direction": "DESC"}},
            {"last": 2},
        ):
            await differ.check(world.tokens[principal], CONTACTS, variables)
    assert differ.compiled >= len(asks) + 2


async def test_invalid_page_input_answers_alike(app, api, world, audits):  # noqa: F811
    """Odd page input gets the resolver path's answer: the compiled path answers a root
    list's own bad argument with the same error (without SQL), or leaves it to it."""
    differ = Differ(app, api, audits)
    token = world.tokens["owner"]
    cursors = await _cursors(api, token)
    for variables in (
        {"first": 2, "last": 2},
        {"last": -1},
        {"last": 10_000},
        {"last": 2, "before": "not-a-cursor"},
        {"first": 2, "after": cursors[0], "order": {"field": "UPDATED_AT"}},
        {"first": 2, "since": "2024-01-01T00:00:00"},
    ):
        await differ.check(token, PAGE, variables)  # asserts one answer


HISTORY = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  contact(id: $id) {
    consentHistory(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id purpose occurredAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def test_cursors_by_reference_compile(app, api, world, audits):  # noqa: F811
    """Consent-history cursors name the event only: its time is read in SQL, as the
    resolver path reads it."""
    differ = Differ(app, api, audits)
    contact = world.ids["Contact"][-1]  # the one with a consent event
    token = world.tokens["owner"]
    first = await api(token).post(HISTORY, {"id": contact, "first": 5})
    edges = first.json()["data"]["contact"]["consentHistory"]["edges"]
    assert edges
    cursor = edges[0]["cursor"]
    for principal in ("owner", "privacy_officer"):
        for variables in (
            {"first": 5, "after": cursor},
            {"last": 5, "before": cursor},
            {"last": 1},
        ):
            await differ.check(world.tokens[principal], HISTORY, {"id": contact, **variables})
    assert differ.compiled >= 3
