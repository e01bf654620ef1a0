"""The users app's typed errors (stable codes on the common ZentraError)."""
from core.errors import ZentraError


class LastAdminRequired(ZentraError):
    status, code, title = 409, "last_admin_required", "The tenant would be left without an active admin"


class UsernameTaken(ZentraError):
    status, code, title = 409, "username_taken", "A user with this username already exists"
