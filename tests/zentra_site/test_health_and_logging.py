"""/healthz, correlation ids, structured logs."""
from __future__ import annotations

import io
import json
import logging

from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string

from zentra_site.logging import ContextFilter


def test_healthz_reports_database_and_redis():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_correlation_id_is_echoed(api_client, tenant_a):
    client = api_client(tenant_a.api_key.plaintext)
    response = client.get("/v1/tenant", HTTP_X_CORRELATION_ID="req-4711.retry:2")
    assert response["X-Correlation-Id"] == "req-4711.retry:2"

    # Problems carry it in the body too, so a support ticket can quote it.
    problem = api_client().get("/v1/tenant", HTTP_X_CORRELATION_ID="req-4712")
    assert problem["X-Correlation-Id"] == "req-4712"
    assert problem.json()["correlation_id"] == "req-4712"


def test_correlation_id_is_minted_when_missing_or_unsafe():
    minted = Client().get("/healthz")["X-Correlation-Id"]
    assert minted.startswith("cid_")
    for unsafe in ("has spaces", "x" * 129, "new\nline", "<script>"):
        echoed = Client().get("/healthz", HTTP_X_CORRELATION_ID=unsafe)["X-Correlation-Id"]
        assert echoed.startswith("cid_") and echoed != unsafe


def _json_handler() -> tuple[logging.Handler, io.StringIO]:
    """A handler built exactly like the configured JSON one (settings.LOGGING)."""
    cfg = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(cfg.pop("()"))(**cfg)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    return handler, stream


def test_log_lines_are_json_with_the_correlation_id(api_client, tenant_a):
    handler, stream = _json_handler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        # A 404 is logged by django.request while the request is being served.
        api_client(tenant_a.api_key.plaintext).get("/v1/no-such-thing", HTTP_X_CORRELATION_ID="req-log-1")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    ours = [line for line in lines if line.get("correlation_id") == "req-log-1"]
    assert ours, stream.getvalue()
    assert {"ts", "level", "logger", "message", "tenant"} <= ours[0].keys()
    assert ours[0]["logger"] == "django.request"


def test_static_files_are_served():
    response = Client().get("/static/zentra/console.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
