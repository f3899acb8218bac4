from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.selectors import session_used_mfa

# The admin signs in through allauth too, and is open only to staff whose sign-in passed a
# second factor: it is an operator tool, and MFA is mandatory for operators.
admin.site.login = secure_admin_login(admin.site.login)


def _admin_has_permission(request) -> bool:
    user = request.user
    return user.is_active and user.is_staff and session_used_mfa(request=request)


admin.site.has_permission = _admin_has_permission

# The API first: Django tries the patterns in order, and an order over the API (the busiest
# path) would otherwise be matched against every page's pattern first (none starts with api/).
urlpatterns = [
    path("api/v1/", include("config.api_urls")),
    path("", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("settlement.urls")),
    path("", include("marketplace.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
