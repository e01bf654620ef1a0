"""webhooks.services.dispatch: the beat sweep finds every tenant with due
work with a few statements, and each dispatcher then sends in its tenant's
schema."""
from datetime import timedelta

from django.db import connection

from tests.webhooks.conftest import T0, emit_at, in_tenant, make_endpoint
from webhooks.models import Delivery
from webhooks.services.sending import delivery_send_due


def test_the_sweep_finds_every_tenant_with_due_work(tenant_a, tenant_b, tenant_factory, receiver, no_kick):
    from webhooks.services.dispatch import delivery_dispatch_due

    idle = tenant_factory()
    make_endpoint(tenant_a, url=receiver.url)
    make_endpoint(tenant_b, url=receiver.url)
    make_endpoint(idle, url=receiver.url)
    emit_at(tenant_a, T0, n=2)
    emit_at(tenant_b, T0 + timedelta(minutes=1), n=3)
    # Far in the future, so other tests' leftover rows are due too; the
    # assertions are on these tenants only.
    far = T0 + timedelta(days=3650)
    due = delivery_dispatch_due(now=far, enqueue=False)
    assert {tenant_a.tenant.schema_name, tenant_b.tenant.schema_name} <= set(due)
    assert idle.tenant.schema_name not in due
    assert connection.schema_name == "public"
    # What each queued dispatcher then does in its tenant's schema.
    for tenant, n in ((tenant_a, 2), (tenant_b, 3)):
        with in_tenant(tenant):
            assert delivery_send_due(now=far).recorded == n
            assert Delivery.objects.filter(status="succeeded", attempt_count=1).count() == n
    assert len(receiver.requests) == 5
