"""Isolation and authorization matrix.

Every /v1 operation in the generated OpenAPI schema x {own key, other
tenant's key, no key, revoked key, wrong-scope key}, and every console URL in
the URL resolver x {anonymous, another tenant's user, each role}. Nothing is
listed by hand: endpoints other apps add are covered the day they land.
"""
from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import get_resolver, resolve
from django_tenants.utils import schema_context
from drf_spectacular.generators import SchemaGenerator

from tenants.models import SCOPES
from tenants.services.api_keys import api_key_create, api_key_revoke
from users.models import ROLE_CAPABILITIES, Role
from users.services.users import user_ensure
from core.actors import Actor

METHODS = ("get", "post", "put", "patch", "delete")
PASSWORD = "correct-horse-battery"


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _example(schema: dict, node: dict, depth: int = 0):
    """A minimal value that satisfies `node` (required properties only)."""
    if "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "allOf" in node:
        return _example(schema, node["allOf"][0], depth)
    if "oneOf" in node or "anyOf" in node:
        return _example(schema, (node.get("oneOf") or node.get("anyOf"))[0], depth)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {k: _example(schema, node["properties"][k], depth + 1)
                for k in node.get("required", []) if k in node.get("properties", {})}
    if kind == "array":
        return [_example(schema, node.get("items", {}), depth + 1) for _ in range(node.get("minItems", 0))]
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "boolean":
        return False
    return "x" * max(1, node.get("minLength", 1))


def _body(schema: dict, op: dict):
    content = op.get("requestBody", {}).get("content", {})
    node = content.get("application/json", {}).get("schema")
    return None if node is None else _example(schema, node)


class World:
    """Tenant A with one of each resource, tenant B, and keys of every kind."""

    def __init__(self, tenant_a, tenant_b, api_client, schema):
        self.a, self.b, self.schema = tenant_a, tenant_b, schema
        self.own = api_client(tenant_a.api_key.plaintext)
        self.other = api_client(tenant_b.api_key.plaintext)
        self.anon = api_client()
        revoked = api_key_create(actor=Actor.system("tests"), tenant=tenant_a.tenant, name="revoked", scopes=list(SCOPES))
        api_key_revoke(actor=Actor.system("tests"), api_key=revoked.api_key)
        self.revoked = api_client(revoked.plaintext)
        self.api_client = api_client
        tag = uuid.uuid4().hex[:8]
        self.account_code = f"acct_{tag}"
        for code, side, kind in ((self.account_code, "credit", "liability"), (f"cash_{tag}", "debit", "asset")):
            r = self.own.post("/v1/accounts", {"code": code, "name": code, "currency": "USD",
                                               "normal_side": side, "kind": kind}, format="json")
            assert r.status_code == 201, r.content
        entry = self.own.post("/v1/ledger-entries", {
            "debit": f"cash_{tag}", "credit": self.account_code, "amount_minor": 100, "currency": "USD",
            "idempotency_key": f"m_{tag}"}, format="json")
        assert entry.status_code == 201, entry.content
        self.policy_name = f"pol_{tag}"
        assert self.own.post("/v1/policies", {"name": self.policy_name, "kind": "max_amount",
                                              "params": {"max_amount_minor": 10**9}},
                             format="json").status_code == 201
        spare = api_key_create(actor=Actor.system("tests"), tenant=tenant_a.tenant, name="spare", scopes=["ledger:read"])
        self.values = {"account_ref": self.account_code, "entry_ref": str(entry.json()["id"]),
                       "name": self.policy_name, "key_id": str(spare.api_key.pk)}

    def fill(self, path: str) -> str:
        def value(m):
            name = m.group(1)
            if name not in self.values:
                self.values[name] = self._discover(path[: m.start()].rstrip("/"))
            return self.values[name]

        return re.sub(r"\{(\w+)\}", value, path)

    def _discover(self, collection: str) -> str:
        """An id of tenant A's for a path parameter no one told us about: the
        first item of the collection's list, if the collection can list."""
        if "{" not in collection:
            r = self.own.get(collection)
            if r.status_code == 200:
                body = r.json()
                items = body.get("results", body.get("data", [])) if isinstance(body, dict) else body
                if items and isinstance(items[0], dict):
                    for k in ("id", "code", "name"):
                        if k in items[0]:
                            return str(items[0][k])
        return "1"

    def call(self, client, method: str, path: str, body):
        return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)

    def scope_client(self, path: str, method: str):
        view = resolve(path).func
        scopes = getattr(getattr(view, "view_class", None), "required_scopes", {})
        needed = scopes.get(method.upper()) or scopes.get("*")
        granted = [s for s in SCOPES if s not in (needed, "admin")]
        key = api_key_create(actor=Actor.system("tests"), tenant=self.a.tenant, name="narrow", scopes=granted)
        return self.api_client(key.plaintext), needed


