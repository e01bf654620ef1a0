from . import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["core.api.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Zentra API",
    "DESCRIPTION": (
        "Multi-tenant money ledger. Every money-writing POST takes an Idempotency-Key; "
        "errors are RFC 9457 application/problem+json with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {
        "SideEnum": "ledger.models.Side",
        "AccountStatusEnum": "ledger.models.AccountStatus",
        "HoldStatusEnum": "ledger.models.HoldStatus",
        "ApprovalStatusEnum": "ledger.models.ApprovalStatus",
        "ReconciliationRunStatusEnum": "reconciliation.models.RunStatus",
        "ReconciliationItemStatusEnum": "reconciliation.models.ItemStatus",
        "DeliveryStatusEnum": "webhooks.models.Delivery.Status",
        "DeliveryTriggerEnum": "webhooks.models.Delivery.Trigger",
        "ProviderKindEnum": "providers.models.Provider.Kind",
        "SignatureSchemeEnum": "providers.models.Provider.Scheme",
        "InboundStatusEnum": "providers.models.InboundStatus",
        "SignatureResultEnum": "providers.models.SignatureResult",
        "PeriodStatusEnum": "closeout.models.PeriodStatus",
        "PeriodReopenStatusEnum": "closeout.models.ReopenStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "zentra_site.openapi.add_problem_responses",
    ],
    # Served from our own static files: nothing loads from the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

MAX_BODY_BYTES = env.MAX_BODY_BYTES
# Objects and arrays nested deeper than this are refused (400
# payload_too_deep) where a body is parsed: the API's and the inbound
# receiver's. Metadata is a few levels deep; serializers, json.dumps and
# jsonb all recurse.
JSON_MAX_DEPTH = 32
DATA_UPLOAD_MAX_MEMORY_SIZE = env.MAX_BODY_BYTES
# Exact paths allowed a larger body than MAX_BODY_BYTES, each with its own limit.
LARGE_UPLOAD_PATHS = {"/v1/reconciliations": env.RECONCILIATION_MAX_UPLOAD_BYTES}

# Defaults per API key / tenant; Tenant.limits overrides any key
# (tenants/services/limits.py). The body-size middleware's platform ceiling is
# MAX_BODY_BYTES: a tenant can be given less, never more.
ZENTRA_DEFAULT_LIMITS = {
    "requests_per_minute": env.RATE_LIMIT_PER_MINUTE,
    "max_page_size": env.MAX_PAGE_SIZE,
    "max_body_bytes": env.MAX_BODY_BYTES,
    "export_rows": env.EXPORT_ROWS,
}
