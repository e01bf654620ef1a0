import json
import os

from django.core.management.base import BaseCommand

from tenants.services.db_roles import DEFAULT_APP, DEFAULT_OWNER, db_roles_ensure


class Command(BaseCommand):
    help = ("Create the owner and app database roles (idempotent), hand every schema and table to the owner "
            "and grant the app role its rows. Run as a superuser; see docs/operations.md, 'Database roles'.")

    def add_arguments(self, parser):
        parser.add_argument("--owner", default=os.environ.get("ZENTRA_DB_OWNER_ROLE") or DEFAULT_OWNER)
        parser.add_argument("--app", default=os.environ.get("ZENTRA_DB_APP_ROLE") or DEFAULT_APP)
        parser.add_argument("--app-password", default=os.environ.get("ZENTRA_DB_APP_PASSWORD") or None,
                            help="Set the app role's password (default: $ZENTRA_DB_APP_PASSWORD; unchanged if unset)")
        parser.add_argument("--schema", action="append", dest="schemas", metavar="SCHEMA",
                            help="Only these schemas (repeatable; default: every schema)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        report = db_roles_ensure(owner=opts["owner"], app=opts["app"], app_password=opts["app_password"],
                                 only_schemas=opts["schemas"])
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        created = ", ".join(report.created) or "none"
        self.stdout.write(
            f"roles {opts['owner']} (owner) and {opts['app']} (app): created {created}; "
            f"{report.reassigned} object(s) handed to the owner; {report.schemas} schema(s) (re)granted "
            f"({report.append_only} append-only tables, {report.no_delete} never-deleted tables)"
        )
