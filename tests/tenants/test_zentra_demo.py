"""`manage.py zentra_demo` (run by `make run`): idempotent, and each run prints a
working key while the previous demo key stops working."""
from __future__ import annotations

import json

from django.core.management import call_command
from django.test import Client
from django_tenants.utils import schema_context

from tenants.models import ApiKey, Tenant
from tests.problems import assert_problem
from users.models import User


def _demo(capsys) -> dict:
    call_command("zentra_demo", "--json", "--port", "8123")
    return json.loads(capsys.readouterr().out)


def test_zentra_demo_is_idempotent_and_rotates_its_key(capsys, api_client):
    first = _demo(capsys)
    assert first["console_url"] == "http://demo.localhost:8123/console/"
    assert first["api_docs"] == "http://127.0.0.1:8123/v1/docs"
    assert {u["role"] for u in first["users"]} == {"viewer", "operator", "approver", "compliance", "admin"}
    assert api_client(first["api_key"]).get("/v1/tenant").json()["tenant"] == "demo"

    second = _demo(capsys)
    assert second["users"] == first["users"]
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert ApiKey.objects.filter(tenant__slug="demo", name="demo", revoked_at__isnull=True).count() == 1
    assert_problem(api_client(first["api_key"]).get("/v1/tenant"), 401, "api_key_revoked")
    assert api_client(second["api_key"]).get("/v1/tenant").status_code == 200

    with schema_context("t_demo"):
        roles = dict(User.objects.values_list("username", "role"))
    assert roles == {u["username"]: u["role"] for u in second["users"]}

    # The printed credentials open the console at the printed hostname.
    operator = next(u for u in second["users"] if u["role"] == "operator")
    client = Client()
    login = client.post(
        "/console/login/", {"username": operator["username"], "password": operator["password"]},
        HTTP_HOST="demo.localhost:8123",
    )
    assert login.status_code == 302
    assert client.get("/console/", HTTP_HOST="demo.localhost:8123").status_code == 200
