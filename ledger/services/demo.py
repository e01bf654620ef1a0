"""Sample data for the demo tenant: the seed page's ledger flow, posted
through the real services with fixed keys, so re-running replays instead of
posting twice."""
from __future__ import annotations

from audit.actors import Actor
from ledger.models import Account, Policy
from ledger.services.accounts import account_create
from ledger.services.boundary import request_hash
from ledger.services.entries import LineSpec, entry_post
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
FLOW = [
    ("demo_fund_1", "bank_usd", "customer_balance", 500_000, "Customer top-up", "evt_demo_topup"),
    ("led_8172", "customer_balance", "reserved_balance", 125_000, "Reserve for payment pi_demo_1", "pi_demo_1.created"),
    ("demo_settle_1", "reserved_balance", "settlement_clearing", 125_000, "Capture to settlement", "pi_demo_1.succeeded"),
    ("demo_merchant_1", "settlement_clearing", "merchant_payable", 125_000, "Credit merchant m_42", "settlement.batch_1"),
    ("demo_payout_1", "merchant_payable", "payout_clearing", 125_000, "Payout po_demo_1 to merchant m_42", "po_demo_1.created"),
]


def demo_seed(*, tenant: str) -> dict[str, int]:
    existing = set(Account.objects.values_list("code", flat=True))
    if not Policy.objects.filter(name="no_overdraft").exists():
        policy_create(actor=DEMO_ACTOR, name="no_overdraft", kind="no_negative_available", params={},
                      description="Customer money never goes below zero")
    for code, name, side, kind in ACCOUNTS:
        if code not in existing:
            account_create(actor=DEMO_ACTOR, code=code, name=name, currency="USD", normal_side=side, kind=kind,
                           policies=["no_overdraft"] if code == "customer_balance" else [])
    posted = 0
    for key, debit, credit, amount, description, source in FLOW:
        lines = [LineSpec(account=debit, side="debit", amount_minor=amount, currency="USD"),
                 LineSpec(account=credit, side="credit", amount_minor=amount, currency="USD")]
        out = entry_post(
            actor=DEMO_ACTOR, tenant=tenant, idempotency_key=key,
            req_hash=request_hash(operation="demo_seed", payload=[key, debit, credit, amount]), lines=lines,
            description=description, source_event=source, external_reference=key,
        )
        posted += 0 if out.replayed else 1
    return {"accounts": Account.objects.count(), "entries_posted_now": posted}
