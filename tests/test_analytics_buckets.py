"""Analytics k-anonymity cannot be defeated by differencing overlapping ranges.

Invariants:
- a caller without `read_individual` may ask only for one aligned bucket (a UTC day, an ISO
  week from Monday, a calendar month); any other range is BAD_USER_INPUT, so two overlapping
  ranges that differ by one viewer cannot both be asked;
- without a range, that caller gets the current calendar month;
- callers who may see individuals keep free ranges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import error_codes
from tests.factories import make_space

RANGE = """query($s: ID!, $a: DateTime, $b: DateTime) { spaceAnalytics(spaceId: $s, since: $a, until: $b) {
    since until uniqueViewers suppressed } }"""


def _iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
MONDAY = TODAY - timedelta(days=TODAY.weekday())
MONTH = TODAY.replace(day=1)
NEXT_MONTH = (MONTH + timedelta(days=32)).replace(day=1)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (TODAY - timedelta(days=3), TODAY - timedelta(hours=1)),  # the audit's [t0, t1)
        (TODAY - timedelta(days=3), TODAY),  # whole days, but not one bucket
        (TODAY + timedelta(hours=1), TODAY + timedelta(days=1, hours=1)),  # unaligned day
        (MONDAY + timedelta(days=1), MONDAY + timedelta(days=8)),  # a week not from Monday
    ],
)
async def test_unaligned_ranges_are_refused_without_read_individual(
    since, until, api, new_tenant, new_member, owner_url
):
    t = await new_tenant()
    space, _ = await make_space(owner_url, t.tenant_id)
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    result = await viewer(RANGE, {"s": space, "a": _iso(since), "b": _iso(until)})
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    # the owner, who may see individuals, keeps free ranges
    owner = await api(t.token)(RANGE, {"s": space, "a": _iso(since), "b": _iso(until)})
    assert "errors" not in owner, owner


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (TODAY, TODAY + timedelta(days=1)),
        (MONDAY, MONDAY + timedelta(days=7)),
        (MONTH, NEXT_MONTH),
    ],
)
async def test_aligned_buckets_are_answered(since, until, api, new_tenant, new_member, owner_url):
    t = await new_tenant()
    space, _ = await make_space(owner_url, t.tenant_id)
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    result = await viewer(RANGE, {"s": space, "a": _iso(since), "b": _iso(until)})
    assert "errors" not in result, result
    assert result["data"]["spaceAnalytics"]["suppressed"] is True


async def test_the_default_range_is_the_current_month(api, new_tenant, new_member, owner_url):
    t = await new_tenant()
    space, _ = await make_space(owner_url, t.tenant_id)
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    data = (await viewer(RANGE, {"s": space}))["data"]["spaceAnalytics"]
    since, until = (datetime.fromisoformat(data[k]) for k in ("since", "until"))
    assert (since, until) == (MONTH, NEXT_MONTH)
