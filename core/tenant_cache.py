"""A bounded cache no tenant can flush, and the document key it is used with.

Every tenant has its own least-recently-used list within a share of the cache's entries and
bytes, and the whole cache has a bound of its own: a tenant that fills its share evicts only
its own entries; when the whole cache is full, the tenant holding the most bytes gives way.
One tenant sending thousands of new documents never evicts another's working set.

Documents are keyed by a hash of their normalised text (`document_key`): whitespace, commas
and comments make no new entry.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

COMMENT = re.compile(r"#[^\n\r]*")
# GraphQL's ignored tokens besides comments: white space, line terminators, commas, BOM
IGNORED = re.compile(r"[ \t\n\r,\ufeff]+")
# ASCII characters `str.split` takes for white space and GraphQL does not
SPLIT_ONLY = re.compile(r"[\x0b\x0c\x1c-\x1f]")
# a punctuator is a token by itself, so white space beside it can go (not `.`: `. . .`
# is not `...`, and `1 .5` is not `1.5`)
PUNCTUATORS = "{}()[]:!$=@|&"
# texts up to this long keep their key (a speed memo of a pure function: LRU, 2 MB at most)
MEMO_CHARS = 2_000
MEMO_TEXTS = 1_024

_last: list[tuple[str, bytes]] = [("", b"")]
_normal: list[tuple[str, str | None]] = [("", None)]  # the last text `_key` read, its normal


def normal_text(text: str) -> str | None:
    """The document without ignored tokens (white space beside a punctuator, commas,
    comments), or None for a text with a string literal (a `#` or white space inside a
    string is content, and telling needs the whole lexer)."""
    if '"' in text:
        return None
    if "#" in text:
        text = COMMENT.sub("", text)
    if text.isascii() and SPLIT_ONLY.search(text) is None:
        # then str.split's white space is GraphQL's ignored characters: a third of the time
        normal = " ".join(text.replace(",", " ").split())
    else:
        # only spaces: str.strip's white space takes NBSP, a character of the text
        normal = IGNORED.sub(" ", text).strip(" ")
    for mark in PUNCTUATORS:  # str.replace: a quarter of the time of one regex with groups
        normal = normal.replace(" " + mark, mark).replace(mark + " ", mark)
    return normal


def document_key(text: str) -> bytes:
    """A hash of the document as GraphQL reads it: equal for texts that differ only in
    ignored tokens; a text with a string literal is hashed as it is."""
    last = _last[0]
    if last[0] is text:  # the same request asks again (the lane, then the plan, the cost)
        return last[1]
    key = _remembered(text) if len(text) <= MEMO_CHARS else _key(text)
    _last[0] = (text, key)
    return key


def _key(text: str) -> bytes:
    normal = normal_text(text)
    _normal[0] = (text, normal)
    return digest(text if normal is None else normal)


def last_normal(text: str) -> str | None:
    """`text`'s normal text, when `document_key` has just worked it out for this very
    string; else None."""
    seen = _normal[0]
    return seen[1] if seen[0] is text else None


_remembered = functools.lru_cache(maxsize=MEMO_TEXTS)(_key)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class TenantCache(Generic[V]):
    """Least recently used entries per tenant, bounded by entries and by (estimated) bytes,
    each tenant within `share` of both bounds."""

    def __init__(self, name: str, max_entries: int, max_bytes: int, share: float = 0.25) -> None:
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.tenant_entries = max(1, int(max_entries * share))
        self.tenant_bytes = max(1, int(max_bytes * share))
        self._tenants: dict[Hashable, OrderedDict[Hashable, tuple[V, int]]] = {}
        self._held: dict[Hashable, int] = {}  # bytes per tenant
        self.entries = 0
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, tenant: Hashable, key: Hashable) -> V | None:
        entries = self._tenants.get(tenant)
        found = entries.get(key) if entries is not None else None
        if found is None:
            self.misses += 1
            return None
        assert entries is not None
        entries.move_to_end(key)
        self.hits += 1
        return found[0]

    def has(self, tenant: Hashable, key: Hashable) -> bool:
        """Whether `key` is kept (not counted as a hit or miss, not moved)."""
        entries = self._tenants.get(tenant)
        return entries is not None and key in entries

    def put(self, tenant: Hashable, key: Hashable, value: V, size: int) -> None:
        """Keep `value` (about `size` bytes); one larger than a tenant's share is not kept."""
        if size > self.tenant_bytes:
            return
        entries = self._tenants.get(tenant)
        if entries is None:
            entries = self._tenants[tenant] = OrderedDict()
            self._held[tenant] = 0
        old = entries.pop(key, None)
        if old is not None:
            self._drop(tenant, old[1])
        entries[key] = (value, size)
        self._held[tenant] += size
        self.entries += 1
        self.bytes += size
        while len(entries) > self.tenant_entries or self._held[tenant] > self.tenant_bytes:
            self._evict(tenant)
        while self.entries > self.max_entries or self.bytes > self.max_bytes:
            self._evict(max(self._held, key=self._held.__getitem__))

    def clear(self) -> None:
        self._tenants.clear()
        self._held.clear()
        self.entries = self.bytes = 0

    def _evict(self, tenant: Hashable) -> None:
        entries = self._tenants[tenant]
        _, (_, size) = entries.popitem(last=False)
        self.evictions += 1
        self._drop(tenant, size)
        if not entries:
            del self._tenants[tenant], self._held[tenant]

    def _drop(self, tenant: Hashable, size: int) -> None:
        self._held[tenant] -= size
        self.entries -= 1
        self.bytes -= size
