from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo tenant and its data: it seeds every app through their
    services, so it sits above all of them (.importlinter)."""

    name = "demo"
