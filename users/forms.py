"""Sign-in forms for the console and the admin, with the lockout in front."""
from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from users.services.lockout import login_failure_record, login_failures_clear, login_lock_get


def _locked_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return (f"Too many failed sign-ins for this username from your address. "
            f"Sign-in is locked for {minutes} more minute{'s' if minutes != 1 else ''}.")


class LockoutMixin:
    surface = "console"
    locked_message = ""

    def _locked(self, retry_after: int) -> forms.ValidationError:
        self.locked_message = _locked_message(retry_after)
        return forms.ValidationError(self.locked_message, code="locked")

    def clean(self):
        # The lock keys on the name as the username field hands it to
        # authenticate() (NFKC), not on the bytes that were typed.
        username = self.fields["username"].to_python(self.data.get("username") or "").strip()
        request = self.request
        ip = request.META.get("REMOTE_ADDR") if request else None
        ua = request.META.get("HTTP_USER_AGENT", "") if request else ""
        if username:
            lock = login_lock_get(username=username, ip=ip)
            if lock.locked:
                # Checked before the password: a locked pair learns nothing,
                # not even whether the password was right.
                raise self._locked(lock.retry_after)
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username:
                lock = login_failure_record(username=username, ip=ip, user_agent=ua, surface=self.surface)
                if lock.locked:
                    raise self._locked(lock.retry_after) from None
            raise
        if username:
            login_failures_clear(username=username, ip=ip)
        return cleaned


class ConsoleAuthenticationForm(LockoutMixin, AuthenticationForm):
    surface = "console"


class AdminLockoutAuthenticationForm(LockoutMixin, AdminAuthenticationForm):
    surface = "admin"
