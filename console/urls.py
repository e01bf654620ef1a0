from django.contrib.auth import views as auth_views
from django.urls import path

from users.forms import ConsoleAuthenticationForm

from . import views

app_name = "console"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(
        template_name="console/login.html", authentication_form=ConsoleAuthenticationForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/console/login/"), name="logout"),
    path("", views.overview, name="overview"),
]
