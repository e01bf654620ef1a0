from pathlib import Path

import dj_database_url

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env.DEBUG
SECRET_KEY = env.SECRET_KEY
ALLOWED_HOSTS = env.ALLOWED_HOSTS or [".localhost", "localhost", "127.0.0.1", "[::1]", "testserver", f".{env.BASE_DOMAIN}", env.BASE_DOMAIN]

ROOT_URLCONF = "zentra_site.urls"
WSGI_APPLICATION = "zentra_site.wsgi.application"
AUTH_USER_MODEL = "users.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

DATABASES = {
    "default": dj_database_url.parse(env.DATABASE_URL, conn_max_age=60, conn_health_checks=True),
}
# django-tenants' backend, less two round trips a request (zentra_site/dbbackend).
DATABASES["default"]["ENGINE"] = "zentra_site.dbbackend"
# Django's own cursors bind client-side and never prepare; the posting hot
# path's server-side-binding cursor (zentra_site/db.py) prepares a statement
# on its second run, so PostgreSQL plans it once per connection.
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2
# Startup parameters of every connection. plan_cache_mode: the prepared
# statements above take account ids and codes as arrays, and PostgreSQL's
# default (`auto`) prices their generic plan from default array statistics,
# finds it dearer than the plan for the actual values and so re-plans the
# claim-and-lock statement on every posting (~0.5 ms). The plans of these
# statements (and of the triggers' statements) do not depend on the values.
# On Citus a generic plan cannot be routed: the planner needs the values to
# pick the shard and to deparse a data-modifying CTE, so it keeps PostgreSQL's
# default there (each statement is planned for its values, on one worker).
_startup = [] if env.CITUS else ["-c plan_cache_mode=force_generic_plan"]
if env.DB_SET_ROLE:
    # Every connection starts as this role (a startup parameter, so even the
    # first query runs as it): migrations create their tables as the owner.
    _startup.append(f"-c role={env.DB_SET_ROLE}")
DATABASES["default"].setdefault("OPTIONS", {})["options"] = " ".join(_startup)
DB_OWNER_ROLE = env.DB_OWNER_ROLE
CITUS = env.CITUS
DB_APP_ROLE = env.DB_APP_ROLE

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

MIDDLEWARE = [
    "zentra_site.middleware.CorrelationIdMiddleware",
    "zentra_site.middleware.BodySizeLimitMiddleware",
    "tenants.middleware.TenantRoutingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "zentra_site.middleware.ContentSecurityPolicyMiddleware",
    # Serves /static/ under gunicorn (collectstatic fills STATIC_ROOT).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
