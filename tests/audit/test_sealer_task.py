from __future__ import annotations

import time

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from audit.models import ChainLink
from audit.selectors import chain_check
from tests.audit.conftest import log_size


def test_beat_schedule_runs_the_sealer_every_few_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-chain-seal"]
    assert entry["task"] == "audit.chain_seal_all" and entry["schedule"] <= 10
    assert settings.CELERY_BEAT_SCHEDULE["audit-chain-seal-full"]["kwargs"] == {"full": True}


@pytest.mark.worker
def test_sealer_task_seals_each_tenant_in_its_own_schema(celery_worker_proc, tenant_a, tenant_b, record_events):
    from audit.tasks import chain_seal_all

    # Each log starts with the tenant's own provisioning events.
    base_a, base_b = log_size(tenant_a.tenant), log_size(tenant_b.tenant)
    a = record_events(tenant_a.tenant, 4)
    b = record_events(tenant_b.tenant, 2)
    assert chain_seal_all.delay().get(timeout=60) >= 2
    deadline = time.time() + 60
    while time.time() < deadline:
        with tenant_context(tenant_a.tenant):
            a_links = list(ChainLink.objects.order_by("seq").values_list("record_id", flat=True))
        with tenant_context(tenant_b.tenant):
            b_links = list(ChainLink.objects.order_by("seq").values_list("record_id", flat=True))
        if len(a_links) == base_a + 4 and len(b_links) == base_b + 2:
            break
        time.sleep(0.3)
    assert a_links[base_a:] == a and b_links[base_b:] == b, celery_worker_proc.log_path.read_text()[-3000:]
    with tenant_context(tenant_a.tenant):
        assert chain_check().ok
