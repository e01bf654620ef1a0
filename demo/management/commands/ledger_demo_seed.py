from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from demo.seed import demo_seed
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Load the demo ledger (accounts + the seed's payment flow) into a tenant. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        connection.set_tenant(tenant)
        try:
            result = demo_seed(tenant=tenant.slug)
        finally:
            connection.set_schema_to_public()
        self.stdout.write(f"demo ledger: {result['accounts']} accounts, {result['entries_posted_now']} entries posted now")
