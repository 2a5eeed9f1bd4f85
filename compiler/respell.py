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

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLID,
    GraphQLInputType,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    IntValueNode,
    NameNode,
    Node,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    Visitor,
    visit,
)
from graphql.utilities import validate_input_literal, value_from_ast

from core.tenant_cache import digest

# a text's runs: strings without escapes, comments, ignored characters, punctuators (`.`
# apart: `a...F` is a field and a spread), names and numbers; what is left (a quote that
# opens no such string, a backslash) is a lone `"` or `\\`, and the text has no shape
LEX = re.compile(
    r'"[^"\\\x00-\x08\x0a-\x1f\ud800-\udfff]*"|#[^\n\r]*|[ \t\n\r,\ufeff]+'
    r"|\.\.\.|[{}()\[\]:!$=@|&.]"
    r'|[^ \t\n\r,\ufeff{}()\[\]:!$=@|&.#"\\]+|.',
    re.DOTALL,
)
IGNORED = frozenset(" \t\n\r,\ufeff#")  # how ignored runs and comments start
NUMBER = frozenset("-0123456789")
INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\Z")
NAMES = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
PUNCTUATORS = frozenset("{}()[]:!$=@|&")  # white space beside them is no token
MARK = "\x00"  # never a token of a document that parsed
INT_MARK, STRING_MARK = "\x01", "\x02"
CLOSING = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Shape:
    key: bytes  # the tokens' hash, each alias and literal a mark
    aliases: tuple[str, ...]  # in the order of the text
    names: frozenset[str]  # every other name token
    # the Int and String literals in the order of the text, as written ("…" for a string)
    literals: tuple[str, ...] = ()
    # aliases and literals in the order of the text: "a" an alias, "l" a literal
    order: str = ""
    comments: int = 0


def shape(text: str) -> Shape | None:
    """The shape of a text, or None when its brackets do not pair, an alias is not a name,
    or it holds what the shape does not read (an escape in a string, a block string: the
    whole way reads it)."""
    if '"""' in text:
        return None  # a block string, which LEX would read as three strings
    # one pass over the text's runs: a new alias's text is read on every request
    marked: list[str] = []  # the tokens, every alias and literal a mark
    spaced = False  # ignored characters or a comment before the next token
    comments = 0
    open_: list[str] = []  # "{" of a selection set, or "(", "[" and "{" of a value
    values = 0  # open brackets of values
    aliases: list[str] = []
    literals: list[str] = []
    order: list[str] = []  # "a" an alias, "l" a string, "i" an Int
    ints: list[tuple[int, str]] = []  # where the Ints are in `marked`, as written
    floats = False  # a `.` (in `1.5`): numbers are kept as written, Ints with them
    previous = ""  # the token before, as written
    for token in LEX.findall(text):
        first = token[0]
        if first in IGNORED:
            spaced = True
            comments += first == "#"
            continue
        if token in PUNCTUATORS:
            if token == "{":
                open_.append("{v" if values else "{")
                values += values > 0
            elif token == "(" or token == "[":
                open_.append(token)
                values += 1
            elif token in CLOSING:
                if not open_ or open_[-1][0] != CLOSING[token]:
                    return None
                values -= open_.pop() != "{"
            elif (
                token == ":"
                and open_[-1:] == ["{"]
                and previous not in PUNCTUATORS
                and marked[-1] == previous  # not a literal
            ):
                # the name before a `:` in a selection set is an alias
                if not NAME.match(previous):
                    return None
                aliases.append(previous)
                order.append("a")
                marked[-1] = MARK
            marked.append(token)
        else:
            if spaced and marked and previous not in PUNCTUATORS:
                marked.append(" ")
            if first == '"':
                if token == '"':
                    return None
                literals.append(token)
                order.append("l")
                marked.append(STRING_MARK)
            elif first in NUMBER and INT.match(token):
                ints.append((len(marked), token))
                literals.append(token)
                order.append("i")
                marked.append(INT_MARK)
            else:
                if token == "\\":
                    return None
                floats = floats or token == "."
                marked.append(token)
        spaced = False
        previous = token
    if open_:
        return None
    if floats:
        for at, token in ints:
            marked[at] = token
        written = [kind for kind in order if kind != "a"]
        literals = [literal for literal, kind in zip(literals, written, strict=True) if kind == "l"]
        order = [kind for kind in order if kind != "i"]
    # every name-like run of the text, aliases and literals apart (more than the names)
    key_text = "".join(marked)
    names = frozenset(NAMES.findall(key_text))
    kinds = "".join(order).replace("i", "l")
    return Shape(digest(key_text), tuple(aliases), names, tuple(literals), kinds, comments)


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


