from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenants.models import Tenant
from demo.webhooks import webhooks_demo_seed


class Command(BaseCommand):
    help = "Demo webhooks: an endpoint that is down, with failed delivery attempts. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        connection.set_tenant(tenant)
        try:
            result = webhooks_demo_seed(tenant=tenant.slug)
        finally:
            connection.set_schema_to_public()
        self.stdout.write(f"demo webhooks: {result['endpoints']} failing endpoint, {result['attempts']} attempts made now")
