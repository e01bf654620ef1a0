from django.apps import AppConfig


class CloseoutConfig(AppConfig):
    name = "closeout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from closeout.records import register

        register()  # period snapshots join the hash chain; trial balances become exportable
