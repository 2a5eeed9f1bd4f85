"""Audit log with a per-tenant hash chain; tenant policy overrides.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = [
    """
    CREATE TABLE audit_log (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        seq bigint NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        principal_kind varchar(16) NOT NULL,
        principal_id uuid,
        request_id varchar(64),
        operation varchar(32) NOT NULL,
        subject_contact_ids uuid[] NOT NULL DEFAULT '{}',
        fields text[] NOT NULL DEFAULT '{}',
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, seq)
    )
    """,
    "CREATE INDEX ix_audit_log_subjects ON audit_log USING gin (subject_contact_ids)",
    """
    CREATE TABLE audit_chain_heads (
        tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        hash bytea NOT NULL
    )
    """,
    """
    CREATE TABLE policy_rules (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        subject varchar(64) NOT NULL,
        object varchar(128) NOT NULL,
        action varchar(32) NOT NULL,
        effect varchar(8) NOT NULL CHECK (effect IN ('allow', 'deny')),
        created_by uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, subject, object, action)
    )
    """,
    "ALTER TABLE tenants ADD COLUMN policy_version integer NOT NULL DEFAULT 0",
]

# The hash covers every column of the entry and the previous entry's hash.
ENTRY_HASH = r"""
CREATE FUNCTION audit_entry_hash(
    p_prev bytea, p_tenant uuid, p_id uuid, p_seq bigint, p_at timestamptz, p_kind varchar,
    p_principal uuid, p_request varchar, p_operation varchar, p_subjects uuid[], p_fields text[]
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog
AS $$
    SELECT sha256(p_prev || convert_to(concat_ws('|',
        p_tenant::text, p_id::text, p_seq::text,
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        p_kind, coalesce(p_principal::text, ''), coalesce(p_request, ''), p_operation,
        array_to_string(p_subjects, ','), array_to_string(p_fields, ',')), 'UTF8'))
$$
"""

# The one way in: appends a request's entries under the tenant's chain head, locked once,
# so the chain never forks and costs one head update per request, not per entry. Runs as
# the owner: the application role may call it but neither INSERT nor touch the head.
APPEND = r"""
CREATE FUNCTION audit_append(
    p_kind varchar, p_principal uuid, p_request varchar, p_entries jsonb
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_tenant uuid := app_current_tenant();
    v_seq bigint;
    v_hash bytea;
    v_prev bytea;
    v_at timestamptz := clock_timestamp();
    v_id uuid;
    v_subjects uuid[];
    v_fields text[];
    v_count integer := 0;
    e jsonb;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'audit_append needs a tenant' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO audit_chain_heads (tenant_id, seq, hash)
    VALUES (v_tenant, 0, '\x'::bytea) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT seq, hash INTO v_seq, v_hash FROM audit_chain_heads WHERE tenant_id = v_tenant FOR UPDATE;
    FOR e IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
        v_seq := v_seq + 1;
        v_prev := v_hash;
        v_id := gen_random_uuid();
        v_subjects := ARRAY(SELECT jsonb_array_elements_text(coalesce(e->'subjects', '[]'::jsonb))::uuid);
        v_fields := ARRAY(SELECT jsonb_array_elements_text(coalesce(e->'fields', '[]'::jsonb)));
        v_hash := audit_entry_hash(v_prev, v_tenant, v_id, v_seq, v_at, p_kind, p_principal,
                                   p_request, e->>'operation', v_subjects, v_fields);
        INSERT INTO audit_log (tenant_id, id, seq, occurred_at, principal_kind, principal_id,
                               request_id, operation, subject_contact_ids, fields, prev_hash, hash)
        VALUES (v_tenant, v_id, v_seq, v_at, p_kind, p_principal, p_request, e->>'operation',
                v_subjects, v_fields, v_prev, v_hash);
        v_count := v_count + 1;
    END LOOP;
    UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE tenant_id = v_tenant;
    RETURN v_count;
END
$$
"""

APPEND_ONLY = r"""
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# The first entry whose hash, link or sequence does not hold (NULL: the chain verifies).
VERIFY = r"""
CREATE FUNCTION audit_verify() RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, public
AS $$
    WITH entries AS (
        SELECT a.*, lag(a.hash) OVER w AS expected_prev, lag(a.seq) OVER w AS previous_seq
        FROM audit_log a WHERE a.tenant_id = app_current_tenant()
        WINDOW w AS (ORDER BY a.seq)
    ), broken AS (
        SELECT seq FROM entries
        WHERE hash <> audit_entry_hash(prev_hash, tenant_id, id, seq, occurred_at, principal_kind,
                principal_id, request_id, operation, subject_contact_ids, fields)
           OR prev_hash <> coalesce(expected_prev, '\x'::bytea)
           OR seq <> coalesce(previous_seq, 0) + 1
        UNION ALL
        -- entries removed from the end: the head remembers the last one
        SELECT h.seq FROM audit_chain_heads h
        LEFT JOIN LATERAL (
            SELECT e.seq, e.hash FROM entries e ORDER BY e.seq DESC LIMIT 1
        ) last ON true
        WHERE h.tenant_id = app_current_tenant()
          AND (h.seq, h.hash) IS DISTINCT FROM (last.seq, last.hash)
    )
    SELECT min(seq) FROM broken
$$
"""

AUTHENTICATE = """
CREATE FUNCTION app_authenticate(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version
    FROM api_tokens t
    JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL
$$
"""


def upgrade() -> None:
    for stmt in TABLES:
        op.execute(stmt)
    for stmt in (ENTRY_HASH, APPEND, APPEND_ONLY, VERIFY):
        op.execute(stmt)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
    )
    for table in ("audit_log", "audit_chain_heads", "policy_rules"):
        for stmt in tenant_rls(table):
            op.execute(stmt)
    # the application appends only through audit_append(): no INSERT, UPDATE or DELETE grant
    op.execute(grant_app("audit_log", "SELECT"))
    op.execute(grant_app("audit_chain_heads", "SELECT"))
    op.execute(grant_app("policy_rules"))
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_verify() TO {APP_ROLE}")
    op.execute("REVOKE ALL ON FUNCTION audit_append(varchar, uuid, varchar, jsonb) FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION audit_append(varchar, uuid, varchar, jsonb) TO {APP_ROLE}"
    )
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    op.execute(AUTHENTICATE)
    op.execute("REVOKE ALL ON FUNCTION app_authenticate(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_authenticate(bytea) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE audit_log, audit_chain_heads, policy_rules CASCADE")
    op.execute("DROP FUNCTION audit_append, audit_append_only(), audit_verify()")
    op.execute("DROP FUNCTION audit_entry_hash")
    op.execute("ALTER TABLE tenants DROP COLUMN policy_version")
