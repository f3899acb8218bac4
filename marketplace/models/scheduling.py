"""Scheduling (trading standard §10, 算力调度): a buyer's demand, what a scheduling round proposed
for it (a placement across retail listings and wholesale asks, with its costs), and the rounds
themselves. The pure solver is ``marketplace.scheduling``; these rows are what it was asked and
what it answered, and what the buyer confirmed."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import CityCore, Organisation  # noqa: F401 (CityCore: marketplace.models re-exports it)
from catalog.models import Pool, Region, ResourceClass

# Exact costs: unit prices have 4 places, power and carbon figures a few more; their products
# are kept unrounded (the standard rounds only invoice lines): room for 20 places.
EXACT = {"max_digits": 40, "decimal_places": 20}


class DemandStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting for a scheduling round")
    PROPOSED = "proposed", _("Placement proposed")
    CONFIRMED = "confirmed", _("Confirmed")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    UNPLACEABLE = "unplaceable", _("Cannot be placed")


# A proposal that lapses or whose confirmation is refused sends its demand back to ``submitted``
# for the next round; a demand whose window can no longer hold it expires.
DEMAND_TRANSITIONS: dict[str, frozenset[str]] = {
    DemandStatus.SUBMITTED: frozenset(
        {DemandStatus.PROPOSED, DemandStatus.UNPLACEABLE, DemandStatus.CANCELLED, DemandStatus.EXPIRED}
    ),
    DemandStatus.PROPOSED: frozenset(
        {DemandStatus.CONFIRMED, DemandStatus.SUBMITTED, DemandStatus.CANCELLED, DemandStatus.EXPIRED}
    ),
    DemandStatus.CONFIRMED: frozenset(),
    DemandStatus.EXPIRED: frozenset(),
    DemandStatus.CANCELLED: frozenset(),
    DemandStatus.UNPLACEABLE: frozenset(),
}

OPEN_DEMAND_STATUSES = (DemandStatus.SUBMITTED, DemandStatus.PROPOSED)


class DemandQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)


class Demand(models.Model):
    """What a buyer needs, stated instead of picking a listing: a class and units (or a minimum
    SCU on any GPU class), hours, a window, a latency ceiling to a city core, allowed regions,
    data residency, a carbon weight and a price ceiling."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="demands")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200)
    resource_class = models.ForeignKey(ResourceClass, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    min_scu = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)  # TFLOPS needed
    units = models.PositiveIntegerField(default=0)  # 0 with min_scu
    hours = models.PositiveIntegerField()
    earliest_start = models.DateTimeField()
    latest_finish = models.DateTimeField()
    city = models.CharField(max_length=2, choices=CityCore.choices, blank=True)
    max_rtt_ms = models.PositiveIntegerField(null=True, blank=True)
    regions = models.JSONField(default=list, blank=True)  # region codes; empty: any
    residency = models.ForeignKey(Region, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    carbon_weight = models.DecimalField(max_digits=12, decimal_places=4, default=0)  # CNY per kgCO2
    max_price = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)  # CNY per unit-hour
    status = models.CharField(max_length=12, choices=DemandStatus.choices, default=DemandStatus.SUBMITTED)
    created_at = models.DateTimeField()
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)

    objects = DemandQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="demand_idempotency_unique"),
            models.CheckConstraint(
                condition=Q(resource_class__isnull=False, min_scu__isnull=True, units__gte=1)
                | Q(resource_class__isnull=True, min_scu__gt=0, units=0),
                name="demand_class_or_scu",
            ),
            models.CheckConstraint(condition=Q(hours__gte=1), name="demand_hours_positive"),
            models.CheckConstraint(condition=Q(latest_finish__gt=F("earliest_start")), name="demand_window"),
            models.CheckConstraint(condition=Q(carbon_weight__gte=0), name="demand_carbon_weight_nonnegative"),
            models.CheckConstraint(
                condition=Q(max_price__isnull=True) | Q(max_price__gt=0), name="demand_max_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_rtt_ms__isnull=True) | ~Q(city=""), name="demand_latency_needs_city"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["organisation", "status"])]

    def __str__(self):
        what = f"{self.units}×{self.resource_class_id}" if self.resource_class_id else f"{self.min_scu} SCU"
        return f"demand #{self.pk}: {what} for {self.hours} h"

    @property
    def scheduling_key(self) -> str:
        return f"demand:{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DEMAND_STATUSES

    def transition_to(self, status: str, *, actor=None, at, reason: str = "") -> None:
        """Move along the life cycle, recording who, when and why; the caller saves."""
        if status not in DEMAND_TRANSITIONS[self.status]:
            raise ValueError(f"{self.status} → {status}")
        self.status = status
        self.status_changed_at = at
        self.status_changed_by = actor if getattr(actor, "pk", None) else None
        self.reason = reason[:300]


class SchedulingMethod(models.TextChoices):
    MILP = "milp", _("Optimiser (MILP)")
    GREEDY = "greedy", _("Greedy rule (fallback)")


class SchedulingRound(models.Model):
    """One run of the scheduler over every waiting demand."""

    started_at = models.DateTimeField()
    horizon_start = models.DateTimeField()
    horizon_hours = models.PositiveIntegerField()
    demands = models.PositiveIntegerField()
    offers = models.PositiveIntegerField()
    placed = models.PositiveIntegerField()  # demands with a proposal
    method = models.CharField(max_length=6, choices=SchedulingMethod.choices)
    solver_status = models.CharField(max_length=200, blank=True)
    seconds = models.DecimalField(max_digits=10, decimal_places=3)  # the solver's time
    total = models.DecimalField(**EXACT)
    lower_bound = models.DecimalField(**EXACT, null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"round #{self.pk} {self.started_at:%Y-%m-%d %H:%M:%S}: {self.placed}/{self.demands} ({self.method})"


class ProposalStatus(models.TextChoices):
    OPEN = "open", _("Waiting for your confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    REFUSED = "refused", _("Refused at confirmation")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class Proposal(models.Model):
    """What a round proposed for one demand: its parts and costs, beside the cheapest placement on
    a single offer (what the buyer would have found by picking one listing)."""

    demand = models.ForeignKey(Demand, on_delete=models.CASCADE, related_name="proposals")
    round = models.ForeignKey(SchedulingRound, on_delete=models.PROTECT, related_name="proposals")
    method = models.CharField(max_length=6, choices=SchedulingMethod.choices)
    solver_status = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.OPEN)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    requested = models.DecimalField(max_digits=16, decimal_places=4)  # units, or SCU
    placed = models.DecimalField(max_digits=16, decimal_places=4)  # < requested when supply was short
    price_cost = models.DecimalField(**EXACT)
    energy_cost = models.DecimalField(**EXACT)
    carbon_kg = models.DecimalField(**EXACT)
    carbon_cost = models.DecimalField(**EXACT)
    total = models.DecimalField(**EXACT)
    # the cheapest placement on one offer at its earliest feasible start (null: none could hold it)
    single_offer = models.CharField(max_length=80, blank=True)
    single_price_cost = models.DecimalField(**EXACT, null=True, blank=True)
    single_energy_cost = models.DecimalField(**EXACT, null=True, blank=True)
    single_carbon_kg = models.DecimalField(**EXACT, null=True, blank=True)
    single_carbon_cost = models.DecimalField(**EXACT, null=True, blank=True)
    single_total = models.DecimalField(**EXACT, null=True, blank=True)
    single_rtt_ms = models.PositiveIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["demand"], condition=Q(status="open"), name="proposal_one_open_per_demand"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="proposal_expires_after"),
        ]

    def __str__(self):
        return f"proposal #{self.pk} for demand {self.demand_id} ({self.status})"

    @property
    def start(self):
        return min((p.start for p in self.parts.all()), default=None)

    @property
    def single_listing_id(self) -> int | None:
        """The listing of the cheapest single placement, when it was a listing (``listing:<id>``)."""
        kind, _, rest = self.single_offer.partition(":")
        return int(rest) if kind == "listing" and rest.isdigit() else None

    @property
    def saving(self):
        """What the placement saves against the cheapest single offer (¥), or None."""
        if self.single_total is None:
            return None
        return self.single_total - self.total

    @property
    def saving_percent(self):
        if self.single_total is None or not self.single_total:
            return None
        return (self.single_total - self.total) * 100 / self.single_total


