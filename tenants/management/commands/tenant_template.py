from django.core.management.base import BaseCommand

from tenants.services.template import template_ensure


class Command(BaseCommand):
    help = "Build or refresh the template schema new tenants are cloned from (run after migrate_schemas)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, **opts):
        snap = template_ensure(force=opts["force"])
        self.stdout.write(f"template {snap.schema_name} at migrations {snap.migrations_digest[:12]} ({snap.created_at:%Y-%m-%d %H:%M:%S})")
