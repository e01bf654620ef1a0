import json

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_tenant_model, tenant_context

from audit.services.chain import chain_verify
from core.tenancy import active_tenants


class Command(BaseCommand):
    help = ("Seal pending records, then recompute every tenant's hash chain from the records' current rows. "
            "Names the first broken link and exits non-zero if any chain is broken.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant (default: every active tenant).")
        parser.add_argument("--no-seal", action="store_true", help="Verify what is sealed without sealing first.")
        parser.add_argument("--json", action="store_true", help="One JSON report per line.")

    def handle(self, *args, **opts):
        if opts["tenant"]:
            tenant = get_tenant_model().objects.filter(slug=opts["tenant"]).first()
            if tenant is None:
                raise CommandError(f"unknown tenant '{opts['tenant']}'")
            tenants = [tenant]
        else:
            tenants = active_tenants()
        broken = []
        for tenant in tenants:
            with tenant_context(tenant):
                report = chain_verify(seal=not opts["no_seal"])
            if opts["json"]:
                self.stdout.write(json.dumps({"tenant": tenant.slug, **report.as_dict()}))
            else:
                self.stdout.write(self._line(tenant.slug, report))
            if not report.ok:
                broken.append((tenant.slug, report.first_broken))
        if broken:
            raise CommandError("; ".join(f"{slug}: chain broken at {b.describe()}" for slug, b in broken))

    def _line(self, slug, report) -> str:
        head = f"head seq {report.head.seq} {report.head.hash}" if report.head else "empty chain"
        unsealed = sum(report.unsealed.values())
        tail = f", {unsealed} unsealed ({report.unsealed})" if unsealed else ""
        if report.ok:
            return self.style.SUCCESS(f"{slug}: ok, {report.links_checked} links, {head}{tail}")
        return self.style.ERROR(f"{slug}: BROKEN at {report.first_broken.describe()} "
                                f"(after {report.links_checked - 1} good links; {head}){tail}")
