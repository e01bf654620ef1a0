from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from demo.reconciliation import reconciliation_demo_seed
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Demo reconciliation: a generated bank statement imported and matched, with breaks. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        connection.set_tenant(tenant)
        try:
            result = reconciliation_demo_seed(tenant=tenant.slug)
        finally:
            connection.set_schema_to_public()
        self.stdout.write(f"demo reconciliation: {result['runs']} run(s)")
