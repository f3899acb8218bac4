"""Resource classes, regions and tariffs (reference data the operator edits), and the resource
pools that providers connect under the grid-connection standard, with their life cycle,
machine keys, heartbeats and capacity commitments."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import HashedKey, Organisation


class ResourceClass(models.Model):
    class Kind(models.TextChoices):
        GPU = "gpu", "GPU"
        NPU = "npu", "NPU"
        CPU = "cpu", "CPU"

    class Meter(models.TextChoices):
        GPU_SECONDS = "gpu_seconds", "gpu_seconds"
        VCPU_SECONDS = "vcpu_seconds", "vcpu_seconds"

    code = models.CharField(max_length=20, primary_key=True)
    kind = models.CharField(max_length=3, choices=Kind.choices)
    vendor = models.CharField(max_length=60)
    unit = models.CharField(max_length=20, help_text=_("What one unit is, e.g. GPU or vCPU."))
    tick = models.DecimalField(max_digits=10, decimal_places=4, help_text=_("Price step, CNY per unit-hour."))
    lot = models.PositiveIntegerField(help_text=_("Wholesale quantities are multiples of this."))
    fp16_tflops = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("FP16 dense TFLOPS of one unit: its SCU per hour. Empty for CPU classes."),
    )
    unit_power_kw = models.DecimalField(max_digits=10, decimal_places=4)
    unit_capex_cny = models.DecimalField(max_digits=14, decimal_places=2)
    opex_per_hour_cny = models.DecimalField(max_digits=10, decimal_places=4)
    meter = models.CharField(max_length=20, choices=Meter.choices)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "resource classes"
        constraints = [
            models.CheckConstraint(condition=Q(tick__gt=0), name="class_tick_positive"),
            models.CheckConstraint(condition=Q(lot__gte=1), name="class_lot_positive"),
            models.CheckConstraint(condition=Q(unit_power_kw__gte=0), name="class_power_nonnegative"),
            models.CheckConstraint(condition=Q(unit_capex_cny__gte=0), name="class_capex_nonnegative"),
            models.CheckConstraint(condition=Q(opex_per_hour_cny__gte=0), name="class_opex_nonnegative"),
        ]

    def __str__(self):
        return self.code


class TouPeriod(models.Model):
    """A time-of-use period kind (peak, flat, valley) and its multiplier (trading standard §7)."""

    kind = models.CharField(max_length=10, primary_key=True)
    multiplier = models.DecimalField(max_digits=6, decimal_places=4)

    class Meta:
        ordering = ["-multiplier"]

    def __str__(self):
        return f"{self.kind} × {self.multiplier}"


def _validate_tou_hours(value):
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or len(value) != 24:
        raise ValidationError(_("24 period kinds, one per local hour 0-23."))
    known = set(TouPeriod.objects.values_list("kind", flat=True)) or {"peak", "flat", "valley"}
    bad = sorted({v for v in value if v not in known})
    if bad:
        raise ValidationError(_("Unknown period kind(s): %(bad)s"), params={"bad": ", ".join(map(str, bad))})


class Region(models.Model):
    """A national hub region (东数西算) with its power tariff, PUE, carbon and latencies."""

    code = models.CharField(max_length=10, primary_key=True)
    name_zh = models.CharField(max_length=60)
    name_en = models.CharField(max_length=80)
    clusters = models.CharField(max_length=200, blank=True)
    flat_price_per_kwh = models.DecimalField(max_digits=8, decimal_places=4)
    pue = models.DecimalField(max_digits=4, decimal_places=2)
    carbon_kg_per_kwh = models.DecimalField(max_digits=6, decimal_places=3)
    rtt_ms = models.JSONField(default=dict, help_text=_('Round-trip ms to city cores, e.g. {"BJ": 3}.'))
    tou_by_local_hour = models.JSONField(validators=[_validate_tou_hours])
    western_hub = models.BooleanField(default=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(flat_price_per_kwh__gte=0), name="region_price_nonnegative"),
            models.CheckConstraint(condition=Q(pue__gte=1), name="region_pue_at_least_one"),
        ]

    def __str__(self):
        return f"{self.code} {self.name_en}"


class Tier(models.TextChoices):
    MAIN = "MAIN", _("City main (城市主算力)")
    EDGE = "EDGE", _("Edge (边缘算力)")
    TERMINAL = "TERMINAL", _("Terminal (终端算力)")
    PERIPHERAL = "PERIPHERAL", _("Peripheral (周边算力)")
    REMOTE = "REMOTE", _("Remote hub (远程算力)")


class PoolStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    VERIFIED = "verified", _("Verified")
    CONNECTED = "connected", _("Connected (并网)")
    SUSPENDED = "suspended", _("Suspended")
    DISCONNECTED = "disconnected", _("Disconnected")


# The grid-connection standard §2. Applied pools may also be refused/withdrawn straight to
# disconnected; nothing leaves disconnected.
POOL_TRANSITIONS: dict[str, frozenset[str]] = {
    PoolStatus.APPLIED: frozenset({PoolStatus.VERIFIED, PoolStatus.DISCONNECTED}),
    PoolStatus.VERIFIED: frozenset({PoolStatus.CONNECTED, PoolStatus.SUSPENDED, PoolStatus.DISCONNECTED}),
    PoolStatus.CONNECTED: frozenset({PoolStatus.SUSPENDED, PoolStatus.DISCONNECTED}),
    PoolStatus.SUSPENDED: frozenset({PoolStatus.CONNECTED, PoolStatus.DISCONNECTED}),
    PoolStatus.DISCONNECTED: frozenset(),
}


class PoolQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(provider=organisation)

    def sellable(self):
        return self.filter(status=PoolStatus.CONNECTED)


class Pool(models.Model):
    """A resource pool (a site or cluster) connected under the grid-connection standard §1."""

    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="pools")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="pools")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    city = models.CharField(max_length=60)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    rtt_ms = models.DecimalField(max_digits=8, decimal_places=2)
    pue = models.DecimalField(max_digits=3, decimal_places=2)
    green_power_share = models.DecimalField(max_digits=4, decimal_places=3)
    security_level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(4)])
    data_residency = models.BooleanField()
    status = models.CharField(max_length=12, choices=PoolStatus.choices, default=PoolStatus.APPLIED)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PoolQuerySet.as_manager()

    class Meta:
        ordering = ["provider__name", "code"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "code"], name="pool_code_unique_per_provider"),
            models.CheckConstraint(
                condition=Q(pue__gte=Decimal("1.00"), pue__lte=Decimal("3.00")), name="pool_pue_range"
            ),
            models.CheckConstraint(
                condition=Q(green_power_share__gte=0, green_power_share__lte=1), name="pool_green_share_range"
            ),
            models.CheckConstraint(
                condition=Q(security_level__gte=1, security_level__lte=4), name="pool_security_level_range"
            ),
            models.CheckConstraint(condition=Q(latitude__gte=-90, latitude__lte=90), name="pool_latitude_range"),
            models.CheckConstraint(condition=Q(longitude__gte=-180, longitude__lte=180), name="pool_longitude_range"),
            models.CheckConstraint(condition=Q(rtt_ms__gte=0), name="pool_rtt_nonnegative"),
            models.CheckConstraint(condition=Q(status__in=PoolStatus.values), name="pool_status_known"),
        ]

    def __str__(self):
        return f"{self.provider.slug}/{self.code}"


class PoolResource(models.Model):
    """Installed units of one class in a pool (the descriptor's ``resources``)."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="resources")
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField()

    class Meta:
        ordering = ["resource_class_id"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "resource_class"], name="pool_class_unique"),
            models.CheckConstraint(condition=Q(units__gte=1), name="pool_units_positive"),
        ]

    def __str__(self):
        return f"{self.pool} {self.units}×{self.resource_class_id}"


