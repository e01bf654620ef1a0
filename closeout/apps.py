from django.apps import AppConfig

from closeout import errors  # noqa: F401 - registers the SQLSTATEs its errors own (core.db_errors)


class CloseoutConfig(AppConfig):
    name = "closeout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from closeout import checks, records

        records.register()  # period snapshots join the hash chain; trial balances become exportable
        checks.register()  # ledger_check verifies the sealed snapshots against the lines
