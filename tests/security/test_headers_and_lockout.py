"""Production settings, security headers, sessions bound to their tenant,
and the sign-in lockout (console and admin)."""
from __future__ import annotations

import re
import secrets
import subprocess
import sys

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from core.redis import redis_client
from tests.conftest import ROOT, subprocess_env
from users.services.users import user_ensure
from core.actors import Actor

PASSWORD = "correct-horse-battery"


def _check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = subprocess_env() | {"DJANGO_SETTINGS_MODULE": "zentra_site.settings.production"} | extra_env
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the Playwright tests in this process;
    # a deployment never has it (check --deploy reports async.E001).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    for name in ("DJANGO_SECRET_KEY", "ZENTRA_API_KEY_PEPPER", "ZENTRA_ALLOWED_HOSTS", "ZENTRA_DEBUG"):
        if name not in extra_env:
            env.pop(name, None)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_env():
    done = _check_deploy({
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "ZENTRA_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "ZENTRA_ALLOWED_HOSTS": ".zentra.example.com", "ZENTRA_DEBUG": "false",
    })
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_refuses_the_development_defaults():
    done = _check_deploy({})
    assert done.returncode != 0
    for code in ("zentra.E001", "zentra.E002", "zentra.E003"):
        assert code in done.stdout + done.stderr


def test_console_pages_carry_csp_and_security_headers(tenant_a):
    resp = Client().get("/console/login/", HTTP_HOST=tenant_a.domain.domain)
    assert resp.status_code == 200
    csp = resp["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert b"<script>" not in resp.content  # nothing inline for the policy to block
    assert resp["X-Frame-Options"] == "DENY"
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Referrer-Policy"] == "same-origin"


def test_production_cookies_are_secure():
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT)"],
        cwd=ROOT, env=subprocess_env() | {"DJANGO_SETTINGS_MODULE": "zentra_site.settings.production"},
        capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.split() == ["True", "True", "True", "True"], out.stderr


def test_session_cookie_of_a_is_not_a_login_at_b(tenant_a, tenant_b):
    with schema_context(tenant_a.tenant.schema_name):
        user_ensure(actor=Actor.system("tests"), username="ops", role="admin", password=PASSWORD)
    a = Client()
    assert a.post("/console/login/", {"username": "ops", "password": PASSWORD},
                  HTTP_HOST=tenant_a.domain.domain).status_code == 302
    sessionid = a.cookies["sessionid"].value
    b = Client()
    b.cookies["sessionid"] = sessionid
    resp = b.get("/console/", HTTP_HOST=tenant_b.domain.domain)
    assert resp.status_code == 302 and resp["Location"].startswith("/console/login/")
    assert b.get("/admin/", HTTP_HOST=tenant_b.domain.domain).status_code == 302


@pytest.fixture
def operator(tenant_a):
    with schema_context(tenant_a.tenant.schema_name):
        user_ensure(actor=Actor.system("tests"), username="ops", role="admin", password=PASSWORD, is_staff=True, is_superuser=True)
    yield tenant_a
    r = redis_client()
    for k in r.scan_iter("zentra:login:*"):
        r.delete(k)


def _login(client, host, password, path="/console/login/", ip="203.0.113.7"):
    return client.post(path, {"username": "ops", "password": password}, HTTP_HOST=host, REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", ["/console/login/", "/admin/login/"])
def test_five_failures_lock_the_username_from_that_ip(operator, path):
    host, client = operator.domain.domain, Client()
    for _ in range(4):
        resp = _login(client, host, "wrong-password", path)
        assert resp.status_code == 200 and b"locked" not in resp.content
    locked = _login(client, host, "wrong-password", path)
    assert b"Sign-in is locked for 15 more minutes" in locked.content
    # Even the right password is refused while locked, with the same message.
    right = _login(client, host, PASSWORD, path)
    assert right.status_code == 200 and b"Sign-in is locked" in right.content
    # Another IP is not locked out by someone else's guessing.
    assert _login(Client(), host, PASSWORD, path, ip="198.51.100.9").status_code == 302
    with schema_context(operator.tenant.schema_name):
        events = list(AuditEvent.objects.filter(action="auth.login_locked"))
    assert len(events) == 1
    assert events[0].target_id == "ops" and events[0].ip == "203.0.113.7"
    assert events[0].metadata["surface"] == ("admin" if path.startswith("/admin") else "console")


def test_success_clears_the_failure_count(operator):
    host = operator.domain.domain
    for _ in range(4):
        _login(Client(), host, "wrong-password")
    assert _login(Client(), host, PASSWORD).status_code == 302
    for _ in range(4):
        assert b"locked" not in _login(Client(), host, "wrong-password").content


@pytest.mark.parametrize("path", ["/console/login/", "/admin/login/"])
@pytest.mark.parametrize("spelling", ["ｏｐｓ", "𝐨𝐩𝐬", "OPS"])
def test_look_alike_spellings_share_the_lockout(operator, path, spelling):
    """The username field applies NFKC before authenticating, so a fullwidth
    or mathematical-bold spelling signs in as the same user: it must count
    against, and be refused by, that user's lock."""
    host = operator.domain.domain
    for _ in range(4):
        _login(Client(), host, "wrong-password", path)
    # The fifth failure, sent under another spelling, still reaches the threshold.
    locked = Client().post(path, {"username": spelling, "password": "wrong-password"}, HTTP_HOST=host,
                           REMOTE_ADDR="203.0.113.7")
    assert b"Sign-in is locked" in locked.content
    for name in ("ops", spelling):
        right = Client().post(path, {"username": name, "password": PASSWORD}, HTTP_HOST=host,
                              REMOTE_ADDR="203.0.113.7")
        assert right.status_code == 200 and b"Sign-in is locked" in right.content, name
    with schema_context(operator.tenant.schema_name):
        assert AuditEvent.objects.filter(action="auth.login_locked").count() == 1


def test_csrf_token_lives_in_the_tenant_session_not_a_plantable_cookie(operator):
    """Every tenant is a subdomain of one parent domain: a page on another
    tenant's host could set a csrftoken cookie for the parent domain and
    submit a matching form token. The token lives in the session (bound to
    its tenant), so a planted pair is refused."""
    host = operator.domain.domain
    page = Client().get("/console/login/", HTTP_HOST=host)
    assert "csrftoken" not in page.cookies
    planted = "A" * 32
    attacker = Client(enforce_csrf_checks=True)
    attacker.cookies["csrftoken"] = planted
    r = attacker.post("/console/login/", {"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": planted},
                      HTTP_HOST=host)
    assert r.status_code == 403
    # The real form still works: its token comes from this client's session.
    real = Client(enforce_csrf_checks=True)
    form = real.get("/console/login/", HTTP_HOST=host).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert real.post("/console/login/", {"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token},
                     HTTP_HOST=host).status_code == 302


def test_auth_groups_are_not_editable_on_a_tenant_host(operator):
    """Groups carry permissions: platform staff manage them on the platform
    host; a tenant's superuser in the admin on its own host cannot."""
    c = Client(HTTP_HOST=operator.domain.domain)
    assert c.post("/admin/login/?next=/admin/", {"username": "ops", "password": PASSWORD}).status_code == 302
    assert "Groups" not in c.get("/admin/").content.decode()
    assert c.get("/admin/auth/group/").status_code == 403
    assert c.get("/admin/auth/group/add/").status_code == 403
    r = c.post("/admin/auth/group/add/", {"name": "escalated"})
    assert r.status_code == 403
    from django.contrib.auth.models import Group
    with schema_context(operator.tenant.schema_name):
        assert not Group.objects.filter(name="escalated").exists()
