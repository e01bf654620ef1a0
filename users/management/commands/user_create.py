import secrets
import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_tenant_model, tenant_context

from core import errors
from core.actors import Actor
from users.models import Role
from users.services.users import user_create


class Command(BaseCommand):
    help = ("Create a console user in one tenant through the same service as the console's People page "
            "(audited as system:manage.user_create). Without --password-stdin a temporary password is generated "
            "and printed once.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="Read the password from the first line of standard input")

    def handle(self, *args, **opts):
        tenant = get_tenant_model().objects.filter(slug=opts["tenant"]).exclude(schema_name="public").first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        generated = not opts["password_stdin"]
        if generated:
            password = secrets.token_urlsafe(15)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        try:
            with tenant_context(tenant):
                user = user_create(actor=Actor.system("manage.user_create"), username=opts["username"],
                                   role=opts["role"], email=opts["email"], password=password)
        except errors.ZentraError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        self.stdout.write(f"created {user.username} ({user.role}) in tenant {tenant.slug}")
        if generated:
            self.stdout.write(f"temporary password (shown once): {password}")
