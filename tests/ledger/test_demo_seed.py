from django.core.management import call_command
from django.db import connection

from ledger.checks import ledger_check
from ledger.models import Account, Hold, LedgerEntry


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
    assert dict(Hold.objects.values_list("external_reference", "status")) == {
        "pi_demo_1": "captured", "pi_demo_2": "released"}
    assert Account.objects.get(code="customer_balance").pending_balance == 0
    assert ledger_check() == []
