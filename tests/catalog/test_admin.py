"""The admin: reference data editable and audited; the exchange's own records read-only."""

import json

import pytest

from accounts.models import AuditEvent
from catalog.models import Region
from catalog.services import pool_apply
from tests.conftest import descriptor, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_operator(operator):
    operator.is_staff = operator.is_superuser = True
    operator.save()
    return operator


def test_reference_data_edits_are_audited(client, staff_operator, reference_data):
    sign_in(client, staff_operator)
    url = "/admin/catalog/region/GS/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"flat_price_per_kwh": "0.3100", "rtt_ms": json.dumps(data["rtt_ms"])})
    data["tou_by_local_hour"] = json.dumps(data["tou_by_local_hour"])
    r = client.post(url, data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert str(Region.objects.get(code="GS").flat_price_per_kwh) == "0.3100"
    event = AuditEvent.objects.get(action="admin.region.change")
    assert event.actor == staff_operator and "flat_price_per_kwh" in event.detail["fields"]


def test_pools_and_capacity_are_read_only_in_the_admin(client, staff_operator, provider):
    pool = pool_apply(actor=provider[0], organisation=provider[1], descriptor=descriptor())
    sign_in(client, staff_operator)
    assert client.get(f"/admin/catalog/pool/{pool.pk}/change/").status_code == 200  # view only
    r = client.post(f"/admin/catalog/pool/{pool.pk}/change/", {"name": "renamed"})
    assert r.status_code == 403
    assert client.get("/admin/catalog/capacitycommitment/add/").status_code == 403
    assert client.get("/admin/catalog/heartbeat/add/").status_code == 403


def test_staff_without_a_second_factor_do_not_reach_the_admin(client):
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    r = client.get("/admin/catalog/region/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")


def test_bulk_delete_is_off(client, staff_operator, reference_data):
    sign_in(client, staff_operator)
    r = client.post("/admin/catalog/region/", {"action": "delete_selected", "_selected_action": ["GS"], "post": "yes"})
    assert Region.objects.filter(code="GS").exists()
    assert r.status_code in (200, 302)
