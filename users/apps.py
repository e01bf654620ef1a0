from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The admin site and the forms module import models: only once the registry is ready.
        from django.contrib import admin

        from users.forms import AdminLockoutAuthenticationForm

        # The admin signs in operators of the tenant whose hostname served it,
        # and platform staff on the public site: both behind the lockout.
        admin.site.login_form = AdminLockoutAuthenticationForm
