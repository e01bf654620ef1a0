"""People: admins create operators, change roles, deactivate; the tenant
always keeps an active admin; `manage.py user_create` uses the same service.
(The browser scenario is tests/console/scenarios/test_people.py.)"""
from __future__ import annotations

import io
import re
import sys

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from users.models import User

from .conftest import csrf_token, form_value, login


def audits(ct, action: str) -> list[AuditEvent]:
    with ct.schema():
        return list(AuditEvent.objects.filter(action=action))


def create(client, username: str, role: str = "operator", key: str | None = None):
    html = client.get("/console/people/").content.decode()
    return client.post("/console/people/new/", {
        "csrfmiddlewaretoken": form_value(html, "csrfmiddlewaretoken"), "form_key": key or form_value(html, "form_key"),
        "username": username, "email": "", "role": role})


def person_form(client, user_id: int, section: str) -> dict:
    html = client.get(f"/console/people/{user_id}/").content.decode()
    return {"csrfmiddlewaretoken": form_value(html, "csrfmiddlewaretoken"),
            "form_key": form_value(html.split(f'id="{section}"')[1], "form_key")}


def test_admin_creates_an_operator_who_signs_in_with_the_temporary_password(console_tenant):
    ct = console_tenant
    admin = ct.client("admin1")
    html = admin.get("/console/people/").content.decode()
    key = form_value(html, "form_key")
    r1 = create(admin, "dana", key=key)
    r2 = create(admin, "dana", key=key)  # a double submit: one user, the same page
    assert r1.status_code == r2.status_code == 302 and r1["Location"] == r2["Location"]
    with ct.schema():
        dana = User.objects.get(username="dana")
        assert dana.role == "operator" and dana.is_active and dana.last_login is None
    assert len(audits(ct, "user.created")) == 1 and audits(ct, "user.created")[0].actor_ref.endswith(":admin1")
    page = admin.get(r1["Location"]).content.decode()
    password = re.search(r'id="temp-password-value">([^<]+)<', page).group(1)
    c = ct.client()
    login(c, "dana", password)
    assert c.get("/console/new-entry/").status_code == 200
    assert c.get("/console/people/").status_code == 403
    # Once signed in, the temporary password is no longer shown.
    assert 'id="temp-password"' not in admin.get(r1["Location"]).content.decode()
    # Without the creating form's key it never was.
    assert 'id="temp-password"' not in admin.get(f"/console/people/{dana.pk}/").content.decode()


def test_role_change_applies_at_once_and_deactivation_ends_the_session(console_tenant):
    ct = console_tenant
    admin = ct.client("admin1")
    op = ct.client("operator1")
    uid = ct.users["operator1"].pk
    assert op.get("/console/new-entry/").status_code == 200
    form = person_form(admin, uid, "role")
    for _ in range(2):
        assert admin.post(f"/console/people/{uid}/role/", {**form, "role": "viewer"}).status_code == 302
    assert op.get("/console/new-entry/").status_code == 403
    changes = audits(ct, "user.role_changed")
    assert len(changes) == 1 and changes[0].before["role"] == "operator" and changes[0].after["role"] == "viewer"
    form = person_form(admin, uid, "deactivate")
    assert admin.post(f"/console/people/{uid}/deactivate/", {**form, "confirm": "on"}).status_code == 302
    with ct.schema():
        assert not User.objects.get(pk=uid).is_active
    r = op.get("/console/")
    assert r.status_code == 302 and "/console/login/" in r["Location"]
    assert len(audits(ct, "user.deactivated")) == 1


def test_the_last_admin_cannot_demote_or_deactivate_themselves(console_tenant):
    ct = console_tenant
    admin = ct.client("admin1")
    uid = ct.users["admin1"].pk
    r = admin.post(f"/console/people/{uid}/role/", {**person_form(admin, uid, "role"), "role": "viewer"})
    assert r.status_code == 409 and "last_admin_required" in r.content.decode()
    r = admin.post(f"/console/people/{uid}/deactivate/", {**person_form(admin, uid, "deactivate"), "confirm": "on"})
    assert r.status_code == 409 and "last_admin_required" in r.content.decode()
    with ct.schema():
        me = User.objects.get(pk=uid)
        assert me.role == "admin" and me.is_active
    assert not audits(ct, "user.role_changed") and not audits(ct, "user.deactivated")
    # With a second admin, stepping down is fine.
    assert create(admin, "second_admin", role="admin").status_code == 302
    r = admin.post(f"/console/people/{uid}/role/", {**person_form(admin, uid, "role"), "role": "operator"})
    assert r.status_code == 302
    with ct.schema():
        assert User.objects.get(pk=uid).role == "operator"


