"""Account deletion deletes the account: `app_delete_tenant` removes every row of the tenant.

Before, confirming an account deletion erased the tenant's personal data and left its
content (spaces, blocks, policy rules, webhooks, anonymised members and requests) and its
name. The policy promises "permanent deletion of your account".

`app_delete_tenant(tenant)` (SECURITY DEFINER: the application role lacks DELETE on the
ledgers, the event outbox, the requests) deletes the tenant's rows from every table with a
`tenant_id` column, found in the catalog when it runs, so a table added later is deleted
too unless it is named in KEPT; children before parents. KEPT holds what docs/privacy.md
"Account deletion" lists, with its reason: the audit chain (ids and field names, Art. 5(2))
and the erasure journal (a restored backup is deleted again). The tenant row stays as a
tombstone (the audit chain references it): no name, no origins, subscription ended, purged.

The application role may call it only in the transaction that confirmed the deletion: the
confirmed `account_deletions` row must have been written by this very transaction (xmin;
written without a savepoint, so its xmin is the top-level transaction id). The owner (the
replay of the erasure journal on a restored backup) calls it without a confirmation.

Accounts whose deletion was confirmed before this revision are deleted now, with a journal
entry each, so a backup restored later loses them too.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# kept by an account deletion; docs/privacy.md "Account deletion" says why, and
# tests/test_account_deletion.py compares what is left with that list
KEPT = ("audit_log", "audit_chain_heads", "erasure_journal")

DELETE_TENANT = f"""
CREATE FUNCTION app_delete_tenant(p_tenant uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_table regclass;
BEGIN
    IF p_tenant IS NULL OR p_tenant IS DISTINCT FROM app_current_tenant() THEN
        RAISE EXCEPTION 'app_delete_tenant deletes the current tenant only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF session_user = '{APP_ROLE}' AND NOT EXISTS (
        SELECT 1 FROM account_deletions d
        WHERE d.tenant_id = p_tenant AND d.confirmed_at IS NOT NULL
          AND d.xmin = pg_current_xact_id()::xid
    ) THEN
        RAISE EXCEPTION 'app_delete_tenant needs an account deletion confirmed in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- every table with a tenant_id, deepest first (a child before the table it references)
    FOR v_table IN
        WITH RECURSIVE owned AS (
            SELECT c.oid FROM pg_class c
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                AND NOT a.attisdropped
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT c.relispartition
              AND c.relname <> ALL (ARRAY{list(KEPT)!r}::name[])
        ), depth(oid, d) AS (
            SELECT oid, 0 FROM owned
            UNION ALL
            SELECT f.conrelid, depth.d + 1 FROM depth
            JOIN pg_constraint f ON f.contype = 'f' AND f.confrelid = depth.oid
                AND f.conrelid <> f.confrelid
            JOIN owned o ON o.oid = f.conrelid
            WHERE depth.d < 32
        )
        SELECT oid::regclass FROM depth GROUP BY oid ORDER BY max(d) DESC, oid::regclass::text
    LOOP
        EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', v_table) USING p_tenant;
    END LOOP;
    UPDATE tenants SET name = '[deleted]', cors_origins = '{{}}', visitor_url = NULL,
        subscription_status = 'ended',
        subscription_ends_at = least(coalesce(subscription_ends_at, now()), now()),
        personal_data_purged_at = now(), policy_version = policy_version + 1
    WHERE id = p_tenant;
END
$$
"""

JOURNAL_KINDS = (
    "ALTER TABLE erasure_journal ADD CONSTRAINT erasure_journal_kind_check CHECK (kind IN ({}))"
)

# accounts confirmed deleted under the earlier revisions: deleted now, and journalled
CONFIRMED_BEFORE = """
DO $$
DECLARE
    v_tenant uuid;
BEGIN
    -- every tenant, each looked at in its own scope (the owner is held to row-level
    -- security too, unless superuser; it may list tenants, policy owner_token_lookup)
    FOR v_tenant IN SELECT id FROM tenants LOOP
        PERFORM set_config('app.tenant_id', v_tenant::text, true);
        IF EXISTS (SELECT 1 FROM account_deletions WHERE tenant_id = v_tenant
                   AND confirmed_at IS NOT NULL) THEN
            PERFORM app_delete_tenant(v_tenant);
            INSERT INTO erasure_journal (tenant_id, id, kind, subject_id)
            VALUES (v_tenant, gen_random_uuid(), 'account', v_tenant);
        END IF;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE erasure_journal DROP CONSTRAINT erasure_journal_kind_check")
    op.execute(JOURNAL_KINDS.format("'contact', 'member', 'tenant', 'account'"))
    op.execute(DELETE_TENANT)
    op.execute("REVOKE ALL ON FUNCTION app_delete_tenant(uuid) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_delete_tenant(uuid) TO {APP_ROLE}")
    op.execute(CONFIRMED_BEFORE)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_delete_tenant(uuid)")
    # the earlier replay knows `tenant` (a purge of personal data): the most it can repeat
    op.execute("ALTER TABLE erasure_journal DROP CONSTRAINT erasure_journal_kind_check")
    op.execute("UPDATE erasure_journal SET kind = 'tenant' WHERE kind = 'account'")
    op.execute(JOURNAL_KINDS.format("'contact', 'member', 'tenant'"))
