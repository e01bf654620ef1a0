"""Property-based stateful test of the money lifecycle: entries, holds
(create, partial/full capture, release, expiry), reversals (partial and
full) and retries, through the real API, against a model kept by the test;
balances and ledger_check are verified after every step."""
import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule
from rest_framework.test import APIClient

from ledger.checks import ledger_check
from ledger.services.holds import hold_expire_due
from tenants.services.tenants import tenant_create
from core.actors import Actor

pytestmark = pytest.mark.slow

ACCOUNTS = {  # code: (normal side, guarded by no_overdraft)
    "src": ("debit", False),
    "c0": ("credit", True),
    "c1": ("credit", True),
    "d0": ("credit", False),
    "x0": ("debit", True),
}
amounts = st.integers(min_value=1, max_value=400_000)


class LifecycleMachine(RuleBasedStateMachine):
    entries = Bundle("entries")
    holds = Bundle("holds")
    calls = Bundle("calls")

    @initialize()
    def setup(self):
        slug = f"l{uuid.uuid4().hex[:10]}"
        self.tenant = tenant_create(actor=Actor.system("tests"), slug=slug, domain=f"{slug}.localhost", with_api_key=True)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tenant.api_key.plaintext}")
        assert self.client.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"},
                                format="json").status_code == 201
        for code, (normal, guarded) in ACCOUNTS.items():
            body = {"code": code, "name": code, "currency": "USD", "normal_side": normal,
                    "kind": "asset" if normal == "debit" else "liability"}
            if guarded:
                body["policies"] = ["no_overdraft"]
            assert self.client.post("/v1/accounts", body, format="json").status_code == 201
        self.posted = {c: 0 for c in ACCOUNTS}
        self.pending = {c: 0 for c in ACCOUNTS}
        self.entry_model: dict[int, dict] = {}
        self.hold_model: dict[int, dict] = {}
        self.n = 0
        for code in ("c0", "c1", "x0"):
            # x0 is a debit-normal guarded asset: fund it by debiting it.
            debit, credit = (code, "src") if ACCOUNTS[code][0] == "debit" else ("src", code)
            self._post(debit, credit, 1_000_000)

    # --- model helpers -------------------------------------------------------
    def key(self, prefix):
        self.n += 1
        return f"{prefix}-{self.n}-{uuid.uuid4().hex[:6]}"

    def effect(self, code, side, amount):
        return amount if side == ACCOUNTS[code][0] else -amount

    def refused(self, changes: dict[str, int], available_delta: dict[str, int] | None = None) -> bool:
        """Would no_overdraft refuse? Changes of posted balance; available
        deltas default to them (a capture also frees pending)."""
        deltas = dict(changes if available_delta is None else available_delta)
        for code, delta in deltas.items():
            if ACCOUNTS[code][1] and delta < 0:
                if self.posted[code] - self.pending[code] + delta < 0:
                    return True
        return False

    def _post(self, debit, credit, amount):
        key = self.key("e")
        body = {"debit": debit, "credit": credit, "amount_minor": amount, "currency": "USD", "idempotency_key": key}
        changes = {debit: 0, credit: 0}
        changes[debit] += self.effect(debit, "debit", amount)
        changes[credit] += self.effect(credit, "credit", amount)
        r = self.client.post("/v1/ledger-entries", body, format="json")
        if self.refused(changes):
            assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
            return None, ("/v1/ledger-entries", body, r.status_code, r.json())
        assert r.status_code == 201, r.content
        for c, d in changes.items():
            self.posted[c] += d
        e = r.json()
        self.entry_model[e["id"]] = {"debit": debit, "credit": credit, "total": amount, "reversed": 0}
        return e["id"], ("/v1/ledger-entries", body, r.status_code, r.json())

    # --- rules ---------------------------------------------------------------
    @rule(target=entries, debit=st.sampled_from(sorted(ACCOUNTS)), credit=st.sampled_from(sorted(ACCOUNTS)),
          amount=amounts)
    def post(self, debit, credit, amount):
        entry_id, call = self._post(debit, credit, amount)
        self.last_call = call
        return entry_id

    @rule(target=holds, account=st.sampled_from(["c0", "c1", "d0", "x0"]), dest=st.sampled_from(sorted(ACCOUNTS)),
          amount=amounts, expiring=st.booleans())
    def create_hold(self, account, dest, amount, expiring):
        body = {"account": account, "amount_minor": amount, "currency": "USD", "idempotency_key": self.key("h")}
        if dest != account:
            body["destination"] = dest
        if expiring:
            body["expires_at"] = (timezone.now() + dt.timedelta(hours=1)).isoformat()
        r = self.client.post("/v1/holds", body, format="json")
        self.last_call = ("/v1/holds", body, r.status_code, r.json())
        if self.refused({account: -amount}):
            assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
            return None
        assert r.status_code == 201, r.content
        self.pending[account] += amount
        h = r.json()
        self.hold_model[h["id"]] = {"account": account, "dest": body.get("destination"), "amount": amount,
                                    "captured": 0, "released": 0, "open": True, "expiring": expiring}
        return h["id"]

    @rule(hold=holds, fraction=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0)),
          release_remainder=st.booleans(), dest=st.sampled_from([None, "src", "d0", "c1"]))
    def capture(self, hold, fraction, release_remainder, dest):
        if hold is None:
            return
        m = self.hold_model[hold]
        remaining = m["amount"] - m["captured"] - m["released"]
        body = {"idempotency_key": self.key("c"), "release_remainder": release_remainder}
        amount = remaining
        if fraction is not None:
            amount = max(1, int(remaining * fraction))
            body["amount_minor"] = amount
        if dest is not None:
            body["destination"] = dest
        url = f"/v1/holds/{hold}/capture"
        r = self.client.post(url, body, format="json")
        self.last_call = (url, body, r.status_code, r.json())
        if not m["open"]:
            assert r.status_code == 409 and r.json()["code"] == "hold_not_active", r.content
            return
        target = dest or m["dest"]
        if target is None:
            assert r.status_code == 400 and r.json()["code"] == "destination_required"
            return
        if target == m["account"]:
            assert r.status_code == 400 and r.json()["code"] == "invalid_destination"
            return
        held, normal = m["account"], ACCOUNTS[m["account"]][0]
        out_side = "debit" if normal == "credit" else "credit"
        released_now = remaining - amount if release_remainder else 0
        changes = {held: self.effect(held, out_side, amount)}
        changes[target] = changes.get(target, 0) + self.effect(target, normal, amount)
        available = dict(changes)
        available[held] = available[held] + amount + released_now
        if self.refused(changes, available):
            assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
            return
        assert r.status_code == 201, r.content
        for c, d in changes.items():
            self.posted[c] += d
        self.pending[held] -= amount + released_now
        m["captured"] += amount
        m["released"] += released_now
        m["open"] = m["captured"] + m["released"] < m["amount"]
        e = r.json()["entry"]
        self.entry_model[e["id"]] = {"debit": held if out_side == "debit" else target,
                                     "credit": target if out_side == "debit" else held,
                                     "total": amount, "reversed": 0}

    @rule(hold=holds)
    def release(self, hold):
        if hold is None:
            return
        m = self.hold_model[hold]
        url = f"/v1/holds/{hold}/release"
        body = {"idempotency_key": self.key("r")}
        r = self.client.post(url, body, format="json")
        self.last_call = (url, body, r.status_code, r.json())
        if not m["open"]:
            assert r.status_code == 409 and r.json()["code"] == "hold_not_active", r.content
            return
        assert r.status_code == 200, r.content
        rest = m["amount"] - m["captured"] - m["released"]
        self.pending[m["account"]] -= rest
        m["released"] += rest
        m["open"] = False

    @rule()
    def expiry_sweep(self):
        """As if an hour and a bit had passed for every expiring hold."""
        connection.set_tenant(self.tenant.tenant)
        try:
            n = hold_expire_due(now=timezone.now() + dt.timedelta(hours=2))
        finally:
            connection.set_schema_to_public()
        due = [m for m in self.hold_model.values() if m["open"] and m["expiring"]]
        assert n == len(due)
        for m in due:
            rest = m["amount"] - m["captured"] - m["released"]
            self.pending[m["account"]] -= rest
            m["released"] += rest
            m["open"] = False

    @rule(entry=entries, fraction=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.2)))
    def reverse(self, entry, fraction):
        if entry is None:
            return
        m = self.entry_model[entry]
        remaining = m["total"] - m["reversed"]
        body = {"idempotency_key": self.key("v")}
        amount = remaining
        if fraction is not None:
            amount = max(1, int(m["total"] * fraction))
            body["amount_minor"] = amount
        url = f"/v1/ledger-entries/{entry}/reverse"
        r = self.client.post(url, body, format="json")
        self.last_call = (url, body, r.status_code, r.json())
        if remaining == 0:
            assert r.status_code == 409 and r.json()["code"] == "entry_already_reversed", r.content
            return
        if amount > remaining:
            assert r.status_code == 422 and r.json()["code"] == "reversal_exceeds_original", r.content
            return
        # The mirror: credit what was debited, debit what was credited.
        changes = {m["debit"]: 0, m["credit"]: 0}
        changes[m["debit"]] += self.effect(m["debit"], "credit", amount)
        changes[m["credit"]] += self.effect(m["credit"], "debit", amount)
        if self.refused(changes):
            assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
            return
        assert r.status_code == 201, r.content
        for c, d in changes.items():
            self.posted[c] += d
        m["reversed"] += amount

    @precondition(lambda self: getattr(self, "last_call", None) is not None)
    @rule()
    def retry_last(self):
        url, body, status, first = self.last_call
        r = self.client.post(url, body, format="json")
        if status >= 400 and first.get("code") not in ("policy_rejected",):
            return  # validation and state errors are not remembered; nothing to replay
        assert r.status_code == status and r["Idempotent-Replayed"] == "true" and r.json() == first

    # --- invariants ----------------------------------------------------------
    @invariant()
    def balances_match_model(self):
        if not hasattr(self, "posted"):
            return
        got = {a["code"]: a["balances"] for a in self.client.get("/v1/accounts?limit=200").json()["results"]}
        for code in ACCOUNTS:
            assert got[code]["posted"] == self.posted[code], (code, got[code])
            assert got[code]["pending"] == self.pending[code], (code, got[code])
            assert got[code]["available"] == self.posted[code] - self.pending[code]

    @invariant()
    def ledger_check_passes(self):
        if not hasattr(self, "tenant"):
            return
        connection.set_tenant(self.tenant.tenant)
        try:
            assert ledger_check() == []
        finally:
            connection.set_schema_to_public()


LifecycleMachine.TestCase.settings = settings(
    max_examples=10, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_lifecycle_state_machine = LifecycleMachine.TestCase
