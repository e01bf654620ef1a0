"""Maker-checker: above the approval threshold a manual entry waits for a
different person with the approve capability."""
from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, connection, transaction

from core.actors import Actor
from audit.models import AuditEvent
from console.templatetags.console import short
from ledger import errors
from core import errors as core_errors
from ledger.models import Account, ApprovalRequest, IdempotencyRecord, LedgerEntry
from ledger.services.approvals import approval_approve, approval_reject
from events.models import Event

from .conftest import THRESHOLD, entry_form

BIG = THRESHOLD + 1  # strictly above the threshold waits


def submit_big(ct, username="operator1", amount=BIG, **extra):
    form = entry_form(amount=amount, description="Large manual transfer", **extra)
    r = ct.client(username).post("/console/new-entry/", form)
    assert r.status_code == 302 and "/console/approvals/apr_" in r["Location"], r.content[:300]
    public_id = r["Location"].rstrip("/").rsplit("/", 1)[-1]
    return form, public_id


def decide(client, public_id: str, decision: str, note: str = "", key: str | None = None):
    page = client.get(f"/console/approvals/{public_id}/").content.decode()
    m = re.search(r'name="form_key" value="([^"]+)"', page)
    return client.post(f"/console/approvals/{public_id}/decide/",
                       {"form_key": key or (m.group(1) if m else "dec_missing"), "decision": decision, "note": note})


def test_at_threshold_posts_directly_above_waits(console_tenant):
    c = console_tenant.client("operator1")
    r = c.post("/console/new-entry/", entry_form(amount=THRESHOLD))
    assert r.status_code == 302 and "/console/entries/" in r["Location"]
    form, public_id = submit_big(console_tenant)
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        assert a.status == "pending" and a.idempotency_key == form["idempotency_key"]
        assert a.threshold["policy"] == "four_eyes" and a.threshold["amount_minor"] == BIG
        assert not LedgerEntry.objects.filter(idempotency_key=form["idempotency_key"]).exists()
        assert not IdempotencyRecord.objects.filter(key=form["idempotency_key"]).exists()
        assert AuditEvent.objects.filter(action="approval.requested", target_id=public_id).count() == 1
        assert Event.objects.filter(type="ledger.entry.pending_approval", payload__id=public_id).count() == 1
    page = c.get(f"/console/approvals/{public_id}/").content.decode()
    assert "You requested this change" in page and "Approve and post" not in page
    assert "Why it waits" in page and "four_eyes" in page


def test_double_submit_of_a_big_entry_is_one_request(console_tenant):
    form, public_id = submit_big(console_tenant)
    r = console_tenant.client("operator1").post("/console/new-entry/", form)
    assert r.status_code == 302 and r["Location"].endswith(f"/console/approvals/{public_id}/")
    with console_tenant.schema():
        assert ApprovalRequest.objects.filter(idempotency_key=form["idempotency_key"]).count() == 1
        assert AuditEvent.objects.filter(action="approval.requested").count() == 1


def test_second_person_approves_entry_posts_with_both_recorded(console_tenant):
    form, public_id = submit_big(console_tenant, external_reference="wire_77")
    with console_tenant.schema():
        before = Account.objects.get(code="customer_balance").posted_balance
    approver = console_tenant.client("approver1")
    r = decide(approver, public_id, "approve", note="ticket FIN-1")
    assert r.status_code == 302 and "/console/entries/pst_" in r["Location"]
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        entry = a.entry
        ap_id, op_id = console_tenant.users["approver1"].pk, console_tenant.users["operator1"].pk
        assert a.status == "posted" and a.decided_by == f"user:{ap_id}:approver1" and a.decision_note == "ticket FIN-1"
        # The approver is the actor; the requester is named; the form's key is the posting's key.
        assert entry.actor_ref == f"user:{ap_id}:approver1"
        assert entry.metadata["approval"]["requested_by"] == f"user:{op_id}:operator1"
        assert entry.metadata["approval"]["id"] == public_id
        assert entry.idempotency_key == form["idempotency_key"] and entry.external_reference == "wire_77"
        assert Account.objects.get(code="customer_balance").posted_balance == before - BIG
        approved = AuditEvent.objects.get(action="approval.approved", target_id=public_id)
        assert approved.actor_ref == entry.actor_ref and approved.metadata["requested_by"] == a.requested_by
        assert approved.metadata["entry_id"] == entry.id
    evidence = approver.get(r["Location"]).content.decode()
    for needle in ("Maker-checker", public_id, "operator1", "approver1", "approval.requested", "approval.approved",
                   "ledger.entry.pending_approval", "ledger_entry.posted", "ticket FIN-1"):
        assert needle in evidence, needle


def test_double_click_on_approve_posts_once(console_tenant):
    _, public_id = submit_big(console_tenant)
    approver = console_tenant.client("approver1")
    page = approver.get(f"/console/approvals/{public_id}/").content.decode()
    key = re.search(r'name="form_key" value="([^"]+)"', page).group(1)
    first = decide(approver, public_id, "approve", key=key)
    second = decide(approver, public_id, "approve", key=key)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    with console_tenant.schema():
        assert LedgerEntry.objects.filter(metadata__approval__id=public_id).count() == 1
    assert "already submitted" in approver.get(second["Location"]).content.decode()


def test_a_second_approver_after_the_decision_is_told_so(console_tenant):
    _, public_id = submit_big(console_tenant)
    assert decide(console_tenant.client("approver1"), public_id, "approve").status_code == 302
    r = decide(console_tenant.client("approver2"), public_id, "reject", key="dec_other_form")
    assert r.status_code == 409 and "already decided" in r.content.decode()


