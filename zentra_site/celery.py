"""Celery app. tenant-schemas-celery stamps each task with the schema that sent
it and switches the worker's connection to that schema before running it."""
import os

from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")

app = TenantAwareCeleryApp("zentra")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
