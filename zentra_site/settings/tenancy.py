# django-tenants: Tenant, Domain and API keys live in the public schema; every
# ledger, audit and webhook table lives once per tenant schema.
SHARED_APPS = [
    "django_tenants",
    "core",  # the lowest layer: no models, imported by every app
    "django.contrib.postgres",
    "tenants",
    "users",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "console",
    "demo",  # the demo tenant (make run); no models
    "zentra_site",  # wiring: deploy checks
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "users",
    "ledger",
    "audit",
    "events",  # the outbox
    "webhooks",
    "console",  # FormSubmission: per-tenant idempotency of console forms
    "reconciliation",
    "providers",
    "closeout",  # accounting periods, trial balance, period-end snapshots
]
INSTALLED_APPS = list(SHARED_APPS) + [a for a in TENANT_APPS if a not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# New tenants are cloned from this schema instead of replaying every migration
# (see tenants/services/template.py and bench/provisioning.py).
TENANT_BASE_SCHEMA = "zentra_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Send `SET search_path` once per tenant switch, not before every query: half of
# the posting path's round trips. django-tenants forgets the cached path on
# rollback and savepoint rollback (tests/zentra_site/test_db_backend.py).
TENANT_LIMIT_SET_CALLS = True
