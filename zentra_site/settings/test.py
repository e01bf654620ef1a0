"""Settings for the test suite (pytest.ini points here)."""
from . import *  # noqa: F401,F403
from . import env

REDIS_URL = env.TEST_REDIS_URL
CELERY_BROKER_URL = env.TEST_REDIS_URL
CELERY_RESULT_BACKEND = env.TEST_REDIS_URL
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never outside tests
WEBHOOKS_ALLOW_LOOPBACK = True
# Static files straight from the app directories: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests hammer one key per tenant (stateful, concurrency, fuzzing); the rate
# limit tests set a small per-tenant limit instead.
ZENTRA_DEFAULT_LIMITS = {**ZENTRA_DEFAULT_LIMITS, "requests_per_minute": 1_000_000}  # noqa: F405
