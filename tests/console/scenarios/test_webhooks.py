"""An operator looks after a webhook endpoint in real headless Chromium, against
the live server and a real Celery worker that delivers to a real loopback
receiver: create it (secret shown once), watch it fail, fix the receiver,
resend, see the delivery succeed everywhere it is shown, disable / enable,
rotate the secret. Screenshots land in test-artifacts/console/."""
from __future__ import annotations

import time

import pytest

from audit.models import AuditEvent
from ledger.models import LedgerEntry
from tests.console.browser import console_url, shot, sign_in, sign_out
from tests.console.conftest import PASSWORD
from tests.webhooks.conftest import receiver  # noqa: F401
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from core.signing import secret_decrypt

pytestmark = [pytest.mark.browser, pytest.mark.worker]
VIEWPORT = {"width": 1440, "height": 1000}
POST_TWICE = """async ([path, form]) => {
  const out = [];
  for (let i = 0; i < 2; i++) {
    const r = await fetch(path, {method: "POST", body: new URLSearchParams(form), credentials: "same-origin"});
    out.push({status: r.status, text: await r.text()});
  }
  return out;
}"""
POST_ONCE = """async ([path, form]) => {
  const r = await fetch(path, {method: "POST", body: new URLSearchParams(form), credentials: "same-origin"});
  return {status: r.status, text: await r.text()};
}"""


