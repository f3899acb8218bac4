from accounts.selectors import organisations_for_user

SESSION_KEY = "active_organisation_id"


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
    API requests authenticated by an API key replace it with the key's organisation.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organisation = active_organisation(request)
        return self.get_response(request)
