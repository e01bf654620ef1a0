from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from audit.records import register
        from audit.services.sessions import session_event_record

        register()

        def logged_in(sender, request, user, **kwargs):
            session_event_record(event="login", request=request, user=user)

        def logged_out(sender, request, user, **kwargs):
            if user is not None:
                session_event_record(event="logout", request=request, user=user)

        def login_failed(sender, credentials, request=None, **kwargs):
            session_event_record(event="login_failed", request=request, username=credentials.get("username", ""))

        user_logged_in.connect(logged_in, dispatch_uid="audit.session.login", weak=False)
        user_logged_out.connect(logged_out, dispatch_uid="audit.session.logout", weak=False)
        user_login_failed.connect(login_failed, dispatch_uid="audit.session.login_failed", weak=False)
