from django.core.management.base import BaseCommand

from tenants.services.template import template_ensure


class Command(BaseCommand):
    help = "Build or refresh the template schema new tenants are cloned from (run after migrate_schemas)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, **opts):
        rebuilt = template_ensure(force=opts["force"])
        self.stdout.write("template rebuilt" if rebuilt else "template up to date")
