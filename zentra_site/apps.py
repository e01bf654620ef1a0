from django.apps import AppConfig


class ZentraSiteConfig(AppConfig):
    """The wiring layer as an app, so that its deploy checks register."""

    name = "zentra_site"

    def ready(self) -> None:
        from zentra_site import checks  # noqa: F401 - Django needs the registry ready before checks register
