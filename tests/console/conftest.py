"""Console fixtures: a tenant with one user per role, the seed's ledger, and
an approval threshold; Django test clients that log in through the real
login form on the tenant's hostname."""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from audit.actors import Actor
from ledger.services.demo import demo_seed
from ledger.services.policies import policy_create
from users.models import Role, User

# The browser fixtures are session-scoped (one server, one Chromium): they are
# defined once here for every module under tests/console. A module importing
# them itself would get its own copies, and a second Playwright in one session.
from .browser import browser, console_server  # noqa: E402,F401

PASSWORD = "console-pass-123"
THRESHOLD = 100_000
SETUP = Actor.system("tests")


@dataclass
class ConsoleTenant:
    provisioned: object
    users: dict[str, User] = field(default_factory=dict)

    @property
    def tenant(self):
        return self.provisioned.tenant

    @property
    def host(self) -> str:
        return self.provisioned.domain.domain

    @contextmanager
    def schema(self):
        with schema_context(self.tenant.schema_name):
            yield
        connection.set_schema_to_public()

    def client(self, username: str | None = None, *, csrf: bool = False) -> Client:
        """A client on this tenant's host, logged in through the login form."""
        c = Client(enforce_csrf_checks=csrf, HTTP_HOST=self.host)
        if username:
            login(c, username)
        return c


def login(client: Client, username: str, password: str = PASSWORD):
    page = client.get("/console/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    r = client.post("/console/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token})
    assert r.status_code == 302, f"login of {username} failed: {r.status_code}"
    return r


def csrf_token(client: Client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def form_value(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html) or re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    assert m, f"no input {name}"
    return m.group(1)


def make_console_tenant(tenant_factory, *, threshold: int | None = THRESHOLD, name: str = "Acme Payments") -> ConsoleTenant:
    ct = ConsoleTenant(tenant_factory(name=name))
    with ct.schema():
        for username, role, staff in (
            ("viewer1", Role.VIEWER, False), ("operator1", Role.OPERATOR, False), ("operator2", Role.OPERATOR, False),
            ("approver1", Role.APPROVER, False), ("approver2", Role.APPROVER, False),
            ("compliance1", Role.COMPLIANCE, False), ("admin1", Role.ADMIN, True),
        ):
            ct.users[username] = User.objects.create_user(username=username, password=PASSWORD, role=role,
                                                          is_staff=staff)
        demo_seed(tenant=ct.tenant.slug)
        if threshold is not None:
            policy_create(actor=SETUP, name="four_eyes", kind="approval_threshold",
                          params={"threshold_minor": threshold}, applies_to_all=True,
                          description="Manual entries above 1,000.00 need a second person")
    return ct


@pytest.fixture
def console_tenant(tenant_factory) -> ConsoleTenant:
    return make_console_tenant(tenant_factory)


@pytest.fixture
def other_tenant(tenant_factory) -> ConsoleTenant:
    return make_console_tenant(tenant_factory, name="Globex Wallets")


def new_key() -> str:
    return f"con_{uuid.uuid4().hex}"


def entry_form(*, debit="customer_balance", credit="reserved_balance", amount=2500, key=None, **extra) -> dict:
    return {"debit": debit, "credit": credit, "amount_minor": str(amount), "description": "console test",
            "external_reference": "", "source_event": "", "idempotency_key": key or new_key(), **extra}
