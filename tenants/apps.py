from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from zentra_site import openapi  # noqa: F401 - registers the API-key scheme with drf-spectacular
