from tests.conftest import error_codes


async def test_owner_lists_spaces(api, new_tenant):
    t = await new_tenant()
    result = await api(t.token)("{ viewer { kind roles } spaces { totalCount } }")
    assert result["data"]["viewer"] == {"kind": "member", "roles": ["owner"]}
    assert result["data"]["spaces"]["totalCount"] == 0
    assert error_codes(await api(None)("{ spaces { totalCount } }")) == ["UNAUTHENTICATED"]
