"""The console's inbound page: per-provider log, entry links, replay."""
from __future__ import annotations

import re

from ledger.models import LedgerEntry
from providers.models import InboundDelivery, InboundStatus
from tests.providers.conftest import console_books


def test_inbound_page_shows_statuses_entry_links_and_replays_safely(tenant_factory):
    ct = console_books(tenant_factory)
    viewer = ct.client("viewer1").get("/console/inbound/?provider=stripe")
    html = viewer.content.decode()
    assert viewer.status_code == 200
    for status in ("applied", "duplicate", "rejected"):
        assert f">{status}<" in html
    with ct.schema():
        entry = LedgerEntry.objects.get(external_reference="pi_console")
        applied = InboundDelivery.objects.get(status=InboundStatus.APPLIED)
    assert f"/console/entries/{entry.posting_id}/" in html
    assert "Replay</button>" not in html  # a viewer cannot replay

    c = ct.client("operator1", csrf=True)
    page = c.get("/console/inbound/").content.decode()
    assert "Replay</button>" in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    key = re.search(rf'inbound/{applied.public_id}/replay/.*?name="form_key" value="([^"]+)"', page, re.S).group(1)
    for _ in range(2):  # a double click is one replay
        r = c.post(f"/console/inbound/{applied.public_id}/replay/",
                   {"form_key": key, "provider": "stripe", "csrfmiddlewaretoken": token})
        assert r.status_code == 302
    with ct.schema():
        assert LedgerEntry.objects.filter(external_reference="pi_console").count() == 1
        d = InboundDelivery.objects.get(pk=applied.pk)
        assert d.status == InboundStatus.APPLIED and [x["decision"] for x in d.decisions] == ["posted", "replayed"]


def test_viewer_cannot_replay_and_nothing_changes(tenant_factory):
    ct = console_books(tenant_factory)
    with ct.schema():
        applied = InboundDelivery.objects.get(status=InboundStatus.APPLIED)
    c = ct.client("viewer1")
    r = c.post(f"/console/inbound/{applied.public_id}/replay/", {"form_key": "inb_x"})
    assert r.status_code == 403
    with ct.schema():
        assert InboundDelivery.objects.get(pk=applied.pk).decisions == applied.decisions


def test_replaying_a_rejected_delivery_is_refused(tenant_factory):
    ct = console_books(tenant_factory)
    with ct.schema():
        rejected = InboundDelivery.objects.get(status=InboundStatus.REJECTED)
    c = ct.client("operator1")
    r = c.post(f"/console/inbound/{rejected.public_id}/replay/", {"form_key": "inb_rejected_1"})
    assert r.status_code == 409 and "inbound_not_replayable" in r.content.decode()

