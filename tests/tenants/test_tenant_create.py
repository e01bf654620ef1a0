import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants import errors as tenants_errors
from core import errors as core_errors
from tenants.models import ApiKey, Domain, Tenant
from tenants.services.tenants import tenant_create
from core.actors import Actor


def test_tenant_create_command_prints_json(capsys):
    slug = f"cmd-{uuid.uuid4().hex[:8]}"
    call_command("tenant_create", slug, "--domain", f"{slug}.localhost", "--api-key", "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == slug
    assert out["schema"] == "t_" + slug.replace("-", "_")
    assert out["domain"] == f"{slug}.localhost"
    assert out["api_key"].startswith("zk_")
    assert schema_exists(out["schema"])
    key = ApiKey.objects.get(tenant__slug=slug)
    # Only the hash is stored: no column holds the secret.
    secret = out["api_key"].split("_", 2)[2]
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(secret not in str(v) for v in row.values())


def test_duplicate_slug_and_domain_are_clear_errors(tenant_factory):
    first = tenant_factory()
    with pytest.raises(tenants_errors.TenantExists):
        tenant_create(actor=Actor.system("tests"), slug=first.tenant.slug, domain="other-domain.localhost")
    with pytest.raises(tenants_errors.DomainExists):
        tenant_create(actor=Actor.system("tests"), slug="brandnew", domain=first.domain.domain)
    assert not Tenant.objects.filter(slug="brandnew").exists()
    assert not schema_exists("t_brandnew")
    with pytest.raises(CommandError, match="tenant_exists"):
        call_command("tenant_create", first.tenant.slug, "--domain", "x.localhost")


def test_failure_mid_provisioning_leaves_nothing(monkeypatch):
    from tenants.services import tenants as svc

    def boom(**kwargs):
        raise RuntimeError("simulated failure after the schema was cloned")

    monkeypatch.setattr(svc, "api_key_create", boom)
    with pytest.raises(RuntimeError):
        tenant_create(actor=Actor.system("tests"), slug="halfmade", domain="halfmade.localhost", with_api_key=True)
    assert not Tenant.objects.filter(slug="halfmade").exists()
    assert not Domain.objects.filter(domain="halfmade.localhost").exists()
    assert not schema_exists("t_halfmade")


@pytest.mark.parametrize("slug", ["", "A", "ab", "Bad_Slug", "public", "9lives", "x" * 41])
def test_invalid_slugs_rejected(slug):
    with pytest.raises(core_errors.ValidationFailed):
        tenant_create(actor=Actor.system("tests"), slug=slug, domain="valid.localhost")


def test_cloned_schema_has_every_tenant_table(tenant_a):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [tenant_a.tenant.schema_name]
        )
        cloned = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'zentra_template'")
        assert cloned == cur.fetchone()[0] > 5
