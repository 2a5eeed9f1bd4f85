"""A tenant's content locales: BCP 47 tags, the default, and a read's fallback chain.

The chain of a requested tag (RFC 4647 "lookup"): the tag, then the tag with its last subtag
removed, and so on to its language (`de-CH-1996` -> `de-CH` -> `de`), then the tenant's
default. A block is served in the first locale of the chain it has a body for; the default
locale's body is `blocks.body`, the others `blocks.bodies` (migration 0032), which hold only
the tenant's locales. compiler/locales.py is the same rule in SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from core.db import Db
from core.errors import ApiError
from models import Tenant
from store.loaders import register

MAX_LOCALES = 30
MAX_CANDIDATES = 4
MAX_TAG = 35
# RFC 5646 `langtag` (no grandfathered tags): language with extended subtags, script,
# region, variants, extensions, private use
TAG_RE = re.compile(
    r"(?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-(?P<script>[a-z]{4}))?"
    r"(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*"
    r"(?:-x(?:-[a-z0-9]{1,8})+)?",
    re.IGNORECASE,
)


class InvalidLocale(ApiError):
    code = "INVALID_LOCALE"
    default_message = "The locale is not a BCP 47 language tag (e.g. `de` or `de-AT`)."


def canonical(tag: Any) -> str | None:
    """The tag in BCP 47's conventional case (`de-AT`, `zh-Hant-TW`), None if malformed."""
    if not isinstance(tag, str) or len(tag) > MAX_TAG:
        return None
    if TAG_RE.fullmatch(tag) is None:
        return None
    out: list[str] = []
    singleton = False  # after one, every subtag is lower case
    for index, part in enumerate(tag.split("-")):
        singleton = singleton or (index > 0 and len(part) == 1)
        if index == 0 or singleton:
            out.append(part.lower())
        elif len(part) == 2:
            out.append(part.upper())  # a region
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())  # a script
        else:
            out.append(part.lower())
    return "-".join(out)


def requested(tag: Any) -> str:
    """A read's `locale` argument, canonical; INVALID_LOCALE when it is no BCP 47 tag."""
    found = canonical(tag)
    if found is None:
        raise InvalidLocale()
    return found


def candidates(tag: str | None) -> list[str]:
    """The tag and its shorter forms, longest first, to its language (a subtag before a
    removed singleton goes with it: `de-a-xyz` -> `de`); past MAX_CANDIDATES, the tag and
    its shortest forms."""
    if tag is None:
        return []
    parts = tag.split("-")
    out = []
    while parts:
        out.append("-".join(parts))
        parts.pop()
        if parts and len(parts[-1]) == 1:
            parts.pop()
    if len(out) > MAX_CANDIDATES:
        out = [out[0], *out[1 - MAX_CANDIDATES :]]
    return out


@dataclass(frozen=True)
class Locales:
    """A tenant's locales, in the order set, and its default (one of them)."""

    available: tuple[str, ...]
    default: str


@dataclass(frozen=True)
class Reading:
    """A read in a locale: the requested tag's candidates, and the tenant's default."""

    tags: tuple[str, ...]
    default: str


def served(reading: Reading, body: Any, bodies: dict[str, Any]) -> tuple[str, Any]:
    """(locale, body) a block is served in: the first of the read's candidates it holds a
    body for, else its own body, the default locale's. A block holds bodies only in its
    tenant's locales (writes check them; removing a locale removes its bodies)."""
    for tag in reading.tags:
        if tag in bodies:
            return tag, bodies[tag]
    return reading.default, body


async def reading(loaders: Any, tenant_id: uuid.UUID | None, locale: str | None) -> Reading | None:
    """The read a `locale` argument asks for; None when none was given. A malformed tag is
    INVALID_LOCALE; a tag the tenant lacks falls back like any other."""
    if locale is None:
        return None
    tags = candidates(requested(locale))
    assert tenant_id is not None  # a read of blocks is in one tenant
    found: Locales = await loaders.locales_by_tenant_id.load(tenant_id)
    return Reading(tuple(tags), found.default)


async def tenant_locales(db: Db, tenant_ids: Sequence[uuid.UUID]) -> list[Locales]:
    stmt = select(Tenant.id, Tenant.locales, Tenant.default_locale).where(Tenant.id.in_(tenant_ids))
    rows = {r.id: Locales(tuple(r.locales), r.default_locale) for r in await db.execute(stmt)}
    return [rows.get(t) or Locales(("en",), "en") for t in tenant_ids]


register("locales_by_tenant_id")(lambda db: DataLoader(lambda ids: tenant_locales(db, ids)))