def same_literals(learned: Shape, new: Shape, slots: Slots) -> bool:
    """Whether the new literals are equal exactly where the learned were (fields under one
    response key must have equal arguments, which validation checks), and a literal whose
    type is not known (a directive's argument) is as learned."""
    onto: dict[str, str] = {}
    back: dict[str, str] = {}
    for old, literal, type_ in zip(learned.literals, new.literals, slots.types, strict=True):
        if onto.setdefault(old, literal) != literal or back.setdefault(literal, old) != old:
            return False
        if type_ is None and old != literal:
            return False
    return True


@dataclass(frozen=True)
class Slots:
    """Where a learned document's aliases and literals are, for copies with new ones."""

    nodes: tuple[Any, ...]  # a field with an alias, or a literal, in the order of the text
    # each literal's input type, to check a new value as validation does; None: it must be
    # the learned value (a directive's argument: `@include(if:)` shapes the plan)
    types: tuple[GraphQLInputType | None, ...]
    ancestors: frozenset[int]  # ids of the nodes holding them: the nodes a copy makes anew
    # each one's own (`ancestors` is their union): a copy makes anew only the nodes above
    # what it changes
    above: tuple[frozenset[int], ...] = ()


class _Finder(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[tuple[int, Any, GraphQLInputType | None, list[Any]]] = []

    def enter_field(self, node: FieldNode, *args: Any) -> None:
        if node.alias is not None and node.alias.loc is not None:
            self.found.append((node.alias.loc.start, node, None, [*args[3], args[1]]))

    def enter_int_value(self, node: IntValueNode, *args: Any) -> None:
        self._literal(node, [*args[3], args[1]])

    def enter_string_value(self, node: StringValueNode, *args: Any) -> None:
        self._literal(node, [*args[3], args[1]])

    def _literal(self, node: Any, above: list[Any]) -> None:
        if node.loc is None:
            return
        info = self.type_info
        type_ = None if info.get_directive() is not None else info.get_input_type()
        self.found.append((node.loc.start, node, type_, above))


def slots(schema: GraphQLSchema, document: DocumentNode, read: Shape) -> Slots | None:
    """The learned document's aliases and literals, or None when they are not the ones its
    shape read from the text (a copy made from them would not be what the text parses to)."""
    type_info = TypeInfo(schema)
    finder = _Finder(type_info)
    visit(document, TypeInfoVisitor(type_info, finder))
    found = sorted(finder.found, key=lambda f: f[0])
    if len(found) != len(read.order):
        return None
    aliases, literals = iter(read.aliases), iter(read.literals)
    types: list[GraphQLInputType | None] = []
    ancestors: set[int] = set()
    above_each: list[frozenset[int]] = []
    for (_, node, type_, above), kind in zip(found, read.order, strict=True):
        if isinstance(node, FieldNode):
            if kind != "a" or node.alias is None or node.alias.value != next(aliases):
                return None
        else:
            if kind != "l" or _token(node) != next(literals):
                return None
            types.append(type_)
        holding = frozenset(id(a) for a in above if isinstance(a, Node))
        above_each.append(holding)
        ancestors.update(holding)
    nodes = tuple(f[1] for f in found)
    return Slots(nodes, tuple(types), frozenset(ancestors), tuple(above_each))


def _token(node: Any) -> str | None:
    if isinstance(node, IntValueNode):
        return node.value
    if isinstance(node, StringValueNode) and not node.block:
        return f'"{node.value}"'
    return None


INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # GraphQL's Int
INVALID = object()


def literal_values(learned: Shape, at: Slots, literals: tuple[str, ...]) -> dict[int, Any] | None:
    """Each typed literal's value as execution reads it (graphql-core's `value_from_ast`),
    by its place among the text's literals; None when a new one is not valid where it
    stands, checked as validation checks it (`respell` does the same)."""
    values = {}
    for i, (old, literal, type_) in enumerate(
        zip(learned.literals, literals, at.types, strict=True)
    ):
        if type_ is not None:
            value = _coerced(literal, type_, literal == old)
            if value is INVALID:
                return None
            values[i] = value
    return values


def _coerced(literal: str, type_: GraphQLInputType, known_valid: bool) -> Any:
    """A literal's value, or INVALID: a string for an ID or String and an Int for an Int
    as their `parse_literal` reads them, anything else by validation's rule and
    graphql-core's coercion."""
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    string = literal[0] == '"'
    if named is GraphQLID and string:
        return literal[1:-1]
    if named is GraphQLString:
        return literal[1:-1] if string else INVALID
    if named is GraphQLInt:
        if string:
            return INVALID
        number = int(literal)
        return number if INT_MIN <= number <= INT_MAX else INVALID
    value = _value(literal)
    if not known_valid and not _valid(value, type_):
        return INVALID
    return value_from_ast(value, type_, None)


def _value(literal: str) -> ValueNode:
    if literal[0] == '"':
        return StringValueNode(value=literal[1:-1], block=False)
    return IntValueNode(value=literal)


def respell(
    document: DocumentNode,
    at: Slots,
    aliases: tuple[str, ...],
    literals: tuple[str, ...],
    check: bool = True,
) -> DocumentNode | None:
    """`document` with the aliases and literals at `at` replaced by these (in the order of
    the text); None when a new literal is not valid where it stands (unless not `check`:
    `literal_values` read them)."""
    new: dict[int, Any] = {}
    given_aliases, given_literals, types = iter(aliases), iter(literals), iter(at.types)
    changed: set[int] = set()
    for node, above in zip(at.nodes, at.above, strict=True):
        if isinstance(node, FieldNode):
            alias = next(given_aliases)
            if node.alias is not None and node.alias.value == alias:
                continue
            new[id(node)] = NameNode(value=alias)
            changed |= above
            continue
        literal, type_ = next(given_literals), next(types)
        if _token(node) == literal:
            continue
        value = _value(literal)
        if check and type_ is not None and not _valid(value, type_):
            return None
        new[id(node)] = value
        changed |= above
    copied: DocumentNode = _copy(document, new, frozenset(changed))
    return copied


def _valid(value: ValueNode, type_: GraphQLInputType) -> bool:
    """Whether validation (ValuesOfCorrectTypeRule) accepts this literal here."""
    errors: list[GraphQLError] = []
    validate_input_literal(value, type_, lambda error, _path: errors.append(error))
    return not errors


def _copy(node: Any, new: dict[int, Any], ancestors: frozenset[int]) -> Any:
    key = id(node)
    change = new.get(key)
    if change is not None and not isinstance(node, FieldNode):
        return change
    if change is None and key not in ancestors:
        return node
    changes: dict[str, Any] = {}
    if change is not None:
        changes["alias"] = change
    attributes = node.__dict__
    if key in ancestors:
        for name in _children(type(node)):
            value = attributes[name]
            if isinstance(value, tuple):
                copied = tuple(_copy(v, new, ancestors) for v in value)
                if any(c is not v for c, v in zip(copied, value, strict=True)):
                    changes[name] = copied
            elif isinstance(value, Node):
                one = _copy(value, new, ancestors)
                if one is not value:
                    changes[name] = one
    if not changes:
        return node
    # the frozen node's copy as `dataclasses.replace` makes it, without running __init__
    # and reading the class's fields again (most of a new alias's copy, measured)
    made = object.__new__(type(node))
    made.__dict__.update(attributes)
    made.__dict__.update(changes)
    return made


_CHILDREN: dict[type, tuple[str, ...]] = {}


def _children(cls: type) -> tuple[str, ...]:
    """A node class's attributes but its location (`Node.keys` reads them every time)."""
    names = _CHILDREN.get(cls)
    if names is None:
        names = _CHILDREN[cls] = tuple(n for n in cls.keys if n != "loc")  # type: ignore[attr-defined]
    return names


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
