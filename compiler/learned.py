"""Documents the compiled read path answered after the whole way's checks, which the fast lane
(microspace/lane/lane.py) answers again without them.

Kept by tenant (core/tenant_cache.py) and found by a text's normalised form: a text that
differs from a learned one only in white space, commas or comments finds it, and so does one
that differs only in its aliases and its Int and String literals (compiler/respell.py: a copy
of the learned document with the new ones, each new literal checked as validation checks
it), as long as the text itself is within the limits the whole way checks on it: its length,
and its tokens, comments counted (graphql-core's `max_tokens`). What depends on a literal's
value (the cost and node limits, page sizes, IDs, the plan's parameters) is worked out again
from the copy by the lane, as for any request.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, TokenKind

from compiler.respell import Shape, Slots, respell, same_keys, same_literals, shape, slots
from core.limits import Limits
from core.tenant_cache import TenantCache, document_key

# a parsed document holds about 40 bytes per character of its text (measured on the
# bench's queries)
NODE_BYTES = 40


@dataclass(frozen=True)
class Learned:
    document: DocumentNode
    tokens: int  # besides comments
    shape: Shape | None = None  # with aliases or literals: what other ones must match
    slots: Slots | None = None  # where they are in the document


class LearnedDocuments:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # by tenant and (normalised text, operation name); by (shape, operation name) too
        self.cache: TenantCache[Learned] = TenantCache("documents", 4096, 32 << 20)
        self.schema: GraphQLSchema | None = None  # to find a literal's type
        # the last copy made, what it was made from and the text's shape: the plan of the
        # learned document serves it with the literals as parameters (compiler/cache.py)
        self.respelled: tuple[DocumentNode, Learned, Shape] | None = None

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

    def known(
        self, query: str, operation_name: str | None, tenant: Hashable
    ) -> DocumentNode | None:
        self.respelled = None  # what the last request copied is no other's
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
        return found.document

    def key(self, query: str, document: DocumentNode, literals: bool = True) -> Hashable:
        """What `document`, found for `query`, is kept by in caches of what its text decides
        but its aliases do not (its cost, its variables' shapes): a copy of a learned
        document by its shape (and its literals, unless `literals` is false), any other
        by its normalised text."""
        respelled = self.respelled
        if respelled is None or respelled[0] is not document:
            return document_key(query)
        read = respelled[2]
        return ("shape", read.key, read.literals if literals else None)

    def _respelled(
        self, query: str, operation_name: str | None, tenant: Hashable
    ) -> DocumentNode | None:
        """A learned document of this text's shape, with this text's aliases and literals."""
        read = shape(query)
        if read is None or not read.order:
            return None
        found = self.cache.get(tenant, (("shape", read.key), operation_name))
        if found is None or found.shape is None or found.slots is None:
            return None
        if found.tokens + read.comments > self.limits.max_tokens:
            return None
        if not (same_keys(found.shape, read) and same_literals(found.shape, read, found.slots)):
            return None
        copy = respell(found.document, found.slots, read.aliases, read.literals)
        if copy is not None:
            self.respelled = (copy, found, read)
        return copy


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
