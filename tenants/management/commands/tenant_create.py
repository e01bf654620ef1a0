import json
import time

from django.core.management.base import BaseCommand, CommandError

from core import errors
from core.actors import Actor
from tenants.services.tenants import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (schema cloned from the template), its domain and optionally an API key."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--domain", required=True)
        parser.add_argument("--name")
        parser.add_argument("--api-key", action="store_true", help="Also issue an all-scopes API key (shown once).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **opts):
        started = time.perf_counter()
        try:
            result = tenant_create(
                actor=Actor.system("tenant_create"), slug=opts["slug"], domain=opts["domain"],
                name=opts.get("name"), with_api_key=opts["api_key"],
            )
        except errors.ZentraError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        out = result.as_dict()
        if opts["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Tenant {out['tenant']} (schema {out['schema']}) at {out['domain']} "
                f"in {time.perf_counter() - started:.2f}s"
            ))
            if out["api_key"]:
                self.stdout.write(f"API key (shown once): {out['api_key']}")
