"""Metrics, request ids and logs an operator can read without learning personal data.

Invariants guarded here:
- `/metrics` counts GraphQL requests by operation name, type and outcome, with latency and
  SQL-statements-per-request histograms, pool gauges, the outbox backlog and rate-limit
  refusals;
- an incoming `X-Request-ID` that is a plain token is honoured (response header, log lines);
  anything else is replaced by a fresh id;
- the logs of a mixed workload (reads and writes of personal fields, forbidden, not found,
  invalid, rate-limited and failing requests, export downloads) are JSON lines carrying the
  request id, and hold no planted personal value, no export token, no traceback, and no
  warning for a denied Casbin check.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import TENANT_OPERATIONS
from microspace.app import create_app
from microspace.web.logs import configure_structlog, formatter
from privacy.links import sign_link
from tests.conftest import METRICS_AUTH, error_codes


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def json_logs():
    """Every log line the application writes during the test, as the JSON the operator gets."""
    configure_structlog()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json=True))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_metrics_count_operations_outcomes_and_refusals(settings, new_tenant, caplog):
    tenant = await new_tenant()
    app = create_app(
        replace(settings, rate_limit_burst=2000, rate_limit_rate=0.001, max_cost=250_000)
    )
    auth = {"Authorization": f"Bearer {tenant.token}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            # given named, failing and refused requests
            for _ in range(3):
                ok = await c.post(
                    "/graphql",
                    json={"query": "query ListSpaces { spaces { totalCount } }"},
                    headers=auth,
                )
                assert ok.status_code == 200 and "errors" not in ok.json()
            missing = await c.post(
                "/graphql",
                json={"query": 'query Missing { node(id: "U3BhY2U6eA") { id } }'},
                headers=auth,
            )
            assert error_codes(missing.json())
            refused = 0
            # 20 spaces x 20 blocks (cost 1,320): the bucket of 2,000 holds one
            costly = "{ spaces(first: 20) { edges { node { blocks(first: 20) { totalCount } } } } }"
            for _ in range(3):
                r = await c.post("/graphql", json={"query": costly}, headers=auth)
                refused += r.status_code == 429
            assert refused > 0
            # when the metrics are scraped
            scraped = await c.get("/metrics", headers=METRICS_AUTH)
        assert scraped.status_code == 200
        got = samples(scraped.text)
    finally:
        await app.state.microspace.engine.dispose()

    # then
    def requests(operation: str, kind: str, outcome: str) -> float:
        labels = (("operation", operation), ("outcome", outcome), ("type", kind))
        return got.get(("microspace_graphql_requests_total", labels), 0.0)

    assert requests("ListSpaces", "query", "ok") == 3
    assert requests("Missing", "query", "partial") == 1
    assert (
        requests("anonymous", "unknown", "rate_limited")
        + requests("anonymous", "query", "rate_limited")
        == refused
    )
    assert got[("microspace_rate_limit_refusals_total", ())] == refused
    count = got[
        (
            "microspace_graphql_request_duration_seconds_count",
            (("outcome", "ok"), ("type", "query")),
        )
    ]
    assert count >= 3
    statements = got[("microspace_graphql_sql_statements_count", ())]
    assert statements == 4 + 3
    # each ListSpaces request ran SQL: authentication, then the page (one compiled statement)
    assert got[("microspace_graphql_sql_statements_sum", ())] >= 3 * 2
    assert ("microspace_db_pool_in_use", ()) in got
    assert ("microspace_db_pool_waiting", ()) in got
    assert ("microspace_outbox_due", ()) in got
    assert ("microspace_webhook_deliveries_due", ()) in got
    # the backlog gauges were read from the database, not left at their initial value
    assert not [r for r in caplog.records if "backlog unavailable" in r.getMessage()]


async def test_incoming_request_id_is_honoured_when_plain(client, json_logs):
    plain = "req-" + uuid.uuid4().hex
    honoured = await client.get("/healthz", headers={"X-Request-ID": plain})
    assert honoured.headers["x-request-id"] == plain
    forged = await client.get("/healthz", headers={"X-Request-ID": 'x" level=error'})
    replaced = forged.headers["x-request-id"]
    assert replaced != 'x" level=error' and len(replaced) == 32
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    access = [line for line in lines if line.get("logger") == "microspace.access"]
    assert {line["request_id"] for line in access} >= {plain, replaced}


CREATE = """mutation($input: ContactCreateInput!) { contactCreate(input: $input) {
  contact { id email fullName } userErrors { code } } }"""
READ = "{ contacts(first: 50) { edges { node { email fullName company phone } } } }"


async def test_logs_hold_no_personal_value_and_no_export_token(
    api, app, new_tenant, new_member, settings, monkeypatch, json_logs
):
    marker = "zq" + uuid.uuid4().hex[:10]
    tenant = await new_tenant()
    owner, viewer = api(tenant.token), api((await new_member(tenant.tenant_id, "viewer")).token)
    contact = {
        "email": f"{marker}@example.com",
        "fullName": f"Name {marker}",
        "company": f"Company {marker}",
        "phone": "+41 44 000 00 00",
    }
    # given personal values carrying a marker, written and read
    created = await owner(CREATE, {"input": contact})
    assert created["data"]["contactCreate"]["userErrors"] == []
    contact_id = created["data"]["contactCreate"]["contact"]["id"]
    duplicate = await owner(CREATE, {"input": contact})
    assert duplicate["data"]["contactCreate"]["userErrors"][0]["code"] == "DUPLICATE_EMAIL"
    assert marker in json.dumps(await owner(READ))
    await viewer(READ)  # masked or withheld for a viewer
    # denied, missing, invalid and unauthenticated requests
    denied = await viewer(
        "mutation($id: ID!) { contactDelete(id: $id) { deletedContactId } }", {"id": contact_id}
    )
    assert error_codes(denied) == ["FORBIDDEN"]
    assert error_codes(await owner('{ node(id: "Q29udGFjdDp4") { id } }'))
    bad = await owner.client.post(
        "/graphql",
        json={"query": "{ contacts(search: 1) { totalCount }"},
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert bad.status_code in (200, 400)
    assert error_codes(await api(None)(READ)) == ["UNAUTHENTICATED"]
    # an unexpected failure whose message quotes a personal value
    import resolvers.contacts

    def boom(*_, **__):
        raise ValueError(f"duplicate key value (email)=({marker}@example.com)")

    monkeypatch.setattr(resolvers.contacts, "search_clause", boom)
    # the compiled read path answers searches itself: the failure is the resolver path's
    monkeypatch.setattr(app.state.compiled_reads, "enabled", False)
    failed = await owner('{ contacts(search: "x") { totalCount } }')
    assert error_codes(failed) == ["INTERNAL_SERVER_ERROR"]
    # export downloads, valid-looking and malformed
    tokens = [
        sign_link(
            settings.secret(),
            tenant_id=tenant.tenant_id,
            request_id=uuid.uuid4(),
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        ),
        "not-a-link-" + uuid.uuid4().hex,
    ]
    for token in tokens:
        r = await owner.client.get(
            f"/exports/{token}", headers={"Authorization": f"Bearer {tenant.token}"}
        )
        assert r.status_code in (400, 404, 410)

    # then every line is JSON with a request id, and none holds what it must not
    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) >= 10
    assert marker not in text
    assert "Traceback" not in text
    for token in tokens:
        assert token not in text
    assert not [line for line in lines if line.get("logger", "").startswith("casbin")]
    routes = {line.get("route") for line in lines if line.get("logger") == "microspace.access"}
    assert {"/graphql", "/exports/{token}"} <= routes
    assert all(
        line.get("request_id") for line in lines if line.get("logger") == "microspace.access"
    )
    unexpected = [line for line in lines if line.get("error") == "ValueError"]
    assert len(unexpected) == 1 and unexpected[0]["request_id"] and unexpected[0]["frames"]


SPACES = "query Few { spaces(first: 2) { edges { node { id title } } } }"


async def test_fast_lane_answers_carry_what_the_middleware_stack_adds(
    app, client, new_tenant, json_logs
):
    """A request the fast lane answers skips the middleware stack (microspace/lane/front_door.py)
    yet gets the same request id, `Vary`, media type, metrics and access line."""
    tenant = await new_tenant()
    lane = app.state.fast_lane
    auth = {"Authorization": f"Bearer {tenant.token}"}
    few = (("operation", "Few"), ("outcome", "ok"), ("type", "query"))
    counted = samples((await client.get("/metrics", headers=METRICS_AUTH)).text).get(
        ("microspace_graphql_requests_total", few), 0.0
    )
    plain = "req-" + uuid.uuid4().hex
    asks = {**auth, "X-Request-ID": plain, "Accept": "application/graphql-response+json"}
    whole = await client.post("/graphql", json={"query": SPACES}, headers=asks)
    answered = lane.answered
    fast = await client.post("/graphql", json={"query": SPACES}, headers=asks)
    assert lane.answered == answered + 1
    assert fast.json() == whole.json() and "errors" not in fast.json()
    for header in ("x-request-id", "vary", "content-type", "ratelimit-policy"):
        assert fast.headers[header] == whole.headers[header], header
    assert fast.headers["x-request-id"] == plain
    assert fast.headers["content-type"] == "application/graphql-response+json"
    forged = await client.post(
        "/graphql", json={"query": SPACES}, headers={**auth, "X-Request-ID": 'x" level=error'}
    )
    assert lane.answered == answered + 2
    replaced = forged.headers["x-request-id"]
    assert len(replaced) == 32 and forged.headers["content-type"] == "application/json"
    # a request the lane declines is asked once and counted once, by the whole way
    misses = sum(lane.misses.values())
    unknown = f"query Once{uuid.uuid4().hex} {{ spaces {{ totalCount }} }}"  # not known yet
    other = await client.post("/graphql", json={"query": unknown}, headers=auth)
    assert other.status_code == 200 and sum(lane.misses.values()) == misses + 1
    scraped = samples((await client.get("/metrics", headers=METRICS_AUTH)).text)
    assert scraped[("microspace_graphql_requests_total", few)] == counted + 3
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    access = [line for line in lines if line.get("logger") == "microspace.access"]
    graphql = [line for line in access if line.get("route") == "/graphql"]
    assert {line["request_id"] for line in graphql} >= {plain, replaced}
    assert len(graphql) == 4 and all(line["status"] == 200 for line in graphql)
    # an Origin header is for CORS to decide, not the front door: a known document from a
    # known token is refused from an origin the credential may not be used from
    answered = lane.answered
    foreign = await client.post(
        "/graphql", json={"query": SPACES}, headers={**auth, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and error_codes(foreign.json()) == ["ORIGIN_NOT_ALLOWED"]
    assert lane.answered == answered


async def test_metrics_answer_only_the_configured_token(settings, client):
    # given the tests' app, configured with a metrics token
    assert (await client.get("/metrics", headers=METRICS_AUTH)).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp4"}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert error_codes(refused.json()) == ["UNAUTHENTICATED"]
        assert "microspace_" not in refused.text
    # and a production app without one: nobody scrapes it, and the answer says what to set
    app = create_app(
        replace(settings, dev_mode=False, metrics_token=None, public_url="https://api.test.example")
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            closed = await c.get("/metrics", headers=METRICS_AUTH)
    finally:
        await app.state.microspace.engine.dispose()
    assert closed.status_code == 403
    assert error_codes(closed.json()) == ["METRICS_TOKEN_NOT_SET"]
    assert "MICROSPACE_METRICS_TOKEN" in closed.json()["errors"][0]["message"]


async def test_one_tenant_cannot_blind_another_s_operation_labels(client, api, new_tenant):
    noisy, quiet = await new_tenant(), await new_tenant()
    run = uuid.uuid4().hex[:8]
    # given a tenant that sends more operation names than its share
    flood = [f"Flood{run}n{i}" for i in range(TENANT_OPERATIONS + 5)]
    loud = api(noisy.token)
    for name in flood:
        assert "errors" not in await loud(f"query {name} {{ spaces {{ totalCount }} }}")
    # when another tenant runs a named operation
    named = f"Quiet{run}"
    assert "errors" not in await api(quiet.token)(f"query {named} {{ spaces {{ totalCount }} }}")

    # then the other tenant's operation has its label, and the noisy one's overflow is
    # counted as `other`
    scraped = samples((await client.get("/metrics", headers=METRICS_AUTH)).text)
    labelled = {
        dict(labels)["operation"]
        for name, labels in scraped
        if name == "microspace_graphql_requests_total"
    }
    assert named in labelled
    assert [n for n in flood if n in labelled] == flood[:TENANT_OPERATIONS]
    other = (("operation", "other"), ("outcome", "ok"), ("type", "query"))
    assert scraped[("microspace_graphql_requests_total", other)] >= 5


async def test_metrics_show_what_the_fast_lane_answered_and_missed(app, client, new_tenant):
    tenant = await new_tenant()
    auth = {"Authorization": f"Bearer {tenant.token}"}

    def lane_series(text: str) -> tuple[float, float, float]:
        scraped = samples(text)
        answered = scraped.get(("microspace_fast_lane_answered_total", ()), 0.0)
        unknown = (("cause", "document not known yet"),)
        missed = scraped.get(("microspace_fast_lane_missed_total", unknown), 0.0)
        compiled = scraped.get(("microspace_compiled_reads_total", ()), 0.0)
        return answered, missed, compiled

    await client.post("/graphql", json={"query": SPACES}, headers=auth)  # the token, learned
    before = lane_series((await client.get("/metrics", headers=METRICS_AUTH)).text)
    fresh = f"query Fresh{uuid.uuid4().hex[:8]} {{ spaces {{ totalCount }} }}"
    await client.post("/graphql", json={"query": fresh}, headers=auth)  # missed: not known yet
    await client.post("/graphql", json={"query": fresh}, headers=auth)  # answered
    after = lane_series((await client.get("/metrics", headers=METRICS_AUTH)).text)

    assert after[0] == before[0] + 1
    assert after[1] == before[1] + 1
    assert after[2] == before[2] + 2  # both answered by the compiled statement, one on the lane


def test_request_metrics_counted_per_scrape_are_what_each_observation_gives():
    """core/metrics.py counts a request's three observations in plain numbers (`Tallies`)
    and adds them when the registry is collected: the exposition is the one observing each
    request gives (the latency's values aside: a clock's), at every scrape."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from core.metrics import LATENCY_BUCKETS, STATEMENT_BUCKETS, Metrics, count_statements

    metrics = Metrics()
    reference = CollectorRegistry()  # the same metrics, each request observed as it comes
    requests = Counter(
        "microspace_graphql_requests", "", ["operation", "type", "outcome"], registry=reference
    )
    statements = Histogram(
        "microspace_graphql_sql_statements", "", buckets=STATEMENT_BUCKETS, registry=reference
    )
    latency = Histogram(
        "microspace_graphql_request_duration_seconds",
        "",
        ["type", "outcome"],
        buckets=LATENCY_BUCKETS,
        registry=reference,
    )

    def samples(registry):
        text = generate_latest(registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name.startswith("microspace_graphql") and not s.name.endswith("_created")
        }

    sent = [
        ("A", "query", "ok", 0),
        ("A", "query", "ok", 3),
        ("B", "mutation", "rejected", 4),
        ("A", "query", "ok", 200),
        (None, "query", "ok", 1),
    ]
    for round_ in range(2):  # scraped between: nothing counted twice
        for name, kind, outcome, n in sent:
            with metrics.request() as report:
                count_statements(n)
                report(name, kind, outcome, tenant="t")
            requests.labels(name or "anonymous", kind, outcome).inc()
            statements.observe(n)
            latency.labels(kind, outcome).observe(0.001)
        ours, want = samples(metrics.registry), samples(reference)
        assert ours.keys() == want.keys()
        clock = "microspace_graphql_request_duration_seconds"
        assert {k: v for k, v in ours.items() if not k[0].startswith(clock)} == {
            k: v for k, v in want.items() if not k[0].startswith(clock)
        }, round_
        counts = {k: v for k, v in ours.items() if k[0] == clock + "_count"}
        assert counts == {k: v for k, v in want.items() if k[0] == clock + "_count"}
        every = {
            k: v for k, v in ours.items() if k[0] == clock + "_bucket" and ("le", "+Inf") in k[1]
        }
        assert sorted(every.values()) == sorted(counts.values())
