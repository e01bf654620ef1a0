from django.apps import AppConfig

from closeout import errors  # noqa: F401 - registers the SQLSTATEs its errors own (core.db_errors)


class CloseoutConfig(AppConfig):
    name = "closeout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models are loaded only now: these modules import them.
        from closeout import checks, records
        from closeout.services.periods import CLOSED_BOOKS
        from ledger.closing import closed_books_register

        closed_books_register(CLOSED_BOOKS)  # postings read the watermark and follow the tenant's rule
        records.register()  # period snapshots join the hash chain; trial balances become exportable
        checks.register()  # ledger_check verifies the sealed snapshots against the lines
