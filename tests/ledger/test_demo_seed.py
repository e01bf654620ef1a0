from django.core.management import call_command
from django.test import override_settings
from django.db import connection

from ledger.checks import ledger_check
from ledger.models import Account, Hold, LedgerEntry, Policy


def test_demo_seed_walks_the_flow_and_is_idempotent(tenant_a, capsys):
    call_command("ledger_demo_seed", "--tenant", tenant_a.tenant.slug)
    call_command("ledger_demo_seed", "--tenant", tenant_a.tenant.slug)
    assert "0 entries posted now" in capsys.readouterr().out.splitlines()[-1]
    connection.set_tenant(tenant_a.tenant)
    bal = dict(Account.objects.values_list("code", "posted_balance"))
    assert bal["customer_balance"] == 500_000 - 125_000
    assert bal["reserved_balance"] == 0 and bal["settlement_clearing"] == 0 and bal["merchant_payable"] == 0
    assert bal["payout_clearing"] == 125_000
    assert LedgerEntry.objects.count() == 5
    # The payment went through a hold: authorized, then captured by the seed's key.
    capture = LedgerEntry.objects.get(idempotency_key="led_8172")
    assert capture.kind == "hold_capture"
    # Every holds page has rows: captured, released, one still open and one expired by the sweep.
    assert dict(Hold.objects.values_list("external_reference", "status")) == {
        "pi_demo_1": "captured", "pi_demo_2": "released", "po_demo_2": "active", "po_demo_3": "expired"}
    assert Account.objects.get(code="customer_balance").pending_balance == 0
    assert Account.objects.get(code="payout_clearing").pending_balance == 30_000
    # Maker-checker is on: a threshold policy for manual entries.
    threshold = Policy.objects.get(name="large_manual_entries", active=True)
    assert threshold.kind == "approval_threshold" and threshold.params["threshold_minor"] == 5_000_000
    assert ledger_check() == []


def test_demo_webhooks_and_reconciliation_pages_have_data(tenant_a, capsys):
    """The apps above the ledger seed their own pages: a failing endpoint
    whose attempts went through the real dispatcher, and an open
    reconciliation run with breaks from the real import and matcher. Both
    idempotent."""
    from reconciliation.models import ReconciliationItem, ReconciliationRun
    from demo.webhooks import ATTEMPTS, FAILING_URL
    from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint

    slug = tenant_a.tenant.slug
    # No on-commit kick: a Celery worker another test started would attempt
    # the demo's deliveries too, and the attempts counted here are the seed's.
    with override_settings(WEBHOOKS_KICK_ON_COMMIT=False):
        for _ in range(2):
            call_command("ledger_demo_seed", "--tenant", slug)
            call_command("webhooks_demo_seed", "--tenant", slug)
            call_command("reconciliation_demo_seed", "--tenant", slug)
    connection.set_tenant(tenant_a.tenant)
    endpoint = WebhookEndpoint.objects.get(url=FAILING_URL)
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    assert deliveries.count() == 2  # the demo hold's created + released events
    attempts = DeliveryAttempt.objects.filter(delivery__endpoint=endpoint)
    assert attempts.count() == ATTEMPTS * 2 and set(attempts.values_list("outcome", flat=True)) == {"failed"}
    assert all(d.last_error for d in deliveries)
    run = ReconciliationRun.objects.get()
    assert run.status == "completed" and run.reimport_count == 1
    kinds = dict(ReconciliationItem.objects.filter(run=run).values_list("reference", "kind"))
    assert kinds["demo_fund_1"] == "matched"
    assert {kinds["bank_fee_1"], kinds["wire_in_7"]} <= {"missing_in_ledger", "amount_drift"}
    assert ReconciliationItem.objects.filter(run=run, status="open").count() >= 2
    assert ledger_check() == []
