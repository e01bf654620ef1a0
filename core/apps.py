from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The lowest layer: errors, the database-error mapping, transactions,
    ids, the request context, advisory locks, API and admin base classes.
    It imports no other Zentra app (.importlinter)."""

    name = "core"
