"""Input strings PostgreSQL cannot store, refused before anything runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    StringValueNode,
    visit,
)
from graphql.language import Visitor


def strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# NUL: text and jsonb cannot hold it. Lone UTF-16 surrogates (JSON "\ud800"): asyncpg
# cannot encode them as UTF-8, and the write would fail deep inside the request.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _NulFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if UNSTORABLE.search(node.value):
            self.found = True
            return Visitor.BREAK
        return None


def reject_nul(document: DocumentNode, variables: dict[str, Any] | None) -> None:
    """Refuse U+0000 and lone surrogates, which PostgreSQL cannot store, before anything runs."""
    finder = _NulFinder()
    visit(document, finder)
    if finder.found or any(UNSTORABLE.search(s) for s in strings(variables)):
        raise GraphQLError(
            "Strings may not contain the NUL character (U+0000) or a lone UTF-16 surrogate "
            "(U+D800 to U+DFFF).",
            extensions={"code": "BAD_USER_INPUT"},
        )