def test_requester_cannot_decide_their_own_even_as_admin(console_tenant):
    """admin1 has both post and approve: four eyes still means another person."""
    _, public_id = submit_big(console_tenant, username="admin1")
    admin = console_tenant.client("admin1")
    assert "You requested this change" in admin.get(f"/console/approvals/{public_id}/").content.decode()
    for decision in ("approve", "reject"):
        r = decide(admin, public_id, decision, key=f"dec_forged_{decision}")
        assert r.status_code == 403 and "approval_self_decision" in r.content.decode()
    with console_tenant.schema():
        assert ApprovalRequest.objects.get(public_id=public_id).status == "pending"
        assert not LedgerEntry.objects.filter(metadata__approval__id=public_id).exists()


def test_operator_and_viewer_cannot_decide(console_tenant):
    _, public_id = submit_big(console_tenant)
    for username in ("operator2", "viewer1", "compliance1"):
        r = decide(console_tenant.client(username), public_id, "approve", key=f"dec_{username}")
        assert r.status_code == 403
    with console_tenant.schema():
        assert ApprovalRequest.objects.get(public_id=public_id).status == "pending"


def test_reject_posts_nothing_and_is_evidence(console_tenant):
    form, public_id = submit_big(console_tenant)
    r = decide(console_tenant.client("approver1"), public_id, "reject", note="not expected")
    assert r.status_code == 302
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        assert a.status == "rejected" and a.entry is None
        assert not IdempotencyRecord.objects.filter(key=form["idempotency_key"]).exists()
        assert AuditEvent.objects.get(action="approval.rejected", target_id=public_id).metadata["note"] == "not expected"
        assert Event.objects.filter(type="ledger.entry.rejected", payload__id=public_id).exists()
    # The maker resubmitting the same form sees the same (rejected) request, not a new one.
    r = console_tenant.client("operator1").post("/console/new-entry/", form)
    assert r["Location"].endswith(f"/console/approvals/{public_id}/")
    page = console_tenant.client("viewer1").get(f"/console/evidence/?key={form['idempotency_key']}").content.decode()
    assert "rejected" in page and "Maker-checker" in page


def test_approval_does_not_bypass_policies(console_tenant):
    """Approved, but customer_balance lacks the funds: the boundary refuses,
    the request is 'failed' with the boundary's reason, nothing posts."""
    form, public_id = submit_big(console_tenant, amount=400_000)
    approver = console_tenant.client("approver1")
    r = decide(approver, public_id, "approve")
    assert r.status_code == 302 and r["Location"].endswith(f"/console/approvals/{public_id}/")
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        assert a.status == "failed" and a.outcome["code"] == "policy_rejected"
        assert IdempotencyRecord.objects.get(key=form["idempotency_key"]).outcome == "rejected"
        assert not LedgerEntry.objects.filter(idempotency_key=form["idempotency_key"]).exists()
    page = approver.get(r["Location"]).content.decode()
    # A refusal is an error banner, never a success one, and amounts are in
    # major units with their currency.
    assert 'class="msg error"' in page and 'class="msg success"' not in page
    assert "refused" in page and "3,750.00 USD available" in page and "4,000.00 USD was requested" in page
    assert "375000" not in page


def test_service_rules_hold_without_the_console(console_tenant):
    _, public_id = submit_big(console_tenant)
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        maker = Actor(kind="user", ref=a.requested_by.replace("operator1", "renamed"), label="renamed")
        with pytest.raises(errors.ApprovalSelfDecision):
            approval_approve(actor=maker, tenant=console_tenant.tenant.slug, public_id=public_id)
        with pytest.raises(core_errors.PermissionDenied):
            approval_reject(actor=Actor.system("cron"), public_id=public_id)
        with pytest.raises(errors.ApprovalNotFound):
            approval_reject(actor=Actor(kind="user", ref="user:999:x"), public_id="apr_nope")


def test_database_keeps_decisions_immutable_and_four_eyes(console_tenant):
    _, public_id = submit_big(console_tenant)
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        with pytest.raises(IntegrityError, match="approval_not_self_decided"), transaction.atomic():  # bypassing the service
            ApprovalRequest.objects.filter(pk=a.pk).update(status="rejected", decided_by=a.requested_by,
                                                           decided_at=a.requested_at)
        with pytest.raises(IntegrityError, match="cannot change"), transaction.atomic():  # what was requested is fixed
            ApprovalRequest.objects.filter(pk=a.pk).update(amount_minor=1)
    decide(console_tenant.client("approver1"), public_id, "reject")
    with console_tenant.schema():
        with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():  # a decided request is frozen
            ApprovalRequest.objects.filter(pk=a.pk).update(decision_note="edited later")
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            ApprovalRequest.objects.filter(pk=a.pk).delete()
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute("TRUNCATE ledger_approvalrequest CASCADE")


def test_approvals_queue_lists_pending_and_decided(console_tenant):
    _, p1 = submit_big(console_tenant)
    _, p2 = submit_big(console_tenant, amount=BIG + 5)
    decide(console_tenant.client("approver1"), p2, "reject")
    c = console_tenant.client("approver1")
    pending = c.get("/console/approvals/").content.decode()
    assert short(p1) in pending and short(p2) not in pending
    every = c.get("/console/approvals/?status=all").content.decode()
    assert short(p1) in every and short(p2) in every
    overview = c.get("/console/").content.decode()
    assert 'title="Pending approvals">1<' in overview
