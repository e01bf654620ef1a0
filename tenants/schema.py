"""OpenAPI description of the API-key authentication (loaded by TenantsConfig.ready)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "zk_<prefix>_<secret>",
            "description": "An API key of the tenant: `Authorization: Bearer zk_…`. The key decides the tenant.",
        }
