"""The outbox: an event and its deliveries commit (or vanish) together."""
import pytest
from django.db import transaction

from tests.webhooks.conftest import TEST_ACTOR, emit, in_tenant, make_endpoint
from webhooks.models import Delivery
from events.models import Event
from events.services import event_emit


def test_deliveries_exist_in_the_same_transaction_for_matching_enabled_endpoints(tenant_a, receiver, no_kick):
    every = make_endpoint(tenant_a, url=receiver.url, event_types=["*"]).endpoint
    ledger = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.*"]).endpoint
    exact = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.entry.created"]).endpoint
    holds = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.hold.*"]).endpoint
    off = make_endpoint(tenant_a, url=receiver.url, event_types=["*"], enabled=False).endpoint

    with in_tenant(tenant_a), transaction.atomic():
        event = event_emit(type="ledger.entry.created", payload={"n": 1}, actor=TEST_ACTOR)
        # Visible before commit, inside the emitting transaction.
        assert set(Delivery.objects.filter(event=event).values_list("endpoint_id", flat=True)) == {
            every.pk, ledger.pk, exact.pk,
        }
    with in_tenant(tenant_a):
        assert not Delivery.objects.filter(endpoint__in=[holds, off]).exists()
        assert all(d.status == "pending" and d.next_attempt_at for d in Delivery.objects.filter(event=event))

    (hold_event,) = emit(tenant_a, type="ledger.hold.created")
    with in_tenant(tenant_a):
        assert set(Delivery.objects.filter(event=hold_event).values_list("endpoint_id", flat=True)) == {
            every.pk, ledger.pk, holds.pk,
        }


def test_rollback_leaves_neither_event_nor_delivery(tenant_a, receiver, no_kick):
    make_endpoint(tenant_a, url=receiver.url)
    with in_tenant(tenant_a):
        with pytest.raises(RuntimeError), transaction.atomic():
            event_emit(type="ledger.entry.created", payload={"n": 1}, actor=TEST_ACTOR)
            raise RuntimeError("the ledger write failed after emitting")
        assert Event.objects.count() == 0 and Delivery.objects.count() == 0


def test_event_emit_refuses_to_run_outside_a_transaction(tenant_a):
    with in_tenant(tenant_a), pytest.raises(AssertionError):
        event_emit(type="ledger.entry.created", payload={}, actor=TEST_ACTOR)


def test_kick_is_registered_once_per_transaction(tenant_a, receiver, settings):
    from django.db import connection

    settings.WEBHOOKS_KICK_ON_COMMIT = True
    make_endpoint(tenant_a, url=receiver.url)
    with in_tenant(tenant_a), transaction.atomic():
        for _ in range(5):
            event_emit(type="ledger.entry.created", payload={}, actor=TEST_ACTOR)
        kicks = [f for _, f, _ in connection.run_on_commit if getattr(f, "zentra_webhooks_kick", False)]
        assert len(kicks) == 1 and kicks[0].schema_name == tenant_a.tenant.schema_name


def test_one_fan_out_for_one_event_and_for_many(tenant_a, receiver, no_kick):
    """event_emit and event_emit_many (batch posting) make deliveries through
    the same SQL: per subscribed enabled endpoint, with the model's defaults
    and time-ordered public ids (UUIDv7 layout, the event's millisecond)."""
    import time
    import uuid

    from events.services import event_emit_many

    every = make_endpoint(tenant_a, url=receiver.url, event_types=["*"]).endpoint
    holds = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.hold.*"]).endpoint
    with in_tenant(tenant_a), transaction.atomic():
        one = event_emit(type="ledger.entry.created", payload={"n": 1}, actor=TEST_ACTOR)
        time.sleep(0.002)
        many = event_emit_many(events=[("ledger.entry.created", {"n": 2}), ("ledger.hold.created", {"n": 3})],
                               actor=TEST_ACTOR)
    with in_tenant(tenant_a):
        made = {(d.event_id, d.endpoint_id): d for d in Delivery.objects.filter(event__in=[one, *many])}
        assert set(made) == {(one.id, every.pk), (many[0].id, every.pk), (many[1].id, every.pk),
                             (many[1].id, holds.pk)}
        for d in made.values():
            assert d.status == "pending" and d.attempt_count == 0 and d.next_attempt_at == d.event.created_at
            u = uuid.UUID(d.public_id.removeprefix("dlv_"))
            assert u.version == 7 and u.variant == uuid.RFC_4122
            assert u.int >> 80 == int(d.event.created_at.timestamp() * 1000)
        first, later = made[(one.id, every.pk)].public_id, made[(many[0].id, every.pk)].public_id
        assert first < later
