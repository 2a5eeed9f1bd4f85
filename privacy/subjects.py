"""Who a subject is: the normalised e-mail, its keyed hash, and the contacts it matches."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
import uuid
from calendar import monthrange
from datetime import datetime

from sqlalchemy import select

from core.db import Db
from models import Contact


def normalise_email(raw: str) -> str:
    """The stored form of an address: Unicode-normalised, trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def subject_hash(secret: bytes, email: str) -> bytes:
    """Keyed HMAC-SHA256 of the normalised address: comparable, not reversible without the key."""
    return hmac.new(secret, normalise_email(email).encode(), hashlib.sha256).digest()


async def matching_contacts(db: Db, email: str) -> list[uuid.UUID]:
    """The tenant's contacts with this address (contacts store it normalised)."""
    stmt = select(Contact.id).where(Contact.email == normalise_email(email))
    return list(await db.scalars(stmt))


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
