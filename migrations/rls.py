"""SQL helpers the migrations share: row-level security for a tenant table."""

APP_ROLE = "microspace_app"


def tenant_rls(table: str, column: str = "tenant_id") -> list[str]:
    """ENABLE + FORCE RLS with one policy; no tenant set means zero rows."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        # FORCE: the owner (migrations, CLI) is held to the policy too, unless superuser
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        (
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = app_current_tenant()) WITH CHECK ({column} = app_current_tenant())"
        ),
    ]


def grant_app(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> str:
    return f"GRANT {privileges} ON {table} TO {APP_ROLE}"
