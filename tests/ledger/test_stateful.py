"""Property-based stateful test: random accounts, entries, retries, key
reuse and policy rejections through the real API, checked after every step
against a model kept by the test and against ledger_check.

Accounts are frozen and unfrozen, guarded and unguarded, and a tenant-wide
amount cap is set and lifted between postings: each of those changes what
the one-statement posting's cache (ledger.posting_cache) believes, so the
machine checks that no posting is ever decided on a stale belief."""
import uuid

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from rest_framework.test import APIClient

from ledger.checks import ledger_check
from tenants.services.tenants import tenant_create
from core.actors import Actor

pytestmark = pytest.mark.slow


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    keys = Bundle("keys")

    @initialize()
    def setup(self):
        slug = f"h{uuid.uuid4().hex[:10]}"
        self.tenant = tenant_create(actor=Actor.system("tests"), slug=slug, domain=f"{slug}.localhost", with_api_key=True)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tenant.api_key.plaintext}")
        r = self.client.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
        assert r.status_code == 201
        self.balance: dict[str, int] = {}
        self.normal: dict[str, str] = {}
        self.guarded: set[str] = set()
        self.sent: dict[str, tuple[dict, int, dict]] = {}  # key -> (body, status, response)
        self.frozen: set[str] = set()
        self.cap: int | None = None  # the tenant-wide max_amount policy's limit, when active

    @rule(target=accounts, normal=st.sampled_from(["debit", "credit"]), guarded=st.booleans())
    def open_account(self, normal, guarded):
        code = f"a{len(self.balance)}"
        body = {"code": code, "name": code, "currency": "USD", "normal_side": normal,
                "kind": "asset" if normal == "debit" else "liability"}
        if guarded:
            body["policies"] = ["no_overdraft"]
        assert self.client.post("/v1/accounts", body, format="json").status_code == 201
        self.balance[code], self.normal[code] = 0, normal
        if guarded:
            self.guarded.add(code)
        return code

    def _effect(self, code, side, amount):
        return amount if side == self.normal[code] else -amount

    @rule(target=keys, debit=accounts, credit=accounts, amount=st.integers(min_value=1, max_value=10**12))
    def post(self, debit, credit, amount):
        return self._post(debit, credit, amount)

    # Small amounts, three in a row: mostly within caps and balances, so
    # most of them are posted, and all but the first over accounts the
    # process has already read (the one-statement posting).
    @rule(target=keys, debit=accounts, credit=accounts, amount=st.integers(min_value=1, max_value=1000))
    def post_three(self, debit, credit, amount):
        for _ in range(2):
            self._post(debit, credit, amount)
        return self._post(debit, credit, amount)

    def _post(self, debit, credit, amount):
        key = f"k{len(self.sent)}-{uuid.uuid4().hex[:6]}"
        body = {"debit": debit, "credit": credit, "amount_minor": amount, "currency": "USD", "idempotency_key": key}
        after = dict(self.balance)
        after[debit] += self._effect(debit, "debit", amount)
        after[credit] += self._effect(credit, "credit", amount)
        would_break = any(after[c] < 0 and after[c] < self.balance[c] for c in (debit, credit) if c in self.guarded)
        over_cap = self.cap is not None and amount > self.cap
        r = self.client.post("/v1/ledger-entries", body, format="json")
        if {debit, credit} & self.frozen:  # account status is decided before any policy
            assert r.status_code == 422, r.content
            assert r.json()["code"] == "account_not_open"
        elif would_break or over_cap:
            assert r.status_code == 422, r.content
            assert r.json()["code"] == "policy_rejected"
        else:
            assert r.status_code == 201, r.content
            self.balance = after
        self.sent[key] = (body, r.status_code, r.json())
        return key

    @rule(code=accounts, frozen=st.booleans())
    def freeze_or_unfreeze(self, code, frozen):
        r = self.client.post(f"/v1/accounts/{code}/{'freeze' if frozen else 'unfreeze'}", format="json")
        assert r.status_code == 200, r.content
        (self.frozen.add if frozen else self.frozen.discard)(code)

    @rule(code=accounts, guarded=st.booleans())
    def guard_or_unguard(self, code, guarded):
        r = self.client.put(f"/v1/accounts/{code}/policies", {"policies": ["no_overdraft"] if guarded else []},
                            format="json")
        assert r.status_code == 200, r.content
        (self.guarded.add if guarded else self.guarded.discard)(code)

    @rule(limit=st.one_of(st.none(), st.integers(min_value=1, max_value=2000)))
    def set_cap(self, limit):
        if self.cap is None and limit is not None and not hasattr(self, "cap_created"):
            r = self.client.post("/v1/policies", {"name": "cap", "kind": "max_amount", "applies_to_all": True,
                                                  "params": {"max_amount_minor": limit}}, format="json")
            self.cap_created = True
        elif hasattr(self, "cap_created"):
            change = {"active": False} if limit is None else {"active": True, "params": {"max_amount_minor": limit}}
            r = self.client.post("/v1/policies/cap/versions", change, format="json")
        else:
            return
        assert r.status_code == 201, r.content
        self.cap = limit

    @rule(key=keys)
    def retry(self, key):
        body, status, first = self.sent[key]
        r = self.client.post("/v1/ledger-entries", body, format="json")
        assert r.status_code == status and r["Idempotent-Replayed"] == "true" and r.json() == first

    @rule(key=keys, delta=st.integers(min_value=1, max_value=5))
    def reuse_with_other_body(self, key, delta):
        body, _, _ = self.sent[key]
        r = self.client.post("/v1/ledger-entries", body | {"amount_minor": body["amount_minor"] + delta}, format="json")
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"

    @invariant()
    def balances_match_model(self):
        if not getattr(self, "balance", None):
            return
        r = self.client.get("/v1/accounts?limit=200")
        got = {a["code"]: a["balances"]["posted"] for a in r.json()["results"]}
        assert got == self.balance

    @invariant()
    def ledger_check_passes(self):
        if not hasattr(self, "tenant"):
            return
        connection.set_tenant(self.tenant.tenant)
        try:
            assert ledger_check() == []
        finally:
            connection.set_schema_to_public()


LedgerMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_ledger_state_machine = LedgerMachine.TestCase
