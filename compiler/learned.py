"""Documents the compiled read path answered after the whole way's checks, which the fast lane
(microspace/lane/lane.py) answers again without them.

Kept by tenant (core/tenant_cache.py) and found by a text's normalised form: a text that
differs from a learned one only in white space, commas or comments finds it, and so does one
that differs only in its aliases (compiler/respell.py), as long as the text itself is within
the limits the whole way checks on it: its length, and its tokens, comments counted
(graphql-core's `max_tokens`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from graphql import DocumentNode, OperationDefinitionNode, TokenKind

from compiler.respell import Shape, realias, same_keys, shape
from core.limits import Limits
from core.tenant_cache import TenantCache, document_key, normal_text

# a parsed document holds about 40 bytes per character of its text (measured on the
# bench's queries)
NODE_BYTES = 40


@dataclass(frozen=True)
class Learned:
    document: DocumentNode
    tokens: int  # besides comments
    shape: Shape | None = None  # with aliases: what another set of aliases must match


class LearnedDocuments:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # by tenant and (normalised text, operation name); by (shape, operation name) too
        self.cache: TenantCache[Learned] = TenantCache("documents", 4096, 32 << 20)

    def learn(
        self, query: str, operation_name: str | None, document: DocumentNode, tenant: Hashable
    ) -> None:
        key = document_key(query)
        if self.cache.has(tenant, (key, operation_name)):
            return
        normal = normal_text(query)
        read = shape(normal) if normal is not None else None
        learned = Learned(document, _tokens(document, query, self.limits.max_tokens), read)
        keys: list[Hashable] = [key]
        if read is not None and read.aliases:
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
        if len(query) > self.limits.max_document_chars:
            return None
        found = self.cache.get(tenant, (document_key(query), operation_name))
        if found is None:
            # not kept: a copy costs less than the learned documents it would evict
            found = self._realiased(query, operation_name, tenant)
            if found is None:
                return None
        # without a string literal, every `#` starts a comment; with one, the text is the
        # one learned (core/tenant_cache.py keys it as it is)
        if '"' not in query and found.tokens + query.count("#") > self.limits.max_tokens:
            return None
        return found.document

    def _realiased(
        self, query: str, operation_name: str | None, tenant: Hashable
    ) -> Learned | None:
        """A learned document of this text's shape, with this text's aliases."""
        normal = normal_text(query)
        read = shape(normal) if normal is not None else None
        if read is None or not read.aliases:
            return None
        found = self.cache.get(tenant, (("shape", read.key), operation_name))
        if found is None or found.shape is None or not same_keys(found.shape, read):
            return None
        document = realias(found.document, read.aliases)
        return None if document is None else Learned(document, found.tokens, read)


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
