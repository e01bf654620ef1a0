from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # These modules import models: only once the registry is ready.
        from audit import receivers
        from audit.records import register

        register()  # audit events join the hash chain and become exportable
        receivers.connect()  # sign-ins, sign-outs and failed sign-ins become audit events
