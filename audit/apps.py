from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.records import register  # imports models: only once the registry is ready

        register()  # audit events join the hash chain and become exportable
