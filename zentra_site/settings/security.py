from . import env

SESSION_COOKIE_SECURE = env.SECURE_COOKIES
CSRF_COOKIE_SECURE = env.SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
# The CSRF secret lives in the session, not a cookie: tenants are subdomains
# of one parent domain, and a cookie any sibling host could plant for it
# would let a planted token pair pass. The session is bound to its tenant.
CSRF_USE_SESSIONS = True
# A refused form gets a console page that says nothing was changed.
CSRF_FAILURE_VIEW = "console.views.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
]
WEBHOOKS_ALLOW_LOOPBACK = env.WEBHOOKS_ALLOW_LOOPBACK
API_KEY_PEPPER = env.API_KEY_PEPPER
BASE_DOMAIN = env.BASE_DOMAIN
LOGIN_MAX_FAILURES = env.LOGIN_MAX_FAILURES
LOGIN_LOCKOUT_SECONDS = env.LOGIN_LOCKOUT_SECONDS
# Django 5.2 has no CSP support of its own (6.0 adds it): zentra_site.middleware
# sends this on console and admin pages. Nothing there needs inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
CSP_PATH_PREFIXES = ("/console/", "/admin/")
