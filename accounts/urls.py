from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/switch/", views.organisation_switch, name="organisation_switch"),
    path("organisation/members/", views.members, name="members"),
    path("invitations/<int:invitation_id>/accept/", views.invitation_accept, name="invitation_accept"),
    path("organisation/api-keys/", views.api_keys, name="api_keys"),
    path("organisation/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
]
