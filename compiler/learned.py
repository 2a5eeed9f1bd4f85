"""Documents the compiled read path answered after the whole way's checks, which the fast lane
(microspace/lane/lane.py) answers again without them.

Kept by tenant (core/tenant_cache.py) and found by a text's normalised form: a text that
differs from a learned one only in white space, commas or comments finds it, and so does one
that differs only in its aliases and its Int and String literals (compiler/respell.py: a copy
of the learned document with the new ones, each new literal checked as validation checks
it), as long as the text itself is within the limits the whole way checks on it: its length,
and its tokens, comments counted (graphql-core's `max_tokens`). What depends on a literal's
value (the cost and node limits, page sizes, IDs, the plan's parameters) is worked out again
for the new literals by the lane, as for any request. The copy itself is made only when
something reads it (`Found.document`): the plan made once for the shape (compiler/cache.py
`_shared`) and a cost already worked out for the same page sizes serve most requests
without it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, TokenKind

from compiler.respell import (
    Shape,
    Slots,
    literal_values,
    respell,
    same_keys,
    same_literals,
    shape,
    slots,
)
from core.limits import Limits
from core.tenant_cache import COMMENT, TenantCache, document_key, last_normal

# a parsed document holds about 40 bytes per character of its text (measured on the
# bench's queries)
NODE_BYTES = 40


@dataclass(frozen=True)
class Learned:
    document: DocumentNode
    tokens: int  # besides comments
    shape: Shape | None = None  # with aliases or literals: what other ones must match
    slots: Slots | None = None  # where they are in the document


class Found:
    """A learned document found for a text: the learned document itself, or (`read` set)
    another spelling of it, whose copy with the text's aliases and literals (checked when
    found) is made the first time `document` is read."""

    __slots__ = ("_document", "form", "learned", "read", "values")

    def __init__(
        self,
        document: DocumentNode | None,
        learned: Learned | None = None,
        read: Shape | None = None,
        values: dict[int, Any] | None = None,
    ) -> None:
        self._document = document
        self.learned = learned
        self.read = read
        # found by shape: its typed literals' values (compiler/respell.py `literal_values`)
        self.values = values or {}
        # the same operations, names, variables and selections as `document`; other aliases
        # and literals when found by shape
        form = document if learned is None else learned.document
        assert form is not None
        self.form: DocumentNode = form

    @property
    def document(self) -> DocumentNode:
        """What the text parses to."""
        if self._document is None:
            learned, read = self.learned, self.read
            assert learned is not None and learned.slots is not None and read is not None
            copy = respell(learned.document, learned.slots, read.aliases, read.literals, False)
            assert copy is not None  # its literals are not checked again
            self._document = copy
        return self._document


class LearnedDocuments:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # by tenant and (normalised text, operation name); by (shape, operation name) too
        self.cache: TenantCache[Learned] = TenantCache("documents", 4096, 32 << 20)
        self.schema: GraphQLSchema | None = None  # to find a literal's type

    def learn(
        self, query: str, operation_name: str | None, document: DocumentNode, tenant: Hashable
    ) -> None:
        key = document_key(query)
        if self.cache.has(tenant, (key, operation_name)):
            return
        read = shape(query)
        at = None
        if read is not None and read.order and self.schema is not None:
            at = slots(self.schema, document, read)
        learned = Learned(document, _tokens(document, query, self.limits.max_tokens), read, at)
        keys: list[Hashable] = [key]
        if read is not None and at is not None:
            keys.append(("shape", read.key))
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # a lone operation runs whether or not the request names it
        names = {operation_name, None} if len(ops) == 1 else {operation_name}
        for found_by in keys:
            for name in names:
                self.cache.put(tenant, (found_by, name), learned, NODE_BYTES * len(query))

    def known(self, query: str, operation_name: str | None, tenant: Hashable) -> Found | None:
        if len(query) > self.limits.max_document_chars:
            return None
        found = self.cache.get(tenant, (document_key(query), operation_name))
        if found is None:
            # not kept: a copy costs less than the learned documents it would evict
            return self._respelled(query, operation_name, tenant)
        # without a string literal, every `#` starts a comment; with one, the text is the
        # one learned (core/tenant_cache.py keys it as it is)
        if '"' not in query and found.tokens + query.count("#") > self.limits.max_tokens:
            return None
        return Found(found.document)

    def key(self, query: str, found: Found, literals: bool | None = True) -> Hashable:
        """What `found`, for `query`, is kept by in caches of what its text decides but its
        aliases do not (its cost, its variables' shapes): a document found by shape by its
        shape and its literals (all of them; None: its Int literals only, all a cost
        reads; False: none), any other by its normalised text."""
        read = found.read
        if read is None:
            return document_key(query)
        if literals is None:
            ints = tuple(literal if literal[0] != '"' else '"' for literal in read.literals)
            return ("shape", read.key, ints)
        return ("shape", read.key, read.literals if literals else None)

    def _respelled(self, query: str, operation_name: str | None, tenant: Hashable) -> Found | None:
        """A learned document of this text's shape, to be copied with this text's aliases and
        literals; None when one of them is not valid where it stands."""
        read = _shape(query)
        if read is None or not read.order:
            return None
        found = self.cache.get(tenant, (("shape", read.key), operation_name))
        if found is None or found.shape is None or found.slots is None:
            return None
        if found.tokens + read.comments > self.limits.max_tokens:
            return None
        if not (same_keys(found.shape, read) and same_literals(found.shape, read, found.slots)):
            return None
        values = literal_values(found.shape, found.slots, read.literals)
        if values is None:
            return None
        return Found(None, found, read, values)


def _shape(query: str) -> Shape | None:
    """The text's shape, read from its normal text when the lookup by key has just made it
    (the same tokens without the white space beside punctuators, or comments: a third fewer
    to read in the bench's q1), its comments counted in the text itself."""
    normal = last_normal(query)
    if normal is None:
        return shape(query)
    read = shape(normal)
    if read is not None and "#" in query:
        read = replace(read, comments=len(COMMENT.findall(query)))
    return read


def _tokens(document: DocumentNode, query: str, max_tokens: int) -> int:
    """The document's tokens besides comments; without a token list, as many as leave
    room for no more comments than the learned text has."""
    if document.loc is None:
        return max_tokens - query.count("#")
    count = 0
    token = document.loc.start_token.next
    while token is not None and token.kind is not TokenKind.EOF:
        count += token.kind is not TokenKind.COMMENT
        token = token.next
    return count
