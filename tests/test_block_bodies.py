"""`valid_bodies` (one pass over every block kind, used by `blockUpdate`) names exactly the
kinds whose own validation accepts a body, with the same normalised value."""

from __future__ import annotations

from typing import Any

import pytest

from store.block_bodies import BODIES, BodyError, valid_bodies, validate_body

BODY_SAMPLES: list[Any] = [
    {"text": "Hello"},
    {"text": "Hello", "level": 3},
    {"text": "Hello", "format": "plain"},
    {"text": "Hello", "level": 9},
    {"url": "https://example.com/a"},
    {"url": "https://example.com/a", "label": "A"},
    {"url": "https://example.com/a.pdf", "name": "a.pdf", "sizeBytes": 10},
    {"url": "https://example.com/a.pdf", "name": "a.pdf", "size_bytes": 10},
    {"url": "ftp://example.com/a"},
    {"url": "https://example.com/v", "caption": "V", "height": 100},
    {"items": [{"text": "one"}, {"text": "two", "checked": True}]},
    {"items": []},
    {"assetId": "8d1f7c2e-4b1a-4e0f-9a43-2f5d6c7b8a90", "alt": "A"},
    {"assetId": "not a uuid"},
    {"items": [{"assetId": "8d1f7c2e-4b1a-4e0f-9a43-2f5d6c7b8a90", "caption": "C"}]},
    {"items": [{"assetId": "8d1f7c2e-4b1a-4e0f-9a43-2f5d6c7b8a90", "text": "T"}]},
    {"text": "Hello", "unknown": 1},
    # merge fields: checked per kind only when the given body holds a `{{`
    {"text": "Hi {{contact.firstName}}"},
    {"text": "Hi {{contact.nope}}"},
    {"text": "Hi {{contact.firstName"},
    {"url": "https://example.com/{{contact.id}}", "label": "{{contact.firstName}}"},
    {"items": [{"text": "{{contact.firstName}}"}, {"text": "{{ oops }}"}]},
    {"text": "Hello", "level": 2**70},  # not JSON orjson writes: each kind's check tells
    {},
    {"text": ""},
    {"text": 5},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("body", BODY_SAMPLES)
def test_valid_bodies_equal_each_kinds_own_validation(body: Any) -> None:
    expected = {}
    for kind in BODIES:
        try:
            expected[kind] = validate_body(kind, body)
        except BodyError:
            pass
    assert valid_bodies(body) == expected


def test_the_samples_reach_every_kind() -> None:
    reached = {kind for body in BODY_SAMPLES for kind in valid_bodies(body)}
    assert reached == set(BODIES)


def test_a_body_updates_event_is_its_own_blocks_and_actors() -> None:
    """`update_values` keeps an update's event text by (block, actor) (store/blocks.py
    `_updated`): each is still the event of that very block and actor."""
    import uuid

    from store.blocks import update_values
    from store.events import event_payload

    first, second = uuid.uuid4(), uuid.uuid4()
    for block in (first, second, first, second):
        for actor in ("member", "partner", "member"):
            values = update_values(block, {"text": "x"}, actor)
            assert values is not None
            assert values[-1] == event_payload("block.updated", block, ["body"], actor)
