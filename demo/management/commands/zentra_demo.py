import json
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo.tenant import DEMO_SLUG, demo_ensure

# The ledger's data first; webhook deliveries and reconciliation breaks read it.
SEED_COMMANDS = ("ledger_demo_seed", "webhooks_demo_seed", "reconciliation_demo_seed")


class Command(BaseCommand):
    help = "Ensure the demo tenant, its operators and a fresh demo API key (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Port the printed URLs point at.")
        parser.add_argument("--json", action="store_true", help="Print {console_url, api_key, users, api_docs} as JSON.")
        parser.add_argument("--no-seed", action="store_true", help="Skip the demo data (" + ", ".join(SEED_COMMANDS) + ").")

    def handle(self, *args, **opts):
        demo = demo_ensure()
        if not opts["no_seed"]:
            # With --json, stdout carries only the JSON document.
            seed_out = sys.stderr if opts["json"] else self.stdout
            for command in SEED_COMMANDS:
                call_command(command, "--tenant", DEMO_SLUG, stdout=seed_out)
        out = demo.as_dict(port=opts["port"])
        if opts["json"]:
            self.stdout.write(json.dumps(out))
            return
        self.stdout.write(self.style.SUCCESS(f"Demo tenant '{out['tenant']}' (schema {out['schema']})"))
        self.stdout.write(f"Console:  {out['console_url']}")
        for user in out["users"]:
            self.stdout.write(f"  {user['username']:<11} {user['password']:<22} {user['role']}")
        self.stdout.write(f"API key:  {out['api_key']}  (shown once; the previous demo key is revoked)")
        self.stdout.write(f"API docs: {out['api_docs']}")
        self.stdout.write(f"Inbound:  {out['inbound_url']}  (Stripe rules; set its secret with "
                          "POST /v1/providers/{id}/rotate-secret)")