class PoolTransition(models.Model):
    """One step of a pool's life cycle: from, to, who, when, why. Append-only."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=12, choices=PoolStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=PoolStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=120)
    reason_code = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]  # the order they happened in

    def __str__(self):
        return f"{self.pool}: {self.from_status or '-'} → {self.to_status} ({self.reason_code})"


class PoolKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class PoolKey(HashedKey):
    """A machine key of one pool, for heartbeats and usage."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="keys")
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    objects = PoolKeyQuerySet.as_manager()

    class Meta(HashedKey.Meta):
        pass

    def __str__(self):
        return f"{self.pool} key {self.lookup}"


class Health(models.TextChoices):
    OK = "ok", _("OK")
    DEGRADED = "degraded", _("Degraded")
    DOWN = "down", _("Down")


class Heartbeat(models.Model):
    """A pool's report (grid-connection standard §3), unique per (pool, ts)."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="heartbeats")
    ts = models.DateTimeField()
    available = models.JSONField()
    health = models.CharField(max_length=8, choices=Health.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "ts"], name="heartbeat_unique_pool_ts"),
        ]
        indexes = [models.Index(fields=["pool", "-ts"], name="heartbeat_pool_ts")]

    def __str__(self):
        return f"{self.pool} @ {self.ts:%Y-%m-%d %H:%M:%S} {self.health}"


class CommitmentKind(models.TextChoices):
    COMMITTED = "committed", _("Committed (contracts, reservations)")
    OFFERED = "offered", _("Offered (open sell orders, active listings)")


class CapacityCommitmentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(released_at__isnull=True)

    def overlapping(self, start, end):
        return self.filter(start__lt=end, end__gt=start)


class CapacityCommitment(models.Model):
    """Units of a pool's class held for a time range by something that sold or offers them.

    The one table the capacity layer (grid-connection standard §4) sums: later features —
    sell orders, contracts, listings, reservations — write rows here through
    ``catalog.services.capacity_commit`` and release them when they end, naming themselves by
    ``source`` (e.g. ``order:123``), which is unique among open rows.
    """

    # indexed by commitment_lookup, which every query uses (pool first); reference data is never deleted.
    # Checked once per INSERT statement by a trigger (catalog 0003), not by constraints that query per row.
    pool = models.ForeignKey(
        Pool, on_delete=models.PROTECT, related_name="commitments", db_index=False, db_constraint=False
    )
    resource_class = models.ForeignKey(
        ResourceClass, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=10, choices=CommitmentKind.choices)
    units = models.PositiveIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    source = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    objects = CapacityCommitmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gte=1), name="commitment_units_positive"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="commitment_end_after_start"),
            models.UniqueConstraint(
                fields=["source"], condition=Q(released_at__isnull=True), name="commitment_open_source_unique"
            ),
        ]
        indexes = [models.Index(fields=["pool", "resource_class", "start", "end"], name="commitment_lookup")]

    def __str__(self):
        return f"{self.source}: {self.units}×{self.resource_class_id} @ {self.pool} ({self.kind})"


class CapacityLoad(models.Model):
    """What the open capacity commitments hold, summed per pool, class and range: kept by
    PostgreSQL's own triggers on ``CapacityCommitment`` (catalog 0005) whatever writes it, as a
    row per statement and key that changed a sum, holding the change (units taken +, given back
    −); ``capacity_load_compact`` folds them into one row per key now and then, and a sell that
    finds too many for its key folds that key (``capacity_load_fold``). A sell's sellable
    check reads these few rows instead of every open offer on the pool, which grew with the book
    (tens of thousands of resting asks on a pool cost each sell batch tens of milliseconds).
    PostgreSQL only: elsewhere the commitments are summed directly."""

    # no references checked and no index of their own: written only by the triggers, from commitments
    pool = models.ForeignKey(Pool, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False)
    resource_class = models.ForeignKey(
        ResourceClass, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    units = models.BigIntegerField()  # a change of the sum, or (compacted) the sum

    class Meta:
        indexes = [models.Index(fields=["pool", "resource_class", "start", "end"], name="capacity_load_lookup")]

    def __str__(self):
        return f"{self.units:+}×{self.resource_class_id} @ {self.pool_id} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"
