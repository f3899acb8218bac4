"""Sign-up by e-mail with verification, organisations, invitations."""

import re

import pytest
from django.core import mail

from accounts.models import AuditEvent, Invitation, Membership, Organisation, User
from accounts.services import invitation_accept, invitation_create, organisation_create
from config.errors import ExchangeError, NotAllowed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_verify_email_then_create_a_provider_organisation(client):
    r = client.post(
        "/accounts/signup/",
        {"email": "new@provider.test", "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42"},
    )
    assert r.status_code == 302
    user = User.objects.get(email="new@provider.test")
    # mandatory verification: not signed in until the link is followed
    assert client.get("/dashboard/").status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/confirm-email/[^\s]+)", mail.outbox[0].body).group(1)
    client.post(link)
    assert user.emailaddress_set.get().verified
    assert (
        client.post("/accounts/login/", {"login": "new@provider.test", "password": "a-long-pass-phrase-42"}).status_code
        == 302
    )

    r = client.get("/dashboard/")
    assert r.status_code == 302 and r["Location"] == "/organisations/new/"
    r = client.post("/organisations/new/", {"name": "  Lingang Compute  ", "is_provider": "on"})
    assert r.status_code == 302
    org = Organisation.objects.get()
    assert (org.name, org.slug, org.is_buyer, org.is_provider, org.is_platform) == (
        "Lingang Compute",
        "lingang-compute",
        False,
        True,
        False,
    )
    assert Membership.objects.get(organisation=org).role == "owner"
    assert "Lingang Compute" in client.get("/dashboard/").content.decode()


def test_organisation_needs_a_name_and_a_role(client):
    user = UserFactory()
    client.force_login(user)
    r = client.post("/organisations/new/", {"name": "Acme"})
    assert r.status_code == 200
    assert "An organisation buys, provides, or both." in r.content.decode()
    assert Organisation.objects.count() == 0
    # what the user typed is kept
    assert 'value="Acme"' in r.content.decode()


def test_slugs_are_unique():
    a = organisation_create(user=UserFactory(), name="Acme", is_buyer=True, is_provider=False)
    b = organisation_create(user=UserFactory(), name="Acme", is_buyer=True, is_provider=False)
    assert (a.slug, b.slug) == ("acme", "acme-2")


def test_invitation_is_accepted_only_by_its_addressee(make_org):
    owner, org = make_org()
    invitation = invitation_create(actor=owner, organisation=org, email="Hire@Example.test", role="trader")
    assert invitation.email == "hire@example.test"
    assert mail.outbox[-1].to == ["hire@example.test"] if mail.outbox else True
    stranger = UserFactory(email="stranger@example.test")
    with pytest.raises(ExchangeError) as err:
        invitation_accept(user=stranger, invitation_id=invitation.pk)
    assert err.value.code == "not_found"
    hire = UserFactory(email="hire@example.test")
    membership = invitation_accept(user=hire, invitation_id=invitation.pk)
    assert (membership.organisation, membership.role) == (org, "trader")
    with pytest.raises(ExchangeError):
        invitation_accept(user=hire, invitation_id=invitation.pk)  # once only
    assert AuditEvent.objects.filter(action="invitation.accept", actor=hire).count() == 1


def test_invitation_rules(make_org):
    owner, org = make_org()
    admin = UserFactory()
    Membership.objects.create(user=admin, organisation=org, role="admin")
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=org, role="viewer")
    with pytest.raises(NotAllowed):
        invitation_create(actor=viewer, organisation=org, email="x@example.test", role="trader")
    with pytest.raises(ExchangeError) as err:
        invitation_create(actor=admin, organisation=org, email="x@example.test", role="owner")
    assert err.value.fields["role"][0]["code"] == "role_required"
    with pytest.raises(ExchangeError) as err:
        invitation_create(actor=owner, organisation=org, email=admin.email, role="trader")
    assert err.value.fields["email"][0]["code"] == "already_member"
    invitation_create(actor=owner, organisation=org, email="x@example.test", role="trader")
    with pytest.raises(ExchangeError) as err:
        invitation_create(actor=owner, organisation=org, email="X@example.test", role="viewer")
    assert err.value.fields["email"][0]["code"] == "already_invited"
    assert Invitation.objects.count() == 1


def test_unverified_address_cannot_accept(make_org):
    owner, org = make_org()
    invitation = invitation_create(actor=owner, organisation=org, email="hire@example.test", role="trader")
    hire = UserFactory(email="hire@example.test")
    hire.emailaddress_set.update(verified=False)
    with pytest.raises(ExchangeError):
        invitation_accept(user=hire, invitation_id=invitation.pk)
    assert not Membership.objects.filter(user=hire).exists()


def test_switching_organisation_only_to_ones_you_belong_to(client, make_org):
    user, first = make_org()
    _, second = make_org(user=user)
    _, foreign = make_org()
    client.force_login(user)
    assert client.get("/api/v1/me/").json()["organisation"]["slug"] == first.slug
    client.post("/organisations/switch/", {"organisation": second.pk})
    assert client.get("/api/v1/me/").json()["organisation"]["slug"] == second.slug
    client.post("/organisations/switch/", {"organisation": foreign.pk})
    assert client.get("/api/v1/me/").json()["organisation"]["slug"] == second.slug


def test_invitations_show_only_to_a_verified_address(client, make_org):
    owner, org = make_org()
    invitation_create(actor=owner, organisation=org, email="hire@example.test", role="trader")
    hire = UserFactory(email="hire@example.test")
    hire.emailaddress_set.update(verified=False)
    client.force_login(hire)
    assert client.get("/dashboard/")["Location"] == "/organisations/new/"
    hire.emailaddress_set.update(verified=True)
    assert "invites you to" in client.get("/dashboard/").content.decode()


def test_password_reset_by_email(client):
    user = UserFactory(email="forgetful@example.test")
    client.post("/accounts/password/reset/", {"email": "forgetful@example.test"})
    body = mail.outbox[-1].body.replace("=\n", "")
    link = re.search(r"http://testserver(/accounts/password/reset/key/[^\s]+)", body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    r = client.post(
        page.redirect_chain[-1][0] if page.redirect_chain else link,
        {"password1": "a-brand-new-phrase-77", "password2": "a-brand-new-phrase-77"},
    )
    assert r.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-brand-new-phrase-77")


def test_an_organisation_records_its_nearest_city_core_and_the_shelf_measures_latency_to_it(client):
    user = UserFactory()
    client.force_login(user)
    r = client.post("/organisations/new/", {"name": "Acme", "is_buyer": "on", "city": "SH"})
    assert r.status_code == 302
    assert Organisation.objects.get().city == "SH"
    assert client.get("/shelf/").context["city_name"] == "Shanghai"  # latency measured to it by default


def test_an_unknown_city_core_is_refused_and_nothing_is_created():
    with pytest.raises(ExchangeError) as refused:
        organisation_create(user=UserFactory(), name="Acme", is_buyer=True, is_provider=False, city="XX")
    assert refused.value.fields["city"][0]["code"] == "invalid_choice"
    assert Organisation.objects.count() == 0


def test_the_api_takes_the_city_core_too(api):
    api_client = api(user=UserFactory())
    r = api_client.post("/api/v1/organisations/", {"name": "Bolt", "is_buyer": True, "city": "GZ"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["city"] == "GZ" and Organisation.objects.get().city == "GZ"