def wait_until(ct, check, *, timeout: float = 45.0, what: str = ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with ct.schema():
            value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_operator_fixes_a_failing_endpoint(browser, console_server, console_tenant, receiver, celery_worker_proc):  # noqa: F811
    ct, port = console_tenant, console_server.port
    receiver.respond = lambda req: (500, b'{"error": "receiver down"}', {"Content-Type": "application/json"})
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, ct, port, "operator1", PASSWORD)

    # Create: the secret is on the page that answers the submit, and nowhere after.
    page.goto(console_url(ct, port, "/console/webhooks/new/"))
    page.fill("input[name=url]", receiver.url)
    page.fill("input[name=event_types]", "ledger.*")
    page.fill("input[name=description]", "Books sync")
    shot(page, "webhooks-01-new")
    page.click("#endpoint-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    secret = page.inner_text("#secret").strip()
    assert secret.startswith("whsec_") and "shown only this once" in page.inner_text("#secret-card")
    with ct.schema():
        endpoint = WebhookEndpoint.objects.get(url=receiver.url)
        assert secret_decrypt(endpoint.secret_encrypted) == secret and endpoint.event_types == ["ledger.*"]
    shot(page, "webhooks-02-secret-once")
    page.click("text=I have stored it")
    page.wait_for_load_state("networkidle")
    assert endpoint.public_id in page.url and "whsec_" not in page.content()
    assert page.inner_text("#ep-health") == "healthy"

    # An entry is posted; the worker's attempt gets a 500.
    page.goto(console_url(ct, port, "/console/new-entry/"))
    page.select_option("select[name=debit]", "customer_balance")
    page.select_option("select[name=credit]", "reserved_balance")
    page.fill("input[name=amount_minor]", "1500")
    page.fill("input[name=description]", "Reserve for order 2002")
    key = page.input_value("input[name=idempotency_key]")
    page.click("text=Post entry")
    page.wait_for_load_state("networkidle")
    attempt = wait_until(ct, lambda: DeliveryAttempt.objects.filter(delivery__endpoint__url=receiver.url).first(),
                         what="the first attempt")
    assert attempt.status_code == 500 and attempt.outcome == "failed"
    with ct.schema():
        delivery = Delivery.objects.select_related("event").get(endpoint=endpoint)
        entry = LedgerEntry.objects.get(idempotency_key=key)
    assert delivery.event.type == "ledger.entry.created" and receiver.requests[0].msg_id == delivery.event.public_id

    # The overview counts it, and links to the failing deliveries.
    page.goto(console_url(ct, port, "/console/"))
    tile = page.locator("#failing-webhooks")
    assert tile.locator(".tile-value").inner_text().strip() == "1"
    assert "1 endpoint failing now" in tile.inner_text()
    shot(page, "webhooks-03-overview-failing")
    tile.click()
    page.wait_for_load_state("networkidle")
    assert "status=failing" in page.url
    row = page.locator(f"tr[data-delivery='{delivery.public_id}']")
    assert "HTTP 500" in row.inner_text() and "pending" in row.inner_text()
    shot(page, "webhooks-04-deliveries-failing")

    # Every attempt, with its answer and the next retry.
    row.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    first = page.locator("#attempts tr[data-attempt='1']").inner_text()
    assert "500" in first and "receiver down" in first and "UTC" in first and " ms" in first
    shot(page, "webhooks-05-delivery-failed-attempt")

    # The receiver is fixed; one resend delivers it.
    receiver.respond = lambda req: (200, b"thanks", {})
    page.click("#resend-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "queued for one more attempt" in page.inner_text(".flash")
    wait_until(ct, lambda: Delivery.objects.get(pk=delivery.pk).status == "succeeded", what="the resend")
    page.reload()
    assert page.inner_text("#delivery-status") == "succeeded"
    second = page.locator("#attempts tr[data-attempt='2']").inner_text()
    assert "200" in second and "manual" in second and "thanks" in second
    shot(page, "webhooks-06-delivery-succeeded")
    with ct.schema():
        assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 2
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None
        assert AuditEvent.objects.get(action="webhook_delivery.replay", target_id=delivery.public_id).actor_ref \
            .endswith(":operator1")
    assert len({r.msg_id for r in receiver.requests}) == 1  # the same webhook-id on both attempts

    # A double submit of the resend form acts once.
    form = {"csrfmiddlewaretoken": page.input_value("#resend-form input[name=csrfmiddlewaretoken]"),
            "form_key": page.input_value("#resend-form input[name=form_key]")}
    one, two = page.evaluate(POST_TWICE, [f"/console/deliveries/{delivery.public_id}/resend/", form])
    assert one["status"] == two["status"] == 200 and "already submitted" in two["text"]
    with ct.schema():
        assert AuditEvent.objects.filter(action="webhook_delivery.replay", target_id=delivery.public_id).count() == 2

    # The entry's evidence shows the delivery with its latest attempt.
    page.goto(console_url(ct, port, f"/console/entries/{entry.posting_id}/"))
    evidence = page.locator("#evidence-deliveries").inner_text()
    assert "HTTP 200" in evidence and "succeeded" in evidence
    shot(page, "webhooks-07-evidence-deliveries")
    page.click(f"#evidence-deliveries a[href='/console/deliveries/{delivery.public_id}/']")
    page.wait_for_load_state("networkidle")
    assert delivery.public_id in page.inner_text("h1")

    # Health, disable / enable, rotate (a new secret, once).
    page.goto(console_url(ct, port, f"/console/webhooks/{endpoint.public_id}/"))
    assert page.inner_text("#ep-health") == "healthy" and "Last success" in page.inner_text("main")
    page.click("#endpoint-actions button:has-text('Disable')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#ep-state") == "disabled"
    with ct.schema():
        assert not WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
    page.click("#endpoint-actions button:has-text('Enable')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#ep-state") == "enabled"
    with ct.schema():
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
    shot(page, "webhooks-08-endpoint")
    page.click("#endpoint-actions button:has-text('Rotate secret')")
    page.wait_for_load_state("networkidle")
    rotated = page.inner_text("#secret").strip()
    assert rotated.startswith("whsec_") and rotated != secret and "24 hours" in page.inner_text("#secret-card")
    with ct.schema():
        assert secret_decrypt(WebhookEndpoint.objects.get(pk=endpoint.pk).secret_encrypted) == rotated
    shot(page, "webhooks-09-rotated-secret")
    page.goto(console_url(ct, port, f"/console/webhooks/{endpoint.public_id}/"))
    assert "whsec_" not in page.content()

    page.goto(console_url(ct, port, "/console/webhooks/"))
    listing = page.locator(f"tr[data-endpoint='{endpoint.public_id}']").inner_text()
    assert "healthy" in listing and "enabled" in listing and "UTC" in listing
    shot(page, "webhooks-10-endpoints")

    # A viewer sees the pages but no buttons, and a forged action is refused.
    sign_out(page)
    sign_in(page, ct, port, "viewer1", PASSWORD)
    page.goto(console_url(ct, port, f"/console/deliveries/{delivery.public_id}/"))
    assert page.locator("#resend-form").count() == 0
    token = page.input_value("form.userbox input[name=csrfmiddlewaretoken]")
    refused = page.evaluate(POST_ONCE, [f"/console/webhooks/{endpoint.public_id}/action/",
                                        {"csrfmiddlewaretoken": token, "form_key": "wha_viewer_0123456789abcdef",
                                         "action": "disable"}])
    assert refused["status"] == 403 and "permission_denied" in refused["text"]
    with ct.schema():
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
    ctx.close()


def _post_entry(page, ct, port, description: str) -> str:
    page.goto(console_url(ct, port, "/console/new-entry/"))
    page.select_option("select[name=debit]", "customer_balance")
    page.select_option("select[name=credit]", "reserved_balance")
    page.fill("input[name=amount_minor]", "900")
    page.fill("input[name=description]", description)
    key = page.input_value("input[name=idempotency_key]")
    page.click("text=Post entry")
    page.wait_for_load_state("networkidle")
    return key


def test_operator_recovers_after_a_gone_receiver(browser, console_server, console_tenant, receiver, celery_worker_proc):  # noqa: F811
    """A receiver answering 410 disables its endpoint at once and dead-letters
    the delivery. The operator enables it again and re-delivers: once with the
    endpoint's "Recover since", once with "Resend failed since" and its
    confirm step."""
    from datetime import timedelta

    from django.utils import timezone

    ct, port = console_tenant, console_server.port
    receiver.respond = lambda req: (410, b"gone", {})
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, ct, port, "admin1", PASSWORD)
    page.goto(console_url(ct, port, "/console/webhooks/new/"))
    page.fill("input[name=url]", receiver.url)
    page.fill("input[name=event_types]", "ledger.entry.created")
    page.click("#endpoint-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    with ct.schema():
        endpoint = WebhookEndpoint.objects.get(url=receiver.url)
    since = (timezone.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")

    for round_, how in enumerate(("recover", "resend")):
        key = _post_entry(page, ct, port, f"Order {round_}")
        delivery = wait_until(
            ct, lambda: Delivery.objects.filter(event__payload__idempotency_key=key, status="failed").first(),
            what="the dead letter")
        with ct.schema():
            assert WebhookEndpoint.objects.get(pk=endpoint.pk).disabled_reason == "gone"
        page.goto(console_url(ct, port, "/console/webhooks/"))
        assert "disabled" in page.locator(f"tr[data-endpoint='{endpoint.public_id}']").inner_text()
        receiver.respond = lambda req: (204, b"", {})
        page.goto(console_url(ct, port, f"/console/webhooks/{endpoint.public_id}/"))
        assert "receiver answered HTTP 410" in page.inner_text("main")
        page.click("#endpoint-actions button:has-text('Enable')")
        page.wait_for_load_state("networkidle")
        if how == "recover":
            page.fill("#recover-form input[name=since]", since)
            shot(page, "webhooks-11-recover-since")
            page.click("#recover-form button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert "1 failed delivery since" in page.inner_text(".flash")
        else:
            page.goto(console_url(ct, port, "/console/deliveries/?status=failed"))
            assert "HTTP 410" in page.locator(f"tr[data-delivery='{delivery.public_id}']").inner_text()
            page.click("text=Resend failed since…")
            page.wait_for_load_state("networkidle")
            page.fill("#resend-pick input[name=since]", since)
            page.click("#resend-pick button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert "1 delivery will be sent again" in page.inner_text("#resend-confirm")
            shot(page, "webhooks-12-resend-failed-confirm")
            page.click("#resend-confirm button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert "1 failed delivery since" in page.inner_text(".flash") and "status=failing" in page.url
        wait_until(ct, lambda: Delivery.objects.get(pk=delivery.pk).status == "succeeded", what=f"the {how}")
        page.goto(console_url(ct, port, f"/console/deliveries/{delivery.public_id}/"))
        assert page.inner_text("#delivery-status") == "succeeded"
        assert "204" in page.locator("#attempts tr[data-attempt='2']").inner_text()
        receiver.respond = lambda req: (410, b"gone", {})
    with ct.schema():
        actions = set(AuditEvent.objects.filter(actor_ref__endswith=":admin1").values_list("action", flat=True))
        assert {"webhook_endpoint.enable", "webhook_endpoint.recover", "webhook_delivery.resend_failed"} <= actions
        assert AuditEvent.objects.filter(action="webhook_endpoint.disable", actor_ref="system:webhooks.delivery") \
            .count() == 2
    page.goto(console_url(ct, port, "/console/deliveries/"))
    shot(page, "webhooks-13-deliveries")
    ctx.close()
