"""Celery tasks by their registered names.

Services queue work (the webhook dispatcher after a commit, a matcher for an
uploaded statement) and tasks call services. Naming the task instead of
importing its module keeps that dependency one way, tasks -> services.
zentra_site imports every app's tasks module once Django is ready
(ZentraSiteConfig.ready), so a name resolves in a web process as in a worker.
"""
from __future__ import annotations

from celery import current_app
from celery.app.task import Task


def task_named(name: str) -> Task:
    return current_app.tasks[name]


def task_send(name: str, **options) -> None:
    """Send by name without running it here, even where tasks run eagerly
    (Celery's send_task; the tenant's schema travels in the headers)."""
    current_app.send_task(name, **options)
