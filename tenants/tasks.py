from celery import shared_task
from django.db import connection


@shared_task
def current_schema() -> str:
    """Probe used by the tests: proves a task runs in its sender's schema."""
    return connection.schema_name
