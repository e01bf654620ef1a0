from django.apps import AppConfig

from ledger import errors  # noqa: F401 - registers the SQLSTATEs its errors own (core.db_errors)


class LedgerConfig(AppConfig):
    name = "ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ledger.records import register

        register()  # entries join the hash chain; ledger lines become exportable
