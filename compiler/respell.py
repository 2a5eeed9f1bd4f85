"""Texts that differ from a learned document only in their aliases, read without parsing.

Clients that build queries by hand send the same query with a new alias every time
(`s42: space(id: ...)`). Such a text's tokens (core/tenant_cache.py `normal_text`), with
each alias replaced by a mark, are its shape; a learned document of the same shape is copied
with the new aliases (only the nodes on the way to an alias are new). The copy is the
document the text parses to when the aliases change nothing that parsing, validation, the
limits or the cost see:
- every other token is the same: the same fields, arguments, fragments and directives, and
  as many aliases (the alias limit counts them);
- every new alias is a name;
- two response keys are equal in the new text exactly when they are in the learned one
  (fields with one response key must merge, which validation checks): a new alias equals
  another alias, or any other name in the text, exactly where the learned one did.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from graphql import DocumentNode, FieldNode, NameNode

from core.tenant_cache import digest

# punctuators, and what lies between them (`.` apart: `a...F` is a field and a spread)
TOKEN = re.compile(r"\.\.\.|[{}()\[\]:!$=@|&.]|[^ {}()\[\]:!$=@|&.]+")
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\Z")
NAMES = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
MARK = "\x00"  # never a token of a document that parsed
CLOSING = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Shape:
    key: bytes  # the tokens' hash, each alias a mark
    aliases: tuple[str, ...]  # in the order of the text
    names: frozenset[str]  # every other name token


def shape(normal: str) -> Shape | None:
    """The shape of a normalised text, or None when its brackets do not pair or an alias
    is not a name (it does not parse: the whole way says so)."""
    tokens = list(TOKEN.finditer(normal))
    # "{" of a selection set, or "(", "[" and "{" of a value (arguments, variables)
    open_: list[str] = []
    values = 0  # open brackets of values
    aliases: list[str] = []
    marked: list[str] = []  # the text with each alias a mark, everything else as it was
    end = 0
    for i, match in enumerate(tokens):
        token = match.group()
        if token in ("(", "[", "{"):
            value = token != "{" or values > 0
            values += value
            open_.append(token + "v" if value else token)
        elif token in CLOSING:
            if not open_ or open_[-1][0] != CLOSING[token]:
                return None
            values -= open_.pop().endswith("v")
        elif open_ and open_[-1] == "{" and i + 1 < len(tokens) and tokens[i + 1].group() == ":":
            if not NAME.match(token):
                return None
            aliases.append(token)
            marked += (normal[end : match.start()], MARK)
            end = match.end()
    if open_:
        return None
    marked.append(normal[end:])
    # every name-like run of the text, aliases apart (more than the names: never fewer)
    names = frozenset(NAMES.findall("".join(marked)))
    return Shape(digest("".join(marked)), tuple(aliases), names)


def same_keys(learned: Shape, new: Shape) -> bool:
    """Whether the new aliases make response keys equal exactly where the learned did."""
    onto: dict[str, str] = {}
    back: dict[str, str] = {}
    for old, alias in zip(learned.aliases, new.aliases, strict=True):
        if onto.setdefault(old, alias) != alias or back.setdefault(alias, old) != old:
            return False
        if (old in learned.names or alias in learned.names) and old != alias:
            return False
    return True


def realias(document: DocumentNode, aliases: tuple[str, ...]) -> DocumentNode | None:
    """`document` with its aliases, in the order of its text, replaced by `aliases`."""
    given = iter(aliases)
    try:
        copy = replace(document, definitions=tuple(_node(d, given) for d in document.definitions))
    except _TooFew:
        return None
    return copy if next(given, None) is None else None


class _TooFew(Exception):
    pass


def _node(node: Any, aliases: Iterator[str]) -> Any:
    changes: dict[str, Any] = {}
    if isinstance(node, FieldNode) and node.alias is not None:
        alias = next(aliases, None)
        if alias is None:
            raise _TooFew
        changes["alias"] = NameNode(value=alias)
    selection_set = getattr(node, "selection_set", None)
    if selection_set is not None:
        selections = tuple(_node(s, aliases) for s in selection_set.selections)
        changes["selection_set"] = replace(selection_set, selections=selections)
    return replace(node, **changes) if changes else node