def test_taken_username_is_refused_and_creates_nothing(console_tenant):
    ct = console_tenant
    admin = ct.client("admin1")
    r = create(admin, "Operator1")
    assert r.status_code == 409 and "username_taken" in r.content.decode()
    with ct.schema():
        assert User.objects.filter(username__iexact="operator1").count() == 1
    assert not audits(ct, "user.created")


@pytest.mark.parametrize("username", ["viewer1", "operator1", "approver1", "compliance1"])
def test_only_admins_manage_people_and_nothing_is_written(console_tenant, username):
    ct = console_tenant
    c = ct.client(username)
    uid = ct.users["viewer1"].pk
    assert c.get("/console/people/").status_code == 403
    assert c.get(f"/console/people/{uid}/").status_code == 403
    token = csrf_token(c, "/console/")
    for path, fields in (("/console/people/new/", {"username": "mallory", "role": "admin"}),
                         (f"/console/people/{uid}/role/", {"role": "admin"}),
                         (f"/console/people/{uid}/deactivate/", {"confirm": "on"})):
        r = c.post(path, {"csrfmiddlewaretoken": token, "form_key": "con_not_allowed_123", **fields})
        assert r.status_code == 403 and "permission_denied" in r.content.decode(), path
    with ct.schema():
        assert not User.objects.filter(username="mallory").exists()
        assert User.objects.get(pk=uid).role == "viewer" and User.objects.get(pk=uid).is_active
        assert not AuditEvent.objects.filter(action__startswith="user.").exists()


def test_manage_user_create(console_tenant, monkeypatch):
    ct = console_tenant
    slug = ct.tenant.slug
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-script-password\n"))
    out = io.StringIO()
    call_command("user_create", tenant=slug, username="ci_bot", role="viewer", password_stdin=True, stdout=out)
    assert "created ci_bot (viewer)" in out.getvalue() and "password" not in out.getvalue()
    c = ct.client()
    login(c, "ci_bot", "a-long-script-password")
    assert c.get("/console/").status_code == 200
    created = audits(ct, "user.created")
    assert len(created) == 1 and created[0].actor_ref == "system:manage.user_create"

    out = io.StringIO()
    call_command("user_create", tenant=slug, username="ops_2", role="operator", stdout=out)
    password = re.search(r"temporary password \(shown once\): (\S+)", out.getvalue()).group(1)
    login(ct.client(), "ops_2", password)

    with pytest.raises(CommandError, match="username_taken"):
        call_command("user_create", tenant=slug, username="ci_bot", role="admin", stdout=io.StringIO())
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    with pytest.raises(CommandError, match="validation_error"):
        call_command("user_create", tenant=slug, username="weak", role="viewer", password_stdin=True,
                     stdout=io.StringIO())
    with pytest.raises(CommandError, match="No tenant"):
        call_command("user_create", tenant="no-such-tenant", username="x", role="viewer", stdout=io.StringIO())
    with ct.schema():
        assert not User.objects.filter(username="weak").exists()
        assert User.objects.get(username="ci_bot").role == "viewer"


def test_two_admins_demoting_each_other_at_once_leave_one_admin(console_tenant):
    import threading

    from django.db import connection

    from core.actors import Actor
    from users import errors
    from users.services.users import user_create, user_role_change

    ct = console_tenant
    with ct.schema():
        second = user_create(actor=Actor.system("tests"), username="admin2", role="admin",
                             password="second-admin-password")
    first = ct.users["admin1"]
    for _ in range(3):  # a few rounds: the two must overlap at least sometimes
        with ct.schema():
            for pk in (first.pk, second.pk):
                user_role_change(actor=Actor.system("tests"), user_id=pk, role="admin")
        connection.set_schema_to_public()
        barrier, results = threading.Barrier(2), []

        def demote(target: int, barrier=barrier, results=results) -> None:
            connection.set_tenant(ct.tenant)
            try:
                barrier.wait()
                user_role_change(actor=Actor.system("tests"), user_id=target, role="viewer")
                results.append("demoted")
            except errors.LastAdminRequired:
                results.append("refused")
            finally:
                connection.close()

        threads = [threading.Thread(target=demote, args=(pk,)) for pk in (first.pk, second.pk)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == ["demoted", "refused"]
        with ct.schema():
            assert User.objects.filter(role="admin", is_active=True).count() == 1
