"""Shared set-up for bench scripts: a scratch database, Django pointed at it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    u = urlparse(base)
    return u._replace(path=f"/{name}").geturl()


def pg_args(url: str) -> list[str]:
    u = urlparse(url)
    return ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]


def fresh_database(url: str) -> None:
    u = urlparse(url)
    name = u.path.lstrip("/")
    subprocess.run(["dropdb", "--if-exists", "--force", *pg_args(url), name], check=True)
    subprocess.run(["createdb", *pg_args(url), name], check=True)


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")
    os.environ.setdefault("ZENTRA_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
