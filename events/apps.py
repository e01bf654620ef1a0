from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The outbox: event rows and event_emit. Nothing here knows about
    delivery; webhooks reads the outbox and registers its fan-out
    (events.services.fanout_register)."""

    name = "events"
    default_auto_field = "django.db.models.BigAutoField"
