"""Deploy checks of our own: `manage.py check --deploy` fails while a
production deployment still runs on the repository's public defaults."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from zentra_site.settings import env


@register(Tags.security, deploy=True)
def production_secrets_check(app_configs, **kwargs):
    problems = []
    if settings.SECRET_KEY == env.DEV_SECRET_KEY:
        problems.append(Error("DJANGO_SECRET_KEY is the development default (it is public).",
                              hint="Set DJANGO_SECRET_KEY to 50+ random characters.", id="zentra.E001"))
    if settings.API_KEY_PEPPER == env.DEV_API_KEY_PEPPER:
        problems.append(Error("ZENTRA_API_KEY_PEPPER is the development default.",
                              hint="Set ZENTRA_API_KEY_PEPPER to a long random secret (changing it later "
                                   "invalidates every API key).", id="zentra.E002"))
    if not env.ALLOWED_HOSTS:
        problems.append(Error("ZENTRA_ALLOWED_HOSTS is not set: the development host list (.localhost …) applies.",
                              hint="Set ZENTRA_ALLOWED_HOSTS, e.g. '.zentra.example.com'.", id="zentra.E003"))
    if not settings.SESSION_COOKIE_SECURE or not settings.CSRF_COOKIE_SECURE:
        problems.append(Error("Session and CSRF cookies must be Secure in production.", id="zentra.E004"))
    return problems
