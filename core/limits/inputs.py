"""Input strings PostgreSQL cannot store, refused before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    StringValueNode,
    visit,
)
from graphql.language import Visitor


def _strings(value: Any) -> Iterator[str]:
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


class _NulFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if "\x00" in node.value:
            self.found = True
            return Visitor.BREAK
        return None


def reject_nul(document: DocumentNode, variables: dict[str, Any] | None) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: refuse it before anything runs."""
    finder = _NulFinder()
    visit(document, finder)
    if finder.found:
        raise _nul_error()
    reject_nul_variables(variables)


def reject_nul_variables(variables: dict[str, Any] | None) -> None:
    """The NUL check of the variables alone (a document's literals are checked once)."""
    if variables and any("\x00" in s for s in _strings(variables)):
        raise _nul_error()


def _nul_error() -> GraphQLError:
    return GraphQLError(
        "Strings may not contain the NUL character (U+0000).",
        extensions={"code": "BAD_USER_INPUT"},
    )
