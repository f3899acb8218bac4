"""Demo data that looks real: the eight hub regions, a city (Shanghai) with MAIN and EDGE sites,
providers with pools of several classes across regions and tiers, buyers and an operator.
Loaded through the same services as the pages and API; safe to load again."""

from decimal import Decimal

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone

from accounts.models import Membership, Organisation, User
from accounts.services import organisation_create
from catalog.models import Pool, PoolKey, PoolStatus
from catalog.services import (
    heartbeat_record,
    pool_apply,
    pool_key_create,
    pool_suspend,
    pool_verify,
    reference_data_load,
)
from settlement.services import bank_reference_for, bank_transfer_record

DEMO_PASSWORD = "suanli-demo-2026"  # noqa: S105  (demo data only)
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105  (demo operator only)
OPERATOR_EMAIL = "operator@suanli.example"

PROVIDERS = [
    (
        "Shanghai City Compute 上海城市算力",
        "ops@shcompute.example",
        [
            (
                "sh-lingang-main",
                "Lingang AI Compute Centre 临港智算中心",
                "YRD",
                "MAIN",
                "Shanghai",
                "30.898",
                "121.927",
                "2.5",
                "1.25",
                "0.35",
                3,
                True,
                {"H100-80G": 512, "A800-80G": 256, "VCPU-X86": 8192},
            ),
            (
                "sh-pudong-edge",
                "Pudong Edge Site 浦东边缘节点",
                "YRD",
                "EDGE",
                "Shanghai",
                "31.221",
                "121.544",
                "1.2",
                "1.40",
                "0.20",
                3,
                True,
                {"L40S": 64, "4090": 128},
            ),
            (
                "sh-minhang-edge",
                "Minhang Edge Site 闵行边缘节点",
                "YRD",
                "EDGE",
                "Shanghai",
                "31.113",
                "121.382",
                "1.5",
                "1.38",
                "0.20",
                2,
                False,
                {"4090": 96, "VCPU-ARM": 2048},
            ),
        ],
    ),
    (
        "Gui'an Cloud Valley 贵安云谷",
        "ops@guian.example",
        [
            (
                "guian-hub-1",
                "Gui'an Hub Campus 1 贵安一号园区",
                "GZ",
                "REMOTE",
                "Guiyang",
                "26.402",
                "106.458",
                "28",
                "1.18",
                "0.55",
                3,
                True,
                {"910B": 1024, "A100-80G": 256},
            ),
        ],
    ),
    (
        "Qingyang Green Data 庆阳绿色数据",
        "ops@qingyang.example",
        [
            (
                "qy-green-1",
                "Qingyang Green DC 庆阳绿色数据中心",
                "GS",
                "REMOTE",
                "Qingyang",
                "35.709",
                "107.643",
                "38",
                "1.15",
                "0.80",
                3,
                True,
                {"H100-80G": 256, "VCPU-X86": 16384},
            ),
        ],
    ),
    (
        "Horinger Compute 和林格尔算力",
        "ops@horinger.example",
        [
            (
                "hlge-1",
                "Horinger Intelligent Compute 和林格尔智算",
                "NMG",
                "REMOTE",
                "Hohhot",
                "40.380",
                "111.824",
                "12",
                "1.15",
                "0.65",
                3,
                False,
                {"910B": 512, "A800-80G": 128},
            ),
        ],
    ),
    (
        "Tianfu Intelligent Compute 天府智算",
        "ops@tianfu.example",
        [
            (
                "tianfu-main",
                "Tianfu Compute Centre 天府算力中心",
                "CY",
                "MAIN",
                "Chengdu",
                "30.411",
                "104.071",
                "3",
                "1.22",
                "0.60",
                4,
                True,
                {"A100-80G": 384, "L40S": 128},
            ),
            (
                "cd-hitech-edge",
                "Chengdu Hi-Tech Edge 成都高新边缘",
                "CY",
                "EDGE",
                "Chengdu",
                "30.573",
                "104.059",
                "1.8",
                "1.45",
                "0.30",
                2,
                True,
                {"4090": 64},
            ),
        ],
    ),
    (
        "Bay Area Compute 韶关湾区算力",
        "ops@shaoguan.example",
        [
            (
                "sg-bay-1",
                "Shaoguan Data Park 韶关数据园",
                "GBA",
                "REMOTE",
                "Shaoguan",
                "24.810",
                "113.597",
                "6",
                "1.28",
                "0.45",
                3,
                True,
                {"H100-80G": 128, "L40S": 96},
            ),
        ],
    ),
]
BUYERS = [
    ("Acme AI 智元科技", "buyer@acme.example"),
    ("Pudong Health Data 浦东健康数据", "buyer@pdhealth.example"),
    ("Shanghai Gov Cloud 上海政务云", "buyer@govcloud.example"),
]


