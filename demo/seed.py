"""Sample data for the demo tenant: the seed page's ledger flow, posted
through the real services with fixed keys, so re-running replays instead of
posting twice.

One payment walks the whole lifecycle: the customer's money is authorized
(a hold on customer_balance), captured into reserved_balance (the seed's
led_8172), then settled to the merchant and paid out as ordinary entries. A
second authorization is voided, so the console has a released hold too.

For every console page to show something: a maker-checker threshold
policy, an open hold on the payouts in flight (no expiry) and one that
expired (created with an expiry a moment ahead, then expired by the real
expiry sweep). Webhook deliveries and reconciliation breaks are seeded by
demo/webhooks.py and demo/reconciliation.py, after this, by `zentra_demo`."""
from __future__ import annotations

import datetime as dt
import time

from django.utils import timezone

from core.actors import Actor
from ledger.models import Account, Hold, Policy
from ledger.services.accounts import account_create
from ledger.services.boundary import request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.holds import hold_capture, hold_create, hold_expire_due, hold_release
from ledger.services.policies import policy_create

DEMO_ACTOR = Actor.system("demo_seed")

ACCOUNTS = [
    # code, name, normal side, kind
    ("bank_usd", "Bank account (USD)", "debit", "asset"),
    ("customer_balance", "Customer balances", "credit", "liability"),
    ("reserved_balance", "Reserved for payments", "credit", "liability"),
    ("settlement_clearing", "Settlement clearing", "credit", "liability"),
    ("merchant_payable", "Merchant payable", "credit", "liability"),
    ("payout_clearing", "Payouts in flight", "credit", "liability"),
    ("fee_revenue", "Fee revenue", "credit", "revenue"),
]

# The seed's flow: Customer -125000 -> Reserved +125000 -> Settlement -> Merchant -> Payout.
FUNDING = ("demo_fund_1", "bank_usd", "customer_balance", 500_000, "Customer top-up", "evt_demo_topup")
AUTHORIZATION = {"key": "demo_auth_1", "account": "customer_balance", "destination": "reserved_balance",
                 "amount_minor": 125_000, "external_reference": "pi_demo_1",
                 "description": "Authorization for payment pi_demo_1"}
CAPTURE_KEY = "led_8172"  # the seed's posting: customer_balance -> reserved_balance, 125000 USD
SETTLEMENT = [
    ("demo_settle_1", "reserved_balance", "settlement_clearing", 125_000, "Capture to settlement", "pi_demo_1.succeeded"),
    ("demo_merchant_1", "settlement_clearing", "merchant_payable", 125_000, "Credit merchant m_42", "settlement.batch_1"),
    ("demo_payout_1", "merchant_payable", "payout_clearing", 125_000, "Payout po_demo_1 to merchant m_42", "po_demo_1.created"),
]
THRESHOLD_POLICY = ("large_manual_entries", 5_000_000,  # 50,000.00 USD
                    "Manual entries above 50,000.00 need a second person")
OPEN_HOLD = {"key": "demo_hold_payout_2", "account": "payout_clearing", "destination": "bank_usd",
             "amount_minor": 30_000, "external_reference": "po_demo_2",
             "description": "Reserved for payout po_demo_2 (bank transfer pending)"}
EXPIRED_HOLD = {"key": "demo_hold_payout_3", "account": "payout_clearing", "destination": "bank_usd",
                "amount_minor": 10_000, "external_reference": "po_demo_3",
                "description": "Reserved for payout po_demo_3 (never confirmed, expired)"}
VOIDED = {"key": "demo_auth_2", "account": "customer_balance", "destination": "reserved_balance",
          "amount_minor": 20_000, "external_reference": "pi_demo_2", "description": "Authorization for pi_demo_2 (voided)"}


def _entry(tenant: str, key: str, debit: str, credit: str, amount: int, description: str, source: str) -> bool:
    lines = [LineSpec(account=debit, side="debit", amount_minor=amount, currency="USD"),
             LineSpec(account=credit, side="credit", amount_minor=amount, currency="USD")]
    out = entry_post(
        actor=DEMO_ACTOR, tenant=tenant, idempotency_key=key,
        req_hash=request_hash(operation="demo_seed", payload=[key, debit, credit, amount]), lines=lines,
        description=description, source_event=source, external_reference=key,
    )
    return not out.replayed


def _hold(tenant: str, spec: dict, *, expires_at: dt.datetime | None = None) -> dict:
    # The hash leaves the expiry out: a re-run replays the hold made first.
    out = hold_create(
        actor=DEMO_ACTOR, tenant=tenant, idempotency_key=spec["key"],
        req_hash=request_hash(operation="demo_seed.hold", payload=spec), account=spec["account"],
        destination=spec["destination"], amount_minor=spec["amount_minor"], currency="USD",
        external_reference=spec["external_reference"], description=spec["description"], expires_at=expires_at,
    )
    return out.body


def demo_seed(*, tenant: str) -> dict[str, int]:
    existing = set(Account.objects.values_list("code", flat=True))
    if not Policy.objects.filter(name="no_overdraft").exists():
        policy_create(actor=DEMO_ACTOR, name="no_overdraft", kind="no_negative_available", params={},
                      description="Customer money never goes below zero")
    for code, name, side, kind in ACCOUNTS:
        if code not in existing:
            account_create(actor=DEMO_ACTOR, code=code, name=name, currency="USD", normal_side=side, kind=kind,
                           policies=["no_overdraft"] if code == "customer_balance" else [])
    posted = 1 if _entry(tenant, *FUNDING) else 0
    auth = _hold(tenant, AUTHORIZATION)
    capture = hold_capture(
        actor=DEMO_ACTOR, tenant=tenant, hold_id=auth["id"], idempotency_key=CAPTURE_KEY,
        req_hash=request_hash(operation="demo_seed.capture", payload=[CAPTURE_KEY, auth["hold_id"]]),
        description="Capture of pi_demo_1 into reserved_balance", external_reference=CAPTURE_KEY,
    )
    posted += 0 if capture.replayed else 1
    for step in SETTLEMENT:
        posted += 1 if _entry(tenant, *step) else 0
    voided = _hold(tenant, VOIDED)
    hold_release(actor=DEMO_ACTOR, tenant=tenant, hold_id=voided["id"], idempotency_key="demo_void_2",
                 req_hash=request_hash(operation="demo_seed.release", payload=["demo_void_2", voided["hold_id"]]),
                 reason="Customer cancelled the order")
    name, threshold, description = THRESHOLD_POLICY
    if not Policy.objects.filter(name=name).exists():
        policy_create(actor=DEMO_ACTOR, name=name, kind="approval_threshold",
                      params={"threshold_minor": threshold, "currency": "USD"}, applies_to_all=True,
                      description=description)
    _hold(tenant, OPEN_HOLD)
    if not Hold.objects.filter(idempotency_key=EXPIRED_HOLD["key"]).exists():
        expires = timezone.now() + dt.timedelta(milliseconds=200)
        _hold(tenant, EXPIRED_HOLD, expires_at=expires)
        time.sleep(max((expires - timezone.now()).total_seconds(), 0) + 0.01)
        hold_expire_due()
    return {"accounts": Account.objects.count(), "entries_posted_now": posted}
