"""Retail (trading standard §5): a provider's listing of units of one pool at a posted price, and
the reservations buyers make on it. A listing offers its units in the capacity layer for its
availability (a standing offer); a reservation takes its units off that offer for its hours."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from catalog.models import Pool, ResourceClass


class Billing(models.TextChoices):
    PER_TIME = "per_time", _("Per time (按时计费)")
    PER_VOLUME = "per_volume", _("Per volume (按量计费)")


class ListingStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    WITHDRAWN = "withdrawn", _("Withdrawn")


PER_TIME_MINIMUM_MINUTES = 60  # §5: a per-time listing's minimum duration is at least an hour


class ListingQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(provider=organisation)

    def open(self, now=None):
        """Active and not yet past its availability: what buyers may reserve."""
        return self.filter(status=ListingStatus.ACTIVE, available_until__gt=now or timezone.now())


class Listing(models.Model):
    """Units of one class of one of the provider's pools, at a posted price per unit-hour."""

    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="listings")
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="listings")
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4)  # CNY per unit-hour
    billing = models.CharField(max_length=10, choices=Billing.choices)
    minimum_minutes = models.PositiveIntegerField()
    available_from = models.DateTimeField()
    available_until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ListingStatus.choices, default=ListingStatus.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gte=1), name="listing_units_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="listing_price_positive"),
            models.CheckConstraint(condition=Q(minimum_minutes__gte=1), name="listing_minimum_positive"),
            models.CheckConstraint(
                condition=~Q(billing=Billing.PER_TIME) | Q(minimum_minutes__gte=PER_TIME_MINIMUM_MINUTES),
                name="listing_per_time_minimum_hour",
            ),
            models.CheckConstraint(
                condition=Q(available_until__gt=F("available_from")), name="listing_availability_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(status=ListingStatus.ACTIVE, withdrawn_at__isnull=True)
                | Q(status=ListingStatus.WITHDRAWN, withdrawn_at__isnull=False),
                name="listing_withdrawn_when",
            ),
        ]
        indexes = [models.Index(fields=["status", "available_until"])]

    def __str__(self):
        return f"listing #{self.pk}: {self.units}×{self.resource_class_id} @ {self.price} ({self.billing})"

    @property
    def capacity_prefix(self) -> str:
        """The name of the listing's standing offer in the capacity layer."""
        return f"listing:{self.pk}"

    def is_open(self, now=None) -> bool:
        return self.status == ListingStatus.ACTIVE and self.available_until > (now or timezone.now())


class ReservationStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")


RESERVATION_TRANSITIONS: dict[str, frozenset[str]] = {
    ReservationStatus.CONFIRMED: frozenset({ReservationStatus.CANCELLED, ReservationStatus.COMPLETED}),
    ReservationStatus.CANCELLED: frozenset(),
    ReservationStatus.COMPLETED: frozenset(),
}


class ReservationQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(buyer=organisation)

    def for_provider(self, organisation):
        return self.filter(listing__provider=organisation)


class Reservation(models.Model):
    """``units`` of a listing for [start, end), confirmed with the capacity committed and the
    buyer's funds on hold. The listing's terms are copied: they are what the buyer agreed to."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="reservations")
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="reservations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200)
    units = models.PositiveIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()  # the scheduled end
    price = models.DecimalField(max_digits=12, decimal_places=4)
    billing = models.CharField(max_length=10, choices=Billing.choices)
    minimum_minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.CONFIRMED)
    # the cancellation time when cancelled after the start (§6.1: billing stops there); else null
    actual_end = models.DateTimeField(null=True, blank=True)
    hold_id = models.BigIntegerField(null=True, blank=True)  # settlement.Hold
    hold_amount = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField()
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_reason = models.CharField(max_length=200, blank=True)

    objects = ReservationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["buyer", "idempotency_key"], name="reservation_idempotency_unique"),
            models.CheckConstraint(condition=Q(units__gte=1), name="reservation_units_positive"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="reservation_end_after_start"),
            models.CheckConstraint(
                condition=Q(actual_end__isnull=True) | Q(actual_end__gt=F("start"), actual_end__lte=F("end")),
                name="reservation_actual_end_inside",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "status"]),
            models.Index(fields=["status", "end"]),
        ]

    def __str__(self):
        return f"reservation #{self.pk}: {self.units} of listing {self.listing_id}"

    @property
    def capacity_source(self) -> str:
        return f"reservation:{self.pk}"

    @property
    def billed_end(self):
        """Where billing stops: the cancellation time if it was cancelled after its start, else
        the scheduled end."""
        return self.actual_end or self.end

    @property
    def cancellable(self) -> bool:
        return self.status == ReservationStatus.CONFIRMED and self.end > timezone.now()

    def transition_to(self, status: str, *, actor=None, at, reason: str = "") -> None:
        """Move along the life cycle (confirmed → cancelled or completed), recording who, when
        and why; the caller saves."""
        if status not in RESERVATION_TRANSITIONS[self.status]:
            raise ValueError(f"{self.status} → {status}")
        self.status = status
        self.status_changed_at = at
        self.status_changed_by = actor if getattr(actor, "pk", None) else None
        self.status_reason = reason
