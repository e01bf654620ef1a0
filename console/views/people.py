"""People: tenant admins create operators, change their roles, deactivate them."""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.shortcuts import render
from django.urls import reverse

from console.auth import console_view
from console.forms import UserCreateForm, UserDeactivateForm, UserRoleForm
from console.messages import friendly
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from core.actors import actor_for
from users.models import ROLE_CAPABILITIES, Role, User
from users.services.users import user_create, user_deactivate, user_role_change

from .common import done, form_invalid, int_param, use_the_form

ROLES = list(Role.choices)


def temporary_password(form_key: str) -> str:
    """The new person's first password, derived from the creating form's key
    and the server's secret: a double submit, or the page after the redirect,
    shows the same one, and it is stored nowhere but as the user's password
    hash. The person page shows it only while it is still the password and
    nobody has signed in with it."""
    mac = hmac.new(settings.SECRET_KEY.encode(), f"temp-password:{connection.schema_name}:{form_key}".encode(),
                   hashlib.sha256).digest()
    return base64.b32encode(mac).decode()[:20].lower()


def _person(user_id: str) -> User:
    pk = int_param(user_id)
    user = User.objects.filter(pk=pk).first() if pk is not None else None
    if user is None:
        raise errors.NotFound(f"No user '{user_id}' in this tenant.")
    return user


@console_view("admin")
def people_list(request):
    people = list(User.objects.order_by("-is_active", "username"))
    return render(request, "console/people.html", {
        "people": people, "roles": ROLES, "capabilities": {r: sorted(ROLE_CAPABILITIES[r]) for r, _ in ROLES},
        "form": UserCreateForm(roles=ROLES, initial={"form_key": new_form_key("usr"), "role": Role.OPERATOR}),
    })


@console_view("admin")
def person_create(request):
    if request.method != "POST":
        return use_the_form(request, "its page")
    form = UserCreateForm(request.POST, roles=ROLES)
    if not form.is_valid():
        return form_invalid(request, form)
    d, actor = form.cleaned_data, actor_for(request)

    def work() -> dict:
        user = user_create(actor=actor, username=d["username"], role=d["role"], email=d["email"],
                           password=temporary_password(d["form_key"]))
        page = reverse("console:person", kwargs={"user_id": user.pk}) + "?" + urlencode({"k": d["form_key"]})
        return {"redirect": page, "message": f"Created {user.username} ({user.get_role_display()})."}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action="user.create",
                                  payload={"username": d["username"], "role": d["role"], "email": d["email"]},
                                  work=work)
    except errors.ZentraError as exc:
        people = list(User.objects.order_by("-is_active", "username"))
        data = request.POST.copy()
        data["form_key"] = new_form_key("usr")
        return render(request, "console/people.html", {
            "people": people, "roles": ROLES, "problem": friendly(exc), "problem_code": exc.code,
            "capabilities": {r: sorted(ROLE_CAPABILITIES[r]) for r, _ in ROLES},
            "form": UserCreateForm(data, roles=ROLES)}, status=exc.status)
    return done(request, out.result, replayed=out.replayed)


@console_view("admin")
def person_detail(request, user_id: str):
    person = _person(user_id)
    key = request.GET.get("k", "")
    temp = None
    if key and person.last_login is None and person.is_active:
        candidate = temporary_password(key)
        if person.check_password(candidate):
            temp = candidate
    return render(request, "console/person.html", {
        "person": person, "temp_password": temp, "roles": ROLES, "self": person.pk == request.user.pk,
        "capabilities": sorted(ROLE_CAPABILITIES.get(person.role, ())),
        "role_form": UserRoleForm(roles=ROLES, initial={"form_key": new_form_key("rol"), "role": person.role}),
        "deactivate_form": UserDeactivateForm(initial={"form_key": new_form_key("dea")}),
    })


@console_view("admin")
def person_role(request, user_id: str):
    if request.method != "POST":
        return use_the_form(request, "its page")
    person = _person(user_id)
    form = UserRoleForm(request.POST, roles=ROLES)
    if not form.is_valid():
        return form_invalid(request, form)
    d, actor = form.cleaned_data, actor_for(request)

    def work() -> dict:
        user = user_role_change(actor=actor, user_id=person.pk, role=d["role"])
        return {"redirect": reverse("console:person", kwargs={"user_id": user.pk}),
                "message": f"{user.username} is now {user.get_role_display()}; it applies from their next click."}

    out = form_submission_run(actor=actor, key=d["form_key"], action="user.role_change",
                              payload={"user": person.pk, "role": d["role"]}, work=work)
    return done(request, out.result, replayed=out.replayed)


@console_view("admin")
def person_deactivate(request, user_id: str):
    if request.method != "POST":
        return use_the_form(request, "its page")
    person = _person(user_id)
    form = UserDeactivateForm(request.POST)
    if not form.is_valid():
        return form_invalid(request, form)
    actor = actor_for(request)

    def work() -> dict:
        user = user_deactivate(actor=actor, user_id=person.pk)
        return {"redirect": reverse("console:person", kwargs={"user_id": user.pk}),
                "message": f"{user.username} is deactivated and can no longer sign in."}

    out = form_submission_run(actor=actor, key=form.cleaned_data["form_key"], action="user.deactivate",
                              payload={"user": person.pk}, work=work)
    return done(request, out.result, replayed=out.replayed)
