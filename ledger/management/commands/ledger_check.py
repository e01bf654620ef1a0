import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ledger.checks import check_names, ledger_check
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Recompute every ledger invariant for one or all tenants; exit 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (default: all tenants)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        connection.set_schema_to_public()
        tenants = Tenant.objects.exclude(schema_name="public").order_by("slug")
        if opts.get("tenant"):
            tenants = tenants.filter(slug=opts["tenant"])
            if not tenants:
                raise CommandError(f"No tenant '{opts['tenant']}'.")
        report = {}
        for tenant in tenants:
            connection.set_tenant(tenant)
            report[tenant.slug] = ledger_check()
            connection.set_schema_to_public()
        total = sum(len(v) for v in report.values())
        if opts["json"]:
            self.stdout.write(json.dumps({
                "ok": total == 0, "checks": check_names(),
                "tenants": {t: [{"check": v.check, "detail": v.detail} for v in vs] for t, vs in report.items()},
            }))
        else:
            for slug, violations in report.items():
                status = self.style.SUCCESS("ok") if not violations else self.style.ERROR(f"{len(violations)} violation(s)")
                self.stdout.write(f"{slug}: {status}")
                for v in violations:
                    self.stdout.write(f"  [{v.check}] {v.detail}")
            self.stdout.write(f"{len(report)} tenant(s), {len(check_names())} checks each, {total} violation(s)")
        if total:
            raise SystemExit(1)