class PartKind(models.TextChoices):
    RETAIL = "retail", _("Retail listing")
    WHOLESALE = "wholesale", _("Wholesale ask")


class ProposalPart(models.Model):
    """One piece of a placement: units on one offer for [start, end), and what it costs. At
    confirmation a retail part becomes a reservation and a wholesale part an IOC buy order."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="parts")
    offer = models.CharField(max_length=80)  # the solver's key: listing:<id> or ask:<instrument id>:<price>
    kind = models.CharField(max_length=10, choices=PartKind.choices)
    listing = models.ForeignKey("marketplace.Listing", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")  # fmt: skip
    instrument = models.ForeignKey("marketplace.Instrument", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")  # fmt: skip
    pool = models.ForeignKey(Pool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    tier = models.CharField(max_length=10)
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(max_digits=12, decimal_places=4)  # CNY per unit-hour: the listing's or the ask's
    billing = models.CharField(max_length=10)
    units = models.PositiveIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    price_cost = models.DecimalField(**EXACT)
    energy_cost = models.DecimalField(**EXACT)
    carbon_kg = models.DecimalField(**EXACT)
    carbon_cost = models.DecimalField(**EXACT)
    rtt_ms = models.PositiveIntegerField(null=True, blank=True)
    # what confirmation placed
    reservation = models.ForeignKey("marketplace.Reservation", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")  # fmt: skip
    order = models.ForeignKey("marketplace.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gte=1), name="proposal_part_units_positive"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="proposal_part_end_after_start"),
            models.CheckConstraint(
                condition=Q(kind="retail", listing__isnull=False, instrument__isnull=True)
                | Q(kind="wholesale", listing__isnull=True, instrument__isnull=False),
                name="proposal_part_one_offer",
            ),
        ]

    def __str__(self):
        return f"{self.units} on {self.offer} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    @property
    def total(self):
        return self.price_cost + self.energy_cost + self.carbon_cost