@pytest.fixture
def world(tenant_a, tenant_b, api_client):
    return World(tenant_a, tenant_b, api_client, _schema())


def test_schema_lists_the_v1_operations():
    ops = list(_operations(_schema()))
    assert len(ops) >= 10
    assert ("/v1/ledger-entries", "post") in {(p, m) for p, m, _ in ops}


def test_no_key_and_revoked_key_get_401_everywhere(world):
    for path, method, op in _operations(world.schema):
        url, body = world.fill(path), _body(world.schema, op)
        for client, code in ((world.anon, "not_authenticated"), (world.revoked, "api_key_revoked")):
            r = world.call(client, method, url, body)
            assert r.status_code == 401, (method, url, code, r.status_code, r.content[:200])
            assert r.json()["code"] == code


def test_wrong_scope_key_gets_403_everywhere(world):
    for path, method, op in _operations(world.schema):
        url = world.fill(path)
        client, needed = world.scope_client(url, method)
        r = world.call(client, method, url, _body(world.schema, op))
        assert r.status_code == 403, (method, url, needed, r.status_code, r.content[:200])


def test_other_tenants_key_never_reaches_tenant_a(world):
    checked = 0
    for path, method, op in _operations(world.schema):
        url, body = world.fill(path), _body(world.schema, op)
        r = world.call(world.other, method, url, body)
        assert not 200 <= r.status_code < 300 or "{" not in path, (method, url, r.status_code)
        assert r.status_code < 500, (method, url, r.content[:300])
        if r.status_code < 300:  # a 404 may echo the requested code; a 2xx must not show A's data
            assert world.account_code.encode() not in r.content, (method, url)
        if "{" in path:
            checked += 1
            if r.status_code != 404:
                # Only acceptable when the request never got as far as a
                # lookup: the same body is refused to A's own key too.
                mine = world.call(world.own, method, url, body)
                assert r.status_code == mine.status_code == 400, (method, url, r.status_code, r.content[:300])
    assert checked >= 5


def test_own_key_is_authorized_everywhere(world):
    for path, method, op in _operations(world.schema):
        url = world.fill(path)
        r = world.call(world.own, method, url, _body(world.schema, op))
        assert r.status_code not in (401, 403) and r.status_code < 500, (method, url, r.status_code, r.content[:300])


