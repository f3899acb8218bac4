"""Chinese (zh-Hans) and English, switchable: the pages speak Chinese when asked, and the
committed catalogue translates every string, compiled and well-formed."""

import ast
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from catalog.services import pool_apply
from tests.conftest import descriptor, sign_in

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def catalogue() -> list[dict]:
    """The .po's entries (header included) as dicts: flags, msgctxt, msgid, msgid_plural, msgstr[n]."""
    entries, entry, field = [], None, None
    for line in [*PO.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry = None
            continue
        entry = entry if entry is not None else {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] |= {f.strip() for f in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif m := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?) (".*")$', line):
            field = ("msgstr", int(m.group(2) or 0)) if m.group(1).startswith("msgstr") else m.group(1)
            text = ast.literal_eval(m.group(3))
            if isinstance(field, tuple):
                entry["msgstr"][field[1]] = text
            else:
                entry[field] = text
        else:
            text = ast.literal_eval(line)
            if isinstance(field, tuple):
                entry["msgstr"][field[1]] += text
            else:
                entry[field] += text
    return entries


MESSAGES = [e for e in catalogue() if e.get("msgid")]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")


def test_every_msgid_is_translated_and_none_is_fuzzy():
    assert len(MESSAGES) > 600
    assert [e["msgid"] for e in MESSAGES if not all(e["msgstr"].values()) or not e["msgstr"]] == []
    assert [e["msgid"] for e in catalogue() if "fuzzy" in e["flags"]] == []
    header = catalogue()[0]["msgstr"][0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header and "charset=UTF-8" in header


def test_translations_keep_their_placeholders():
    wrong = [
        e["msgid"]
        for e in MESSAGES
        for text in e["msgstr"].values()
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(e["msgid"]))
    ]
    assert wrong == []


def test_the_committed_mo_is_the_compiled_po():
    """A machine without gettext serves the committed .mo: it must say what the .po says."""
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for e in MESSAGES:
        if e.get("msgid_plural"):
            got = compiled.ngettext(e["msgid"], e["msgid_plural"], 1)
        elif e.get("msgctxt") is not None:
            got = compiled.pgettext(e["msgctxt"], e["msgid"])
        else:
            got = compiled.gettext(e["msgid"])
        if got != e["msgstr"][0]:
            stale.append(e["msgid"])
    assert stale == []


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) is not installed")
def test_msgfmt_check_passes():
    result = subprocess.run(  # noqa: S603 (a fixed command on our own file)
        [shutil.which("msgfmt"), "--check", "-o", "/dev/null", str(PO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_the_switcher_turns_the_site_chinese_and_back(client):
    page = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}, follow=True).content.decode()
    assert '<html lang="zh-hans">' in page
    # each language is named in its own words, whichever is active
    assert ">English</option>" in page and ">简体中文</option>" in page
    assert "城市算力，一所交易" in page and "跳到正文" in page and "登录" in page
    assert "One exchange for the city's compute" not in page and "Skip to content" not in page
    page = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True).content.decode()
    assert "One exchange for the city's compute" in page and "城市算力，一所交易" not in page


@pytest.fixture
def trader(make_org, reference_data):
    """A member of an organisation that both buys and provides compute: every page is open to it."""
    user, _ = make_org(provider=True, buyer=True, name="Acme AI")
    return user


PAGES = {
    "catalog:index": (["资源类别", "枢纽节点（东数西算）", "最小变动价位"], ["Resource classes", "Hub regions"]),
    "marketplace:index": (["订单簿上的标准批发合约", "当前没有交易中的合约"], ["No instruments are trading"]),
    "marketplace:retail_index": (["算力提供方按挂牌价出售（零售）", "没有在架的挂牌。"], ["No listings are open."]),
    "settlement:funds": (["账户流水", "授信额度", "对公转账充值"], ["Statement of account", "Credit limit"]),
    "settlement:invoices": (["尚无发票", "增值税"], ["No invoices yet", "One invoice a month"]),
    "marketplace:reservations": (["我的预订", "没有预订。"], ["My reservations", "No reservations."]),
    "catalog:pool_list": (["资源池", "尚无资源池", "资源池并网"], ["No pools yet", "Connect a pool"]),
    "marketplace:orders": (["我的委托", "有效期"], ["My orders", "Average price"]),
    "accounts:dashboard": (["工作台", "API 密钥"], ["Dashboard", "API keys"]),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_the_main_pages_render_in_chinese(client, trader, name):
    client.force_login(trader)
    r = client.get(reverse(name), **ZH)
    assert r.status_code == 200
    page = r.content.decode()
    chinese, english = PAGES[name]
    assert [s for s in [*chinese, "退出登录", "算力交易所"] if s not in page] == []
    assert [s for s in [*english, "Sign out", "Skip to content"] if s in page] == []


@pytest.mark.django_db
def test_the_home_page_in_chinese(client):
    page = client.get("/", **ZH).content.decode()
    assert "城市算力，一所交易" in page and "东数西算" in page and "创建账户" in page
    assert "One exchange for the city's compute" not in page and "Create an account" not in page


@pytest.mark.django_db
def test_the_operator_console_and_its_refusals_in_chinese(client, operator, provider):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    sign_in(client, operator)
    page = client.get(reverse("catalog:operator_overview"), **ZH).content.decode()
    assert "运营控制台（统一监管）" in page and "待核验" in page and pool.code in page
    assert "Awaiting verification" not in page and "Operator console" not in page
    # A service's refusal reaches the page in Chinese too; its reason code stays as it is.
    url = reverse("catalog:operator_pool_action", kwargs={"pool_id": pool.pk, "action": "reject"})
    page = client.post(url, {"reason": " "}, follow=True, **ZH).content.decode()
    assert "请说明原因：原因为必填项。" in page and "Say why" not in page
