"""Request middleware of the accounts app: the active organisation, and browser-only versions of
Django's session, authentication and message middleware.

A request to the API that carries an organisation API key (``Authorization: Bearer sk_…``) is
authenticated by the key alone (accounts.api.authentication): it has no session, no signed-in
user and no flash messages, so the middleware that provide those are skipped for it (some 5-8 %
of a single order's web CPU, with the active organisation's lookup). (allauth's AccountMiddleware
stays as it is: allauth refuses to start without it in MIDDLEWARE by name.) Every other
request, pages and the API used from a browser session included, goes through them as before."""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

from accounts.selectors import organisations_for_user
from accounts.services import API_KEY_KIND

SESSION_KEY = "active_organisation_id"
_API_KEY_PREFIX = f"Bearer {API_KEY_KIND}_"


def api_key_request(request) -> bool:
    """A request to the API with an organisation API key (valid or not: the key's authentication
    decides, and refuses a wrong one without falling back to a session)."""
    return request.path_info.startswith("/api/") and request.META.get("HTTP_AUTHORIZATION", "").startswith(
        _API_KEY_PREFIX
    )


class BrowserSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware, except for API-key requests."""

    def __call__(self, request):
        if api_key_request(request):
            return self.get_response(request)
        return super().__call__(request)


class BrowserAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, except for API-key requests (anonymous until the key's
    authentication names the key's creator)."""

    def __call__(self, request):
        if api_key_request(request):
            request.user = AnonymousUser()
            return self.get_response(request)
        return super().__call__(request)


class BrowserMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware, except for API-key requests."""

    def __call__(self, request):
        if api_key_request(request):
            return self.get_response(request)
        return super().__call__(request)


def active_organisation(request):
    user = request.user
    if not user.is_authenticated:
        return None
    orgs = organisations_for_user(user=user)
    wanted = request.session.get(SESSION_KEY)
    if wanted is not None:
        org = orgs.filter(pk=wanted).first()
        if org is not None:
            return org
    return orgs.order_by("pk").first()


class ActiveOrganisationMiddleware:
    """Sets ``request.organisation``: the organisation a signed-in person acts for.

    It is one the user is a member of: the one chosen in the session, else their first.
    API requests authenticated by an API key replace it with the key's organisation (None until
    then: they have no session).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organisation = None if api_key_request(request) else active_organisation(request)
        return self.get_response(request)