# --- mass assignment -------------------------------------------------------------
def _server_set_fields(schema: dict, op: dict) -> set[str]:
    """Fields a response shows but the request schema does not accept: ids,
    balances, status, tenant… The server sets them; a client must not."""
    def props(node):
        if node and "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        return set((node or {}).get("properties", {}))

    req = props(op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
    out = set()
    for status in ("200", "201"):
        out |= props(op.get("responses", {}).get(status, {}).get("content", {}).get("application/json", {}).get("schema"))
    return (out - req) | {"tenant", "tenant_id", "id"}


def test_read_only_fields_cannot_be_set(world):
    tag = uuid.uuid4().hex[:8]
    valid = {
        "/v1/accounts": {"code": f"ma_{tag}", "name": "M", "currency": "USD", "normal_side": "credit",
                         "kind": "liability"},
        "/v1/policies": {"name": f"mp_{tag}", "kind": "max_amount", "params": {"max_amount_minor": 5}},
        "/v1/api-keys": {"name": "m", "scopes": ["ledger:read"]},
        "/v1/ledger-entries": {"debit": world.account_code, "credit": f"cash_{world.account_code[5:]}",
                               "amount_minor": 1, "currency": "USD", "idempotency_key": f"ma_{tag}"},
    }
    ops = {(p, m): op for p, m, op in _operations(world.schema)}
    tried = 0
    for path, body in valid.items():
        for field in sorted(_server_set_fields(world.schema, ops[(path, "post")])):
            injected = {**body, field: {"id": 999} if field == "balances" else "injected-999"}
            r = world.own.post(path, injected, format="json")
            tried += 1
            if r.status_code < 300:
                assert r.json().get(field) != injected[field], (path, field)
            else:
                assert r.status_code == 400 and r.json()["code"] == "unknown_field", (path, field, r.content[:200])
        assert world.own.post(path, body, format="json").status_code == 201, path
    assert tried >= 10


SENTINEL = "injected-999"
# Write operations whose refusal of server-set fields this test cannot show,
# and why (each must stay justified: the list is checked to be exact).
NO_JSON_BODY = {("/v1/reconciliations", "post"): "multipart file upload; form fields are read by name only"}


def test_every_write_operation_refuses_server_set_fields(world):
    """Mass assignment on every POST/PUT/PATCH of the schema, not a chosen
    few: the fields a response shows but the request does not accept
    (tenant, balances, status, ids, versions, …), injected all at once, are
    refused (400 unknown_field) or ignored (not echoed)."""
    checked, no_body = [], set()
    for path, method, op in _operations(world.schema):
        if method not in ("post", "put", "patch"):
            continue
        content = op.get("requestBody", {}).get("content", {})
        if content and "application/json" not in content:
            no_body.add((path, method))
            continue
        fields = _server_set_fields(world.schema, op) | {"status", "balances", "posted_balance", "available_balance"}
        node = content.get("application/json", {}).get("schema") or {}
        if "$ref" in node:
            node = world.schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        fields -= set(node.get("properties", {}))
        body = _body(world.schema, op) or {}
        injected = {**body, **{f: SENTINEL for f in fields}}
        r = world.call(world.own, method, world.fill(path), injected)
        assert r.status_code < 500, (method, path, r.content[:300])
        if r.status_code < 300:
            echoed = {f for f in fields if SENTINEL in str(r.json().get(f, ""))}
            assert echoed == set(), (method, path, echoed)
        elif content:
            # An operation with a body must say why it refused: the fields.
            assert r.status_code == 400 and r.json()["code"] == "unknown_field", (method, path, r.status_code,
                                                                                  r.content[:300])
        # A body-less action (close, freeze, revoke, …) reads no body: it
        # either did its one thing without echoing the fields, or refused
        # for its own reason (the account is already closed, say).
        checked.append((method, path))
    assert no_body == set(NO_JSON_BODY)
    assert len(checked) >= 25


# --- console -----------------------------------------------------------------------
def _console_urls():
    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, route)
            else:
                yield route, p.callback

    for route, view in walk(get_resolver().url_patterns, "/"):
        if route.startswith("/console/"):
            path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: {"int": "1", "uuid": str(uuid.UUID(int=1))}.get(
                m.group(1), "x"), route)
            yield path.replace("^", "").replace("$", ""), view


def _logged_in(provisioned, role: str) -> Client:
    username = f"{role}_{uuid.uuid4().hex[:6]}"
    with schema_context(provisioned.tenant.schema_name):
        user_ensure(actor=Actor.system("tests"), username=username, role=role, password=PASSWORD)
    client = Client()
    assert client.post("/console/login/", {"username": username, "password": PASSWORD},
                       HTTP_HOST=provisioned.domain.domain).status_code == 302
    return client


PUBLIC_CONSOLE = {"/console/login/"}