def _user(email: str, *, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, is_staff=staff, is_superuser=staff)
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _org(name: str, owner: User, *, buyer: bool, provider: bool) -> Organisation:
    org = Organisation.objects.filter(memberships__user=owner, name=name).first()
    return org or organisation_create(user=owner, name=name, is_buyer=buyer, is_provider=provider)


def demo_load() -> dict:
    reference_data_load()
    operator = _user(OPERATOR_EMAIL, staff=True)
    platform = Organisation.objects.filter(is_platform=True).first()
    if platform is None:
        platform = Organisation.objects.create(
            name="Suanli Exchange 算力交易所", slug="suanli", is_buyer=False, is_provider=False, is_platform=True
        )
    Membership.objects.get_or_create(user=operator, organisation=platform, defaults={"role": Membership.Role.OWNER})
    if not Authenticator.objects.filter(user=operator, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(operator, DEMO_TOTP_SECRET)

    now = timezone.now()
    for name, email, pools in PROVIDERS:
        owner = _user(email)
        org = _org(name, owner, buyer=True, provider=True)
        for code, pname, region, tier, city, lat, lon, rtt, pue, green, level, residency, resources in pools:
            if Pool.objects.filter(provider=org, code=code).exists():
                continue
            pool = pool_apply(
                actor=owner,
                organisation=org,
                descriptor={
                    "code": code,
                    "name": pname,
                    "region": region,
                    "tier": tier,
                    "city": city,
                    "location": {"latitude": Decimal(lat), "longitude": Decimal(lon)},
                    "rtt_ms": Decimal(rtt),
                    "pue": Decimal(pue),
                    "green_power_share": Decimal(green),
                    "security_level": level,
                    "data_residency": residency,
                    "resources": [{"class": c, "units": u} for c, u in resources.items()],
                },
            )
            if code == "hlge-1":
                continue  # left applied: awaits the operator's verification
            pool_verify(actor=operator, pool_id=pool.pk, reason="Site inspection passed (demo).")
            key, _ = pool_key_create(actor=owner, organisation=org, pool_id=pool.pk, name="demo simulator")
            heartbeat_record(
                pool_key=key,
                pool_id=pool.pk,
                ts=now.replace(microsecond=0),
                available={c: u for c, u in resources.items()},
                health="ok",
            )
            if code == "cd-hitech-edge":
                pool_suspend(actor=operator, pool_id=pool.pk, reason="Cooling maintenance (demo).")
    for i, (name, email) in enumerate(BUYERS):
        buyer = _org(name, _user(email), buyer=True, provider=False)
        # Prepaid funds, as if each had paid by bank transfer (对公转账); once per demo buyer.
        ref = bank_reference_for(organisation=buyer)
        bank_transfer_record(
            actor=operator,
            reference=ref.code,
            amount=Decimal(500_000 * (i + 1)),
            bank_transaction_id=f"DEMO-{buyer.slug}",
        )
    return {
        "operator": OPERATOR_EMAIL,
        "providers": [p[1] for p in PROVIDERS],
        "buyers": [b[1] for b in BUYERS],
        "password": DEMO_PASSWORD,
        "totp_secret": DEMO_TOTP_SECRET,
    }


def demo_heartbeats() -> int:
    """One heartbeat now for every demo pool with a demo simulator key that is connected, or
    suspended for silence (it reconnects; one the operator suspended stays suspended)."""
    sent = 0
    now = timezone.now().replace(microsecond=0)
    keys = PoolKey.objects.active().filter(
        name="demo simulator", pool__status__in=[PoolStatus.CONNECTED, PoolStatus.SUSPENDED]
    )
    for key in keys.select_related("pool").prefetch_related("pool__resources"):
        available = {r.resource_class_id: r.units for r in key.pool.resources.all()}
        heartbeat_record(pool_key=key, pool_id=key.pool_id, ts=now, available=available, health="ok")
        sent += 1
    return sent
