"""Policy edits from the console: admins only, versioned, audited, once per form."""
from __future__ import annotations

from audit.models import AuditEvent
from ledger.models import Policy

from .conftest import new_key


def create(client, **extra):
    data = {"form_key": new_key(), "name": "big_tickets", "kind": "max_amount", "amount_minor": "5000000",
            "currency": "USD", "description": "Cap manual tickets", **extra}
    return data, client.post("/console/policies/new/", data)


def test_admin_creates_and_revises_a_policy(console_tenant):
    admin = console_tenant.client("admin1")
    data, r = create(admin)
    assert r.status_code == 302 and r["Location"].startswith("/console/policies/#policy-big_tickets")
    again = admin.post("/console/policies/new/", data)  # double click
    assert again.status_code == 302
    r = admin.post("/console/policies/big_tickets/revise/", {"form_key": new_key(), "amount_minor": "6000000",
                                                             "currency": "USD", "active": "on", "description": "raised"})
    assert r.status_code == 302
    with console_tenant.schema():
        versions = list(Policy.objects.filter(name="big_tickets").order_by("version").values_list("version", "params"))
        assert versions == [(1, {"max_amount_minor": 5000000, "currency": "USD"}),
                            (2, {"max_amount_minor": 6000000, "currency": "USD"})]
        uid = console_tenant.users["admin1"].pk
        audit = list(AuditEvent.objects.filter(target_type="policy", target_id__startswith="big_tickets@")
                     .values_list("action", "actor_ref"))
        assert audit == [("policy.created", f"user:{uid}:admin1"), ("policy.revised", f"user:{uid}:admin1")]
    page = admin.get("/console/policies/").content.decode()
    assert "max_amount_minor=6000000" in page and "policy.revised" in page and "admin1" in page


def test_bad_policy_input_is_a_clear_error(console_tenant):
    admin = console_tenant.client("admin1")
    _, r = create(admin, name="Bad Name!")
    assert r.status_code == 400 and "policy name" in r.content.decode()
    _, r = create(admin, name="four_eyes", kind="approval_threshold")
    assert r.status_code == 409 and "exists" in r.content.decode()
    _, r = create(admin, currency="XXX")
    assert r.status_code == 400
    with console_tenant.schema():
        assert not Policy.objects.filter(name__in=["big_tickets", "Bad Name!"]).exists()


def test_only_admins_edit_policies(console_tenant):
    for username in ("operator1", "approver1", "compliance1", "viewer1"):
        _, r = create(console_tenant.client(username))
        assert r.status_code == 403
        r = console_tenant.client(username).post("/console/policies/four_eyes/revise/",
                                                 {"form_key": new_key(), "amount_minor": "1"})
        assert r.status_code == 403
    with console_tenant.schema():
        assert Policy.objects.filter(name="four_eyes").count() == 1
