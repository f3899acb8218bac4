"""The provider portal and operator console as a person uses them."""

import re

import pytest
from django.utils import timezone

from catalog.models import Pool, PoolKey, PoolStatus
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

FORM = {
    "code": "lingang-1", "name": "Lingang", "region": "YRD", "tier": "MAIN", "city": "Shanghai",
    "latitude": "30.898", "longitude": "121.927", "rtt_ms": "2.5", "pue": "1.25",
    "green_power_share": "0.35", "security_level": "3", "data_residency": "on", "units_H100-80G": "64",
}  # fmt: skip


def test_connect_a_pool_through_the_portal(client, provider, operator, api):
    user, org = provider
    client.force_login(user)
    assert client.get("/provider/pools/new/").status_code == 200
    r = client.post("/provider/pools/new/", FORM)
    pool = Pool.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/provider/pools/{pool.pk}/"
    assert [(r.resource_class_id, r.units) for r in pool.resources.all()] == [("H100-80G", 64)]

    page = client.post(f"/provider/pools/{pool.pk}/keys/new/", {"name": "rack-1"}, follow=True).content.decode()
    key = re.search(r"pk_[0-9a-f]{12}_[A-Za-z0-9_-]+", page).group(0)
    assert PoolKey.objects.get().lookup == key.split("_")[1]
    assert key not in client.get(f"/provider/pools/{pool.pk}/").content.decode()  # shown once

    operator_client = client_class_signed_in(operator)
    page = operator_client.get("/operator/").content.decode()
    assert "lingang-1" in page
    operator_client.post(f"/operator/pools/{pool.pk}/verify/", {"reason": "site visit"})
    assert Pool.objects.get().status == PoolStatus.VERIFIED

    r = api(token=key).post(
        f"/api/v1/pools/{pool.pk}/heartbeats/",
        {"ts": timezone.now().isoformat(), "available": {"H100-80G": 64}, "health": "ok"},
    )
    assert r.status_code == 201
    page = client.get(f"/provider/pools/{pool.pk}/").content.decode()
    assert "Connected (并网)" in page and "first_heartbeat" in page
    assert re.search(r"<td>H100-80G</td><td class=\"num\">64</td>.*?<td class=\"num\">64</td></tr>", page)


def client_class_signed_in(user):
    from django.test import Client

    c = Client()
    sign_in(c, user)
    return c


def test_form_errors_are_shown_on_their_fields_and_nothing_is_lost(client, provider):
    client.force_login(provider[0])
    bad = {**FORM, "code": "No Caps", "pue": "3.5", "units_H100-80G": ""}
    r = client.post("/provider/pools/new/", bad)
    assert r.status_code == 200 and Pool.objects.count() == 0
    form = r.context["form"]
    # each problem at its field, with the grid-connection standard's reason code
    assert form.errors == {
        "code": ["Not in the required format. (invalid_format)"],
        "pue": ["Too large: at most 3. (max_value)"],
        form.class_fields[0]: ["Give the installed units of at least one resource class. (min_items)"],
    }
    assert 'value="No Caps"' in r.content.decode() and 'value="Shanghai"' in r.content.decode()
    r = client.post("/provider/pools/new/", {**FORM, "latitude": "-91"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.context["form"].errors == {"latitude": ["太小：至少为 -90。 (min_value)"]}
    assert 'value="-91"' in r.content.decode() and Pool.objects.count() == 0


def test_buyers_do_not_see_the_provider_portal(client, make_org, reference_data):
    user, _ = make_org(provider=False)
    client.force_login(user)
    assert client.get("/provider/pools/").status_code == 403
