"""Property-based stateful test: random accounts, entries, retries, key
reuse and policy rejections through the real API, checked after every step
against a model kept by the test and against ledger_check."""
import uuid

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from rest_framework.test import APIClient

from ledger.checks import ledger_check
from tenants.services.tenants import tenant_create

pytestmark = pytest.mark.slow


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    keys = Bundle("keys")

    @initialize()
    def setup(self):
        slug = f"h{uuid.uuid4().hex[:10]}"
        self.tenant = tenant_create(slug=slug, domain=f"{slug}.localhost", with_api_key=True)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tenant.api_key.plaintext}")
        r = self.client.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
        assert r.status_code == 201
        self.balance: dict[str, int] = {}
        self.normal: dict[str, str] = {}
        self.guarded: set[str] = set()
        self.sent: dict[str, tuple[dict, int, dict]] = {}  # key -> (body, status, response)

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
        key = f"k{len(self.sent)}-{uuid.uuid4().hex[:6]}"
        body = {"debit": debit, "credit": credit, "amount_minor": amount, "currency": "USD", "idempotency_key": key}
        after = dict(self.balance)
        after[debit] += self._effect(debit, "debit", amount)
        after[credit] += self._effect(credit, "credit", amount)
        would_break = any(after[c] < 0 and after[c] < self.balance[c] for c in (debit, credit) if c in self.guarded)
        r = self.client.post("/v1/ledger-entries", body, format="json")
        if would_break:
            assert r.status_code == 422, r.content
            assert r.json()["code"] == "policy_rejected"
        else:
            assert r.status_code == 201, r.content
            self.balance = after
        self.sent[key] = (body, r.status_code, r.json())
        return key

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
    max_examples=12, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_ledger_state_machine = LedgerMachine.TestCase
