"""What a plan is made of: its inputs, its parts and where its result needs a walk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode

Param = Callable[["Inputs"], Any]
# an error the resolver path raises below an object: (path from the object, error, nodes)
Failure = tuple[tuple[str, ...], Exception, list[FieldNode]]
MAX_KEYS = 50  # json_build_object takes at most 100 arguments
# the key of a row's merge values withheld (compiler/objects.py): no GraphQL name, so no
# response key; compiler/run.py `report` takes it out
WITHHELD = "#merge"


@dataclass
class Inputs:
    variables: dict[str, Any]
    default_page_size: int
    max_page_size: int
    # root lookups whose ID failed to decode, by response key: null and this error
    failed: dict[str, Exception] = field(default_factory=dict)
    # `node(id)` roots: the type their ID named, by response key
    chosen: dict[str, str] = field(default_factory=dict)
    # a root list's own argument that failed: (response key, the resolver's error)
    listing_error: tuple[str, Exception] | None = None
    principal: Any = None  # whose rows a widget key or visitor sees (compiler/audience.py)


@dataclass
class Shape:
    """Where a result holds withheld fields: walked to report `extensions.redactions`."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, key, detail)
    # a non-null field of the object fails on its own arguments: the object is null and
    # these are its errors (compiler/plan.py `failure`)
    fails: list[Failure] | None = None

    def __bool__(self) -> bool:
        return bool(self.items or self.fails)

    def merge_only(self) -> bool:
        """Whether all it may report is merge values withheld: a JSON text without the key
        `WITHHELD` needs no walk."""
        return not self.fails and all(
            kind == "merge" or (kind in NESTED and detail.merge_only())
            for kind, _, detail in self.items
        )


NESTED = ("object", "connection", "edges", "list")  # items whose detail is a Shape


@dataclass
class RootPlan:
    key: str
    nullable: bool
    typename: str | None = None  # `__typename` at the root: a constant, no SQL
    audited: bool = False
    shape: Shape | None = None
    # the caller may not read this root: null (or no data) and this error, made per request
    denied: tuple[Callable[[], Exception], list[FieldNode]] | None = None
    # a lookup by ID: none found is null and NOT_FOUND at its path (its nodes locate it)
    lookup: list[FieldNode] | None = None
    # `node(id)`: the redaction shape of each type it may answer (the ID picks one)
    shapes: dict[str, Shape] | None = None
    nodes: list[FieldNode] | None = None  # the root field's nodes (to locate an error)


@dataclass(frozen=True)
class Choice:
    """A `node(id)` lookup in a plan's SQL: only the subquery of the type its ID names is
    sent (compiler/node.py), so each combination of types is its own statement, planned
    once, instead of one statement over every type's branch, planned on every call."""

    token: str  # where the subquery goes in `Plan.sql`
    key: str  # the root's response key (`Inputs.chosen`)
    texts: dict[str | None, str]  # the subquery by type named; None: no row


MAX_STATEMENTS = 32  # statements kept per plan, by combination of `node(id)` types


@dataclass
class Plan:
    sql: str
    params: list[Param]
    checks: list[Callable[[Inputs], None]]
    roots: list[RootPlan]
    choices: list[Choice] = field(default_factory=list)
    # a plan made once for documents that differ in their aliases: its response keys are
    # marks (`\x02n\x02`), each request's aliases by mark (compiler/cache.py `_shared`)
    keys: dict[str, str] | None = None
    _statements: dict[tuple[str | None, ...], str] = field(default_factory=dict, repr=False)

    def renamed(self, keys: dict[str, str]) -> Plan:
        """This plan answering with these response keys for its marks (`keys`): a shallow
        copy, its statements shared (`dataclasses.replace` costs several times more)."""
        made = object.__new__(Plan)
        made.__dict__.update(self.__dict__)
        made.keys = keys
        return made

    def statement(self, chosen: dict[str, str]) -> str:
        """The SQL to run once the parameters are made (they fill `chosen`)."""
        if not self.choices:
            return self.sql
        pick = tuple(chosen.get(c.key) for c in self.choices)
        text = self._statements.get(pick)
        if text is None:
            text = self.sql
            for choice, type_name in zip(self.choices, pick, strict=True):
                text = text.replace(choice.token, choice.texts[type_name])
            if len(self._statements) < MAX_STATEMENTS:
                self._statements[pick] = text
        return text
