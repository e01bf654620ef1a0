from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # These modules import models: only once the registry is ready.
        from events.services import fanout_register
        from webhooks.records import register
        from webhooks.services.fanout import DELIVERIES

        fanout_register(DELIVERIES)  # every outbox write fans out to this tenant's endpoints
        register()  # holds and deliveries become exportable
