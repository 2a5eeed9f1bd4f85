"""Fixes of the black-box audit (issue 14): the database refuses two blocks at one position
of a space; subject links go out by e-mail; the worker finds interrupted erasures and which
mail-sink copies still have their outbox row; the audit chain takes its principal from a
signed claim of the token lookup, not from its caller.

Revision ID: 0007
Revises: 0011 (given as 0004; chained after 0006 and 0011 once they reached main: one head)
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0007"
down_revision = "0011"
branch_labels = None
depends_on = None

# Renumber first: a space whose order was corrupted by concurrent moves before this fix would
# otherwise stop the migration. FORCE is lifted for the owner only inside this transaction.
RENUMBER = """
UPDATE blocks b SET position = r.n - 1
FROM (
    SELECT tenant_id, id,
           row_number() OVER (PARTITION BY tenant_id, space_id ORDER BY position, created_at, id) AS n
    FROM blocks
) r
WHERE b.tenant_id = r.tenant_id AND b.id = r.id AND b.position <> r.n - 1
"""

# DEFERRABLE INITIALLY DEFERRED: a reorder shifts a range of positions by one in a single
# UPDATE, which passes through duplicates; only the state at commit must be dense and unique.
UNIQUE_POSITION = """
ALTER TABLE blocks ADD CONSTRAINT blocks_space_position_key
    UNIQUE (tenant_id, space_id, position) DEFERRABLE INITIALLY DEFERRED
