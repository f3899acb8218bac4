"""Who may do what, for pages and API alike."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from rest_framework import permissions

from accounts.models import ApiKey, ApiKeyScope
from accounts.selectors import membership_get, session_used_mfa, user_has_totp, user_is_operator


def organisation_required(view):
    """A signed-in user acting for an organisation; without one, they are sent to create one."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.organisation is None:
            messages.info(request, _("Create or join an organisation first."))
            return redirect("accounts:organisation_create")
        return view(request, *args, **kwargs)

    return wrapper


def provider_required(view):
    @organisation_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.organisation.is_provider:
            raise PermissionDenied("Only provider organisations can do this.")
        return view(request, *args, **kwargs)

    return wrapper


def operator_required(view):
    """Platform operators only, signed in with their second factor (MFA is mandatory for them).

    Without TOTP they are sent to set it up; with TOTP but a sign-in that skipped it (e.g. a
    session from before it was set up) they are asked to sign in again.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not user_is_operator(user=request.user):
            raise PermissionDenied("Operators only.")
        if not user_has_totp(user=request.user):
            messages.warning(request, _("Operators must set up two-factor authentication first."))
            return redirect("mfa_activate_totp")
        if not session_used_mfa(request=request):
            messages.warning(request, _("Sign in again with your authenticator code to use the operator console."))
            logout(request)
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


class HasOrganisation(permissions.BasePermission):
    """The caller acts for an organisation, and may write if the method writes.

    With an API key: the view's ``required_scopes`` (read, write) must be on the key.
    With a session: viewers may only read.
    """

    message = "You act for no organisation; create or join one."

    def has_permission(self, request, view):
        org = getattr(request, "organisation", None)
        if org is None:
            return False
        writing = request.method not in permissions.SAFE_METHODS
        if isinstance(request.auth, ApiKey):
            read_scope, write_scope = getattr(view, "required_scopes", (None, None))
            needed = write_scope if writing else read_scope
            if needed is not None and needed not in request.auth.scopes:
                self.message = f"This API key lacks the scope '{needed}'."
                return False
            return True
        membership = membership_get(user=request.user, organisation=org)
        if membership is None:
            return False
        if writing and not membership.can_write:
            self.message = "Viewers cannot change anything."
            return False
        return True


class IsOperator(permissions.BasePermission):
    """The platform operator: by API key with the operator scope, or a session signed in with TOTP.
    (What the operator may change is checked again by the services, by role.)"""

    message = "Operators only (with two-factor authentication set up)."

    def has_permission(self, request, view):
        org = getattr(request, "organisation", None)
        if org is None or not org.is_platform:
            return False
        if isinstance(request.auth, ApiKey):
            return ApiKeyScope.OPERATOR in request.auth.scopes
        return (
            user_is_operator(user=request.user)
            and user_has_totp(user=request.user)
            and session_used_mfa(request=request)
        )


class PeopleWrite(permissions.BasePermission):
    """Writes only by a signed-in person (e.g. keys and members are not managed by keys)."""

    message = "This change must be made by a signed-in person, not with an API key."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or not isinstance(request.auth, ApiKey)
