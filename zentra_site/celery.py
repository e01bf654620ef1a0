"""Celery app. tenant-schemas-celery stamps each task with the schema that sent
it and switches the worker's connection to that schema before running it."""
import os

from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections, connection


def _drop_unusable_connections(task=None, **kwargs) -> None:
    """What Django does around every web request, around every task: drop a
    connection that errored (and no longer answers) or is past CONN_MAX_AGE,
    and re-arm CONN_HEALTH_CHECKS so the task's first query checks it.

    Celery's own fixup keeps a worker process's connection for
    CELERY_DB_REUSE_MAX tasks without looking at it; after a PostgreSQL
    restart (or pg_terminate_backend) that process then failed every task
    with "the connection is closed" until the count ran out, and webhook
    deliveries stalled for minutes (found by bench/fault_storm.py)."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # inline in the caller's process: its connection is the caller's business
    if connection.in_atomic_block:
        return
    close_old_connections()


# Connected before tenant_schemas_celery is imported: its task_prerun handler
# switches the schema on this connection, and receivers run in the order
# they were connected.
task_prerun.connect(_drop_unusable_connections, weak=False, dispatch_uid="zentra_drop_unusable_connections_pre")
task_postrun.connect(_drop_unusable_connections, weak=False, dispatch_uid="zentra_drop_unusable_connections_post")

from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")

app = TenantAwareCeleryApp("zentra")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