"""


# a subject's magic link is e-mailed to the contact's own address, never handed to the caller
OUTBOX_KINDS = """ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
   ('space_invitation', 'space_updated', 'marketing', 'subject_verification', 'webhook_failing',
    'subject_link'))"""


# The worker (application role, no tenant) finds erasures a crash left `processing`: this
# function (run as the owner) lists their keys across tenants and nothing else; each is then
# resumed in a transaction scoped to its own tenant, under row-level security.
ERASURES_INTERRUPTED = """
CREATE FUNCTION app_erasures_interrupted(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT r.tenant_id, r.id FROM subject_requests r
    WHERE r.kind = 'erasure' AND r.state = 'processing'
    ORDER BY r.due_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$;
"""


# The file mail sink (development) keeps one file per outbox row; the worker keeps only the
# files whose row still exists (an erasure or retention deletes the rows): this function
# answers which of the given outbox ids still exist, across tenants, and nothing else.
OUTBOX_KNOWN = """
CREATE FUNCTION app_outbox_known(p_ids uuid[])
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT o.id FROM outbox o WHERE o.id = ANY(p_ids) $$;
"""


# Who a transaction speaks for, vouched for by the token lookup itself (run as the owner): it
# sets a transaction-local `app.principal` signed with a key only the owner can read, bound
# to this backend and this transaction's start time, so the application role can neither
# invent one nor replay one from another transaction. The audit chain takes its principal
# from there, never from the caller's arguments. (Nothing is written: a lookup leaves the
# transaction read-only, which the erasure's no-writes check relies on.)
AUDIT_KEY = """
CREATE TABLE audit_key (
    id integer PRIMARY KEY CHECK (id = 1),
    key bytea NOT NULL
);
INSERT INTO audit_key VALUES (
    1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
       || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
);
REVOKE ALL ON audit_key FROM PUBLIC;
ALTER TABLE audit_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_key FORCE ROW LEVEL SECURITY;
DO $$ BEGIN EXECUTE format('CREATE POLICY owner_only ON audit_key FOR SELECT TO %I USING (true)',
    current_user); END $$;
GRANT SELECT ON audit_key TO microspace_app
"""
# (like every table: RLS forced; the application role may SELECT it and sees no row)

# sha256(key || sha256(key || message)): keyed, and immune to length extension
PRINCIPAL_SIGNATURE = """
CREATE FUNCTION audit_principal_signature(p_claim text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT encode(sha256(k.key || sha256(k.key || convert_to(
        p_claim || ':' || pg_backend_pid() || ':' || extract(epoch FROM now())::text, 'UTF8'
    ))), 'hex')
    FROM audit_key k WHERE k.id = 1
$$;
REVOKE ALL ON FUNCTION audit_principal_signature(text) FROM PUBLIC
"""

AUTHENTICATE = """
CREATE OR REPLACE FUNCTION app_authenticate(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_claim text;
BEGIN
    SELECT t.tenant_id || ':' || t.kind || ':' || coalesce(t.member_id, t.id)
        INTO v_claim
        FROM api_tokens t
        WHERE (t.token_hash = p_token_hash
               OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
          AND t.revoked_at IS NULL
          AND (t.expires_at IS NULL OR t.expires_at > now());
    PERFORM set_config(
        'app.principal',
        coalesce(v_claim || ':' || audit_principal_signature(v_claim), ''),
        true
    );
    RETURN QUERY
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM api_tokens t
    JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now());
END
$$
"""

# The application role's principal is the vouched one; the owner (retention, operators)
# still names its own ("system").
APPEND_PRINCIPAL = f"""
CREATE OR REPLACE FUNCTION audit_principal_for(p_tenant uuid, p_kind varchar, p_principal uuid)
RETURNS TABLE (kind varchar, principal_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_value text := coalesce(current_setting('app.principal', true), '');
    v_parts text[] := string_to_array(v_value, ':');
    v_claim text;
BEGIN
    IF session_user <> '{APP_ROLE}' THEN
        RETURN QUERY SELECT p_kind, p_principal;
        RETURN;
    END IF;
    IF coalesce(array_length(v_parts, 1), 0) <> 4 THEN
        RAISE EXCEPTION 'audit_append needs an authenticated principal in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_claim := v_parts[1] || ':' || v_parts[2] || ':' || v_parts[3];
    IF v_parts[1] <> p_tenant::text
       OR v_parts[4] IS DISTINCT FROM audit_principal_signature(v_claim) THEN
        RAISE EXCEPTION 'audit_append needs an authenticated principal in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT v_parts[2]::varchar, v_parts[3]::uuid;
END
$$
"""


def upgrade() -> None:
    for stmt in (AUDIT_KEY + ";" + PRINCIPAL_SIGNATURE).split(";\n"):
        if stmt.strip():
            op.execute(stmt)
    op.execute(AUTHENTICATE)
    op.execute(APPEND_PRINCIPAL)
    op.execute("REVOKE ALL ON FUNCTION audit_principal_for(uuid, varchar, uuid) FROM PUBLIC")
    _bind_audit_append()
    op.execute(OUTBOX_KNOWN)
    op.execute("REVOKE ALL ON FUNCTION app_outbox_known(uuid[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_outbox_known(uuid[]) TO {APP_ROLE}")
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_erasures_interrupted "
        "ON subject_requests FOR SELECT TO %I USING (true)', current_user); END $$"
    )
    op.execute(ERASURES_INTERRUPTED)
    op.execute("REVOKE ALL ON FUNCTION app_erasures_interrupted(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_erasures_interrupted(integer) TO {APP_ROLE}")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check")
    op.execute(OUTBOX_KINDS)
    op.execute("ALTER TABLE blocks NO FORCE ROW LEVEL SECURITY")
    op.execute(RENUMBER)
    op.execute("ALTER TABLE blocks FORCE ROW LEVEL SECURITY")
    op.execute(UNIQUE_POSITION)


def _earlier(name: str):  # type: ignore[no-untyped-def]
    import importlib

    return importlib.import_module(f"migrations.versions.{name}")


def downgrade() -> None:
    # the earlier functions: audit_append trusting its arguments, the plain token lookup
    op.execute(
        _earlier("03_audit_policies").APPEND.replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
        )
    )
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    op.execute(_earlier("05_partners").AUTHENTICATE)
    op.execute(f"GRANT EXECUTE ON FUNCTION app_authenticate(bytea) TO {APP_ROLE}")
    op.execute("DROP FUNCTION audit_principal_for(uuid, varchar, uuid)")
    op.execute("DROP FUNCTION audit_principal_signature(text)")
    op.execute("DROP TABLE audit_key")
    op.execute("DROP FUNCTION app_outbox_known(uuid[])")
    op.execute("DROP FUNCTION app_erasures_interrupted(integer)")
    op.execute("DROP POLICY owner_erasures_interrupted ON subject_requests")
    op.execute("ALTER TABLE blocks DROP CONSTRAINT blocks_space_position_key")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check")
    op.execute(OUTBOX_KINDS.replace(",\n    'subject_link'", ""))


def _bind_audit_append() -> None:
    op.execute(APPEND)


# migration 0003's audit_append, with the principal resolved by audit_principal_for
APPEND = r"""
CREATE OR REPLACE FUNCTION audit_append(
    p_kind varchar, p_principal uuid, p_request varchar, p_entries jsonb
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_tenant uuid := app_current_tenant();
    v_kind varchar;
    v_principal uuid;
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
    SELECT a.kind, a.principal_id INTO v_kind, v_principal
        FROM audit_principal_for(v_tenant, p_kind, p_principal) a;
    INSERT INTO audit_chain_heads (tenant_id, seq, hash)
    VALUES (v_tenant, 0, '\x'::bytea) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT seq, hash INTO v_seq, v_hash FROM audit_chain_heads WHERE tenant_id = v_tenant FOR UPDATE;
    FOR e IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
        v_seq := v_seq + 1;
        v_prev := v_hash;
        v_id := gen_random_uuid();
        v_subjects := ARRAY(SELECT jsonb_array_elements_text(coalesce(e->'subjects', '[]'::jsonb))::uuid);
        v_fields := ARRAY(SELECT jsonb_array_elements_text(coalesce(e->'fields', '[]'::jsonb)));
        v_hash := audit_entry_hash(v_prev, v_tenant, v_id, v_seq, v_at, v_kind, v_principal,
                                   p_request, e->>'operation', v_subjects, v_fields);
        INSERT INTO audit_log (tenant_id, id, seq, occurred_at, principal_kind, principal_id,
                               request_id, operation, subject_contact_ids, fields, prev_hash, hash)
        VALUES (v_tenant, v_id, v_seq, v_at, v_kind, v_principal, p_request, e->>'operation',
                v_subjects, v_fields, v_prev, v_hash);
        v_count := v_count + 1;
    END LOOP;
    UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE tenant_id = v_tenant;
    RETURN v_count;
END
$$
"""
