"""Sign-in records: one row per session start of a member or a contact, coarse by design.

A bearer token has no login step, so a session starts with the first request of a token
after `SESSION_GAP` without one. Only the user-agent family and the network prefix (/24 for
IPv4, /48 for IPv6) are stored; the raw address and user-agent string never are.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, insert, literal, select, text

from core.auth import Principal
from core.db import Db
from models import SignIn

SESSION_GAP = timedelta(minutes=30)
# people's sessions: members, and contacts through a magic link or an invitation visit
SESSION_KINDS = ("member", "subject", "visitor")
# checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari"
FAMILIES = (
    ("edg/", "Edge"),
    ("opr/", "Opera"),
    ("firefox/", "Firefox"),
    ("chrome/", "Chrome"),
    ("safari/", "Safari"),
    ("curl/", "curl"),
    ("python", "Python"),
)


def user_agent_family(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    lowered = user_agent.lower()
    for needle, family in FAMILIES:
        if needle in lowered:
            return family
    return "Other"


def truncated_network(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None if it is not one."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class SignInRecorder:
    """Records session starts; remembers recent ones per process so most requests cost no SQL.

    Across processes the INSERT's own NOT EXISTS check keeps one row per session.
    """

    def __init__(self, gap: timedelta = SESSION_GAP) -> None:
        self.gap = gap
        self._seen: dict[uuid.UUID, float] = {}

    def due(self, principal: Principal) -> bool:
        """Whether this principal's request starts a session that `observe` would record."""
        if principal.token_id is None or principal.kind not in SESSION_KINDS:
            return False
        if principal.member_id is None and principal.contact_id is None:
            return False
        last = self._seen.get(principal.token_id)
        return last is None or time.monotonic() - last >= self.gap.total_seconds()

    async def observe(
        self, db: Db, principal: Principal, user_agent: str | None, address: str | None
    ) -> None:
        if not self.due(principal):
            return
        assert principal.token_id is not None
        now = time.monotonic()
        self._seen[principal.token_id] = now
        if len(self._seen) > 100_000:  # bounded: forget the oldest half
            for key in sorted(self._seen, key=self._seen.__getitem__)[:50_000]:
                del self._seen[key]
        await record_sign_in(db, principal, user_agent, address, self.gap)


async def record_sign_in(
    db: Db, principal: Principal, user_agent: str | None, address: str | None, gap: timedelta
) -> None:
    """Insert a sign-in unless this token already started a session within `gap`."""
    recent = exists().where(
        SignIn.token_id == principal.token_id,
        SignIn.occurred_at > datetime.now(UTC) - gap,
        SignIn.tenant_id == db.tenant_id,
    )
    row = select(
        literal(db.tenant_id),
        literal(uuid.uuid4()),
        literal(principal.member_id, SignIn.member_id.type),
        literal(
            principal.contact_id if principal.member_id is None else None, SignIn.contact_id.type
        ),
        literal(principal.token_id),
        literal(user_agent_family(user_agent), SignIn.user_agent_family.type),
        literal(truncated_network(address), SignIn.network.type),
    ).where(~recent)
    columns = [
        "tenant_id",
        "id",
        "member_id",
        "contact_id",
        "token_id",
        "user_agent_family",
        "network",
    ]
    await db.execute(insert(SignIn).from_select(columns, row))


async def purge_old_sign_ins(db: Db, *, now: datetime, days: int) -> int:
    """Delete sign-ins older than the retention period (as the owner: every tenant)."""
    result = await db.execute(
        text("DELETE FROM sign_ins WHERE occurred_at < :cutoff"),
        {"cutoff": now - timedelta(days=days)},
    )
    return int(getattr(result, "rowcount", 0) or 0)
