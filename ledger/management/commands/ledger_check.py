import json
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ledger.checks import GRACE, check_names, ledger_check
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Recompute every ledger invariant for one or all tenants; exit 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (default: all tenants)")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--no-seal", action="store_true",
                            help="Verify the chain as it is; do not first seal records committed since the last seal")
        parser.add_argument("--skip", action="append", default=[], metavar="CHECK",
                            help="Leave out a check by name (repeatable), e.g. --skip chain_verifies")
        parser.add_argument("--limit", type=int, default=20, help="At most this many violations per check")
        parser.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
                            help="History-based checks judge only what settled longer ago than this (commit races)")

    def handle(self, *args, **opts):
        connection.set_schema_to_public()
        tenants = Tenant.objects.exclude(schema_name="public").order_by("slug")
        if opts.get("tenant"):
            tenants = tenants.filter(slug=opts["tenant"])
            if not tenants:
                raise CommandError(f"No tenant '{opts['tenant']}'.")
        unknown = set(opts["skip"]) - set(check_names())
        if unknown:
            raise CommandError(f"Unknown check(s) {sorted(unknown)}; known: {check_names()}")
        report, seconds = {}, {}
        for tenant in tenants:
            connection.set_tenant(tenant)
            started = time.monotonic()
            report[tenant.slug] = ledger_check(limit_per_check=opts["limit"], seal=not opts["no_seal"],
                                               skip=tuple(opts["skip"]),
                                               grace=timedelta(seconds=opts["grace_seconds"]))
            seconds[tenant.slug] = round(time.monotonic() - started, 3)
            connection.set_schema_to_public()
        total = sum(len(v) for v in report.values())
        if opts["json"]:
            self.stdout.write(json.dumps({
                "ok": total == 0, "checks": [c for c in check_names() if c not in opts["skip"]],
                "seconds": seconds,
                "tenants": {t: [{"check": v.check, "detail": v.detail} for v in vs] for t, vs in report.items()},
            }))
        else:
            for slug, violations in report.items():
                status = self.style.SUCCESS("ok") if not violations else self.style.ERROR(f"{len(violations)} violation(s)")
                self.stdout.write(f"{slug}: {status} ({seconds[slug]} s)")
                for v in violations:
                    self.stdout.write(f"  [{v.check}] {v.detail}")
            checks = len(check_names()) - len(set(opts["skip"]))
            self.stdout.write(f"{len(report)} tenant(s), {checks} checks each, {total} violation(s)")
        if total:
            raise SystemExit(1)
