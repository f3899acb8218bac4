"""Issue 2's journey as a new user would try it, in a real browser: sign up, verify the
address, create a provider organisation, connect a pool, take a machine key, send a heartbeat,
have the operator (with TOTP) verify it, and see it connected with its capacity counted."""

import json
import re
import time
import urllib.request

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Organisation
from catalog.models import Pool, PoolStatus
from catalog.services import reference_data_load
from tests.conftest import OPERATOR_TOTP_SECRET, PASSWORD
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def heartbeat(base_url, pool_id, key, units):
    body = json.dumps({"ts": timezone.now().isoformat(), "available": {"H100-80G": units}, "health": "ok"})
    request = urllib.request.Request(
        f"{base_url}/api/v1/pools/{pool_id}/heartbeats/", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_connect_a_pool_end_to_end(live_server, page, screenshots):
    reference_data_load()
    base = live_server.url
    operator = UserFactory(email="operator@e2e.test")
    platform = Organisation.objects.create(name="Suanli", slug="suanli", is_platform=True, is_buyer=False)
    Membership.objects.create(user=operator, organisation=platform, role="owner")
    TOTP.activate(operator, OPERATOR_TOTP_SECRET)

    # Sign up and verify the address from the e-mail
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", "founder@lingang.test")
    page.fill("input[name=password1]", "a-long-pass-phrase-42")
    page.fill("input[name=password2]", "a-long-pass-phrase-42")
    page.click("main button[type=submit]")
    link = re.search(r"http://[^\s]+/accounts/confirm-email/[^\s]+", mail.outbox[-1].body.replace("=\n", "")).group(0)
    page.goto(link.replace("http://testserver", base))
    page.click("main button[type=submit]")
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", "founder@lingang.test")
    page.fill("input[name=password]", "a-long-pass-phrase-42")
    page.click("main button[type=submit]")

    # A provider organisation
    page.goto(f"{base}/organisations/new/")
    page.fill("input[name=name]", "Lingang Compute")
    page.uncheck("input[name=is_buyer]")
    page.check("input[name=is_provider]")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Lingang Compute"

    # Connect a pool: first with a mistake, then right
    page.goto(f"{base}/provider/pools/new/")
    page.fill("input[name=code]", "Lingang 1")
    page.fill("input[name=name]", "Lingang AI Compute Centre")
    page.select_option("select[name=region]", "YRD")
    page.fill("input[name=city]", "Shanghai")
    page.fill("input[name=latitude]", "30.898")
    page.fill("input[name=longitude]", "121.927")
    page.fill("input[name=rtt_ms]", "2.5")
    page.fill("input[name=pue]", "1.25")
    page.fill("input[name=green_power_share]", "0.35")
    page.fill("input[name='units_H100-80G']", "64")
    page.click("text=Apply for connection")
    assert "Not in the required format. (invalid_format)" in page.locator(".field.has-error").first.inner_text()
    assert page.input_value("input[name=city]") == "Shanghai"  # nothing typed is lost
    page.screenshot(path=screenshots / "provider-pool-form-errors.png", full_page=True)
    page.fill("input[name=code]", "lingang-1")
    page.click("text=Apply for connection")
    assert "applied for connection" in page.content()
    pool = Pool.objects.get(code="lingang-1")

    # A machine key, shown once
    page.fill("input[name=name]", "rack-1")
    page.click("text=Create machine key")
    key = page.locator("code.key").inner_text().strip()
    assert key.startswith("pk_")

    # The operator verifies, signing in with the second factor
    operator_page = page.context.browser.new_page()
    operator_page.goto(f"{base}/accounts/login/")
    operator_page.fill("input[name=login]", operator.email)
    operator_page.fill("input[name=password]", PASSWORD)
    operator_page.click("main button[type=submit]")
    operator_page.fill("input[name=code]", format_hotp_value(hotp_value(OPERATOR_TOTP_SECRET, int(time.time()) // 30)))
    operator_page.click("main button[type=submit]")
    operator_page.goto(f"{base}/operator/")
    assert "lingang-1" in operator_page.locator("table").first.inner_text()
    operator_page.screenshot(path=screenshots / "operator-console.png", full_page=True)
    operator_page.click("text=lingang-1")
    operator_page.fill("form:has(button:text('Verify')) textarea[name=reason]", "Site inspection passed")
    operator_page.click("button:text('Verify')")
    assert "Done: verify." in operator_page.content()

    # The pool's first heartbeat connects it; its capacity counts
    assert heartbeat(base, pool.pk, key, 64) == 201
    page.goto(f"{base}/provider/pools/{pool.pk}/")
    assert "Connected" in page.locator(".status").inner_text()
    row = page.locator("table").first.locator("tr", has_text="H100-80G").inner_text().split()
    assert row == ["H100-80G", "64", "0", "0", "64"]
    page.screenshot(path=screenshots / "provider-pool-connected.png", full_page=True)
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.CONNECTED
