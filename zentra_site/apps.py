from django.apps import AppConfig


class ZentraSiteConfig(AppConfig):
    """The wiring layer as an app: its deploy checks register, and every
    app's Celery tasks are imported so services can queue them by name
    (core.tasks)."""

    name = "zentra_site"

    def ready(self) -> None:
        from zentra_site import checks  # noqa: F401 - Django needs the registry ready before checks register
        from zentra_site.celery import app

        app.autodiscover_tasks(force=True)