def test_console_matrix(tenant_a, tenant_b):
    urls = list(_console_urls())
    assert any(u == "/console/" for u, _ in urls)
    host = tenant_a.domain.domain
    anonymous, stranger = Client(), _logged_in(tenant_b, Role.ADMIN)
    roles = {role: _logged_in(tenant_a, role) for role in Role.values}
    for url, view in urls:
        if url in PUBLIC_CONSOLE:
            continue
        for who, client in (("anonymous", anonymous), ("other tenant's admin", stranger)):
            r = client.get(url, HTTP_HOST=host)
            assert not 200 <= r.status_code < 300, (who, url, r.status_code)
        capability = getattr(view, "console_capability", None)
        for role, client in roles.items():
            r = client.get(url, HTTP_HOST=host)
            allowed = capability is not None and capability in ROLE_CAPABILITIES[role]
            if capability is None:
                continue  # not a console_view (e.g. logout): only the anonymous rows above apply
            if allowed:
                assert r.status_code not in (302, 403) and r.status_code < 500, (role, url, r.status_code)
            else:
                # 403, or 404 for a page that does not exist on a tenant's host
                # (the platform page lives on the public host): never a 2xx.
                assert r.status_code in (403, 404), (role, url, capability, r.status_code)


# --- nothing skipped silently ----------------------------------------------------------
# Routes under /v1 that are not operations of the API (no key needed, by design).
# /v1 routes outside the matrix, and why.
NOT_OPERATIONS = {
    "/v1/schema": "the public API description",
    "/v1/docs": "the public API description",
    # Authenticated by the provider's signature, not an API key, and routed by
    # host: tests/providers covers bad, stale and other-tenant signatures and
    # another tenant's provider path.
    "/v1/inbound/{provider}": "provider callbacks (docs/inbound.md)",
}
# Console URLs that are not console_view pages, and why the role rows do not apply.
NOT_CONSOLE_VIEWS = {"/console/logout/": "signs out whoever is signed in; only the anonymous rows apply"}


def _routes(prefix: str):
    def walk(patterns, route):
        for p in patterns:
            r = route + str(p.pattern)
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, r)
            else:
                yield r, p.callback

    return [(r, cb) for r, cb in walk(get_resolver().url_patterns, "/") if r.startswith(prefix)]


def test_every_v1_route_and_method_is_an_operation_of_the_matrix():
    """The matrix enumerates the OpenAPI schema: a view left out of the
    schema (exclude=True, a plain Django view) would escape every row of it."""
    ops = {(p, m) for p, m, _ in _operations(_schema())}
    missing = []
    for route, callback in _routes("/v1/"):
        if "^" in route:  # the problem+json catch-all for unknown paths
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        if path in NOT_OPERATIONS:
            continue
        view_class = getattr(callback, "view_class", None)
        assert view_class is not None, f"{path} is not a class-based API view"
        for method in METHODS:
            if hasattr(view_class, method) and (path, method) not in ops:
                missing.append((method.upper(), path))
        scopes = getattr(view_class, "required_scopes", None)
        assert scopes, f"{path}: the view names no required_scopes"
    assert missing == []


def test_every_console_page_is_judged_for_every_role():
    unjudged = [url for url, view in _console_urls()
                if url not in PUBLIC_CONSOLE and getattr(view, "console_capability", None) is None
                and url not in NOT_CONSOLE_VIEWS]
    assert unjudged == []


def test_console_posts_from_strangers_change_nothing(tenant_a, tenant_b):
    """Every console URL, POSTed by an anonymous visitor and by another
    tenant's admin (with a valid CSRF token of their own host): never a 2xx."""
    host = tenant_a.domain.domain
    stranger = _logged_in(tenant_b, Role.ADMIN)
    for url, _ in _console_urls():
        if url in PUBLIC_CONSOLE:
            continue
        for who, client in (("anonymous", Client()), ("other tenant's admin", stranger)):
            r = client.post(url, {"amount_minor": "1", "decision": "approve", "params": "{}"}, HTTP_HOST=host)
            assert not 200 <= r.status_code < 300, (who, url, r.status_code)
            if r.status_code == 302:
                assert "/console/login/" in r["Location"], (who, url, r["Location"])
