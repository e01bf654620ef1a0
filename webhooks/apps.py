from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models must be loaded before the fan-out's module is imported.
        from events.services import fanout_register
        from webhooks.services.fanout import DELIVERIES

        fanout_register(DELIVERIES)  # every outbox write fans out to this tenant's endpoints
