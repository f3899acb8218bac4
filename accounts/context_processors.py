from accounts.selectors import membership_get, organisations_for_user, user_is_operator


def organisation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    org = getattr(request, "organisation", None)
    return {
        "active_organisation": org,
        "active_membership": membership_get(user=user, organisation=org),
        "my_organisations": organisations_for_user(user=user),
        "is_operator": user_is_operator(user=user),
    }
