"""SQL statements per request grow with query depth, never with list sizes."""

from __future__ import annotations

import pytest

from tests.factories import make_spaces
from tests.query_count import count_statements

LISTING = """{ spaces(first: 50) { totalCount edges { cursor node { id title status
    blocks(first: 20) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { id kind position body space { id slug } } } } } } } }"""


async def _listing(
    api, new_tenant, owner_url, app_engine, spaces: int, blocks: int
) -> tuple[int, dict]:
    tenant = await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, spaces, blocks_each=blocks)
    with count_statements(app_engine) as statements:
        result = await api(tenant.token)(LISTING)
    assert "errors" not in result, result
    return len(statements), result["data"]


@pytest.mark.big_queries
async def test_listing_statement_count_is_independent_of_sizes(
    api, new_tenant, owner_url, app_engine
):
    small, small_data = await _listing(api, new_tenant, owner_url, app_engine, 5, 2)
    large, large_data = await _listing(api, new_tenant, owner_url, app_engine, 50, 20)

    assert len(small_data["spaces"]["edges"]) == 5
    assert len(large_data["spaces"]["edges"]) == 50
    assert all(len(e["node"]["blocks"]["edges"]) == 20 for e in large_data["spaces"]["edges"])
    assert large == small
    # auth, spaces page, total, blocks page, block totals, spaces of blocks (+ COMMIT)
    assert small <= 8
