"""The wholesale exchange's records (trading standard §4, §9): instruments, orders and cancels (the
order log, numbered per instrument), trades, and the contracts trades create.

The order log is not a table of its own: an instrument's log is its listing (seq 1), its orders
(each accepted with the next seq) and its cancel requests (each with the next seq), read in seq
order. Matching state (how far the log has been matched) lives in ``MatchState``, a row only the
matching worker writes, so acceptance (which locks the instrument row to take a seq) and matching
never wait on each other's rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Organisation
from catalog.models import Pool, Region, ResourceClass, Tier


class WindowKind(models.TextChoices):
    DAY = "D", _("Day (24 h)")
    WEEK = "W", _("Week (168 h, from Monday)")
    MONTH = "M", _("Calendar month")


class InstrumentQuerySet(models.QuerySet):
    def trading(self, now):
        return self.filter(window_start__gt=now)


class Instrument(models.Model):
    """A delivery window of one class × region × tier: CLASS.REGION.TIER.YYYYMMDD.K."""

    code = models.CharField(max_length=60, unique=True)
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    kind = models.CharField(max_length=1, choices=WindowKind.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    window_hours = models.PositiveIntegerField()
    # published at listing and fixed for the instrument's life: it anchors the price band
    reference_price = models.DecimalField(max_digits=12, decimal_places=4)
    tick = models.DecimalField(max_digits=10, decimal_places=4)
    lot = models.PositiveIntegerField()
    last_seq = models.PositiveBigIntegerField(default=1)  # seq 1 is the listing itself
    # the latest time handed to an event or a sweep: the log's times never go back, whatever the
    # clocks of the processes that accept orders and sweep them
    clock = models.DateTimeField(null=True, blank=True)
    listed_at = models.DateTimeField()

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["window_start", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gt=F("window_start")), name="instrument_window"),
            models.CheckConstraint(condition=Q(reference_price__gt=0), name="instrument_reference_positive"),
        ]
        indexes = [models.Index(fields=["resource_class", "region", "tier", "window_start"])]

    def __str__(self):
        return self.code


class MatchState(models.Model):
    """How far an instrument's log has been matched: written only by the matching worker."""

    instrument = models.OneToOneField(Instrument, on_delete=models.CASCADE, primary_key=True, related_name="match")
    matched_seq = models.PositiveBigIntegerField(default=1)
    trades = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.instrument_id} matched to seq {self.matched_seq}"


class Side(models.TextChoices):
    BUY = "buy", _("Buy (bid)")
    SELL = "sell", _("Sell (ask)")


class OrderType(models.TextChoices):
    LIMIT = "limit", pgettext_lazy("order type", "Limit")
    MARKET = "market", pgettext_lazy("order type", "Market")


class TimeInForce(models.TextChoices):
    GTC = "GTC", _("Good till the window opens")
    GTD = "GTD", _("Good till a date")
    IOC = "IOC", _("Immediate or cancel")
    FOK = "FOK", _("Fill or kill")


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Accepted, matching")
    OPEN = "open", _("Resting on the book")
    FILLED = "filled", _("Filled")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    REJECTED = "rejected", _("Rejected")


END_REASONS = {
    "cancelled": _("at your request"),
    "ioc_remainder": _("the unfilled rest of an IOC or market order"),
    "fok_unfilled": _("fill-or-kill could not fill in full"),
    "self_trade_prevented": _("it would have traded with your own order"),
    "gtd_expired": _("its expiry time passed"),
    "window_opened": _("the delivery window opened"),
}

FINAL_STATUSES = (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED)


class OrderQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)

    def live(self):
        return self.filter(status__in=(OrderStatus.PENDING, OrderStatus.OPEN))


class Order(models.Model):
    """An accepted order: it passed every rule and its funds or capacity are held. Its ``seq`` is
    its place in the instrument's log; ``created_at`` is the log's ``ts``."""

    # no index of their own: the unique (instrument, seq) and (organisation, …) indexes lead with them.
    # References checked once per INSERT statement by a trigger (marketplace 0012), not by foreign keys
    # checked row by row at commit, each locking the instrument, organisation or user row it names.
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="orders", db_index=False, db_constraint=False
    )
    seq = models.PositiveBigIntegerField()
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="orders", db_index=False, db_constraint=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    idempotency_key = models.CharField(max_length=200)
    client_order_id = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=6, choices=OrderType.choices)
    price = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    qty = models.PositiveIntegerField()
    tif = models.CharField(max_length=3, choices=TimeInForce.choices)
    expire_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    filled_qty = models.PositiveIntegerField(default=0)
    # CNY; a buy's funds on hold (settlement.Hold id), and what its fills cost in notional
    hold_id = models.BigIntegerField(null=True, blank=True)
    filled_notional = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    end_reason = models.CharField(max_length=30, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "seq"], name="order_seq_unique"),
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="order_idempotency_unique"),
            models.UniqueConstraint(
                fields=["organisation", "client_order_id"],
                condition=~Q(client_order_id=""),
                name="order_client_id_unique",
            ),
            models.CheckConstraint(condition=Q(qty__gte=1), name="order_qty_positive"),
            models.CheckConstraint(condition=Q(filled_qty__lte=F("qty")), name="order_not_overfilled"),
            models.CheckConstraint(
                condition=Q(type="market", price__isnull=True) | Q(type="limit", price__gt=0),
                name="order_price_by_type",
            ),
        ]
        # No index holds ``status``, ``filled_qty`` or anything else matching changes, and pages keep half
        # their room (fillfactor 50, marketplace 0008): matching's update of each order it touches is then
        # heap-only, with no new index entries. Lookups by organisation or instrument go by
        # the unique indexes that lead with them and filter the status on the rows.

    def __str__(self):
        return f"#{self.pk} {self.side} {self.qty} {self.instrument_id} @ {self.price or 'market'}"

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def rests(self) -> bool:
        """GTC and GTD limit orders rest on the book; IOC, FOK and market orders never do."""
        return self.type == OrderType.LIMIT and self.tif in (TimeInForce.GTC, TimeInForce.GTD)

    @property
    def cancellable(self) -> bool:
        """Live, resting, and not asked to cancel yet."""
        return self.status in (OrderStatus.PENDING, OrderStatus.OPEN) and self.rests and not self.cancel_requested_at

    @property
    def end_reason_display(self) -> str:
        return str(END_REASONS.get(self.end_reason, self.end_reason))

    @property
    def average_price(self):
        if not self.filled_qty:
            return None
        return self.filled_notional / (self.filled_qty * self.instrument.window_hours)


class OrderCancel(models.Model):
    """A cancel request: an event of the log with its own seq; matching decides what it does."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="cancels")
    seq = models.PositiveBigIntegerField()
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="cancels")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, blank=True)  # "cancelled" or the engine's rejection

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["instrument", "seq"], name="cancel_seq_unique")]

    def __str__(self):
        return f"cancel of #{self.order_id} (seq {self.seq})"


class OrderAllocation(models.Model):
    """Where a sell order's units come from: a pool's capacity (offered in the capacity layer)
    or a contract the seller holds (resale). Filled in allocation order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="allocations")
    pool = models.ForeignKey(Pool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey("Contract", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField()
    filled = models.PositiveIntegerField(default=0)
    released = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pool__isnull=False, contract__isnull=True) | Q(pool__isnull=True, contract__isnull=False),
                name="allocation_one_source",
            ),
            models.CheckConstraint(condition=Q(units__gte=F("filled") + F("released")), name="allocation_not_overused"),
        ]

    def __str__(self):
        source = f"pool {self.pool_id}" if self.pool_id else f"contract {self.contract_id}"
        return f"#{self.order_id}: {self.units} from {source}"

    @property
    def open_units(self) -> int:
        return self.units - self.filled - self.released


class Trade(models.Model):
    """One execution, at the maker's price (§4), numbered per instrument in execution order."""

    # Written only by the matching batch: every foreign key of a trade, a contract, a leg and a capacity
    # commitment is checked once per INSERT statement by a trigger (marketplace 0007, catalog 0003),
    # not by a constraint that queries once per row.
    # indexed by the unique (instrument, number)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="trades", db_index=False, db_constraint=False
    )
    number = models.PositiveBigIntegerField()
    seq = models.PositiveBigIntegerField()  # the log event that caused it
    price = models.DecimalField(max_digits=12, decimal_places=4)
    qty = models.PositiveIntegerField()
    buy_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="buy_trades", db_constraint=False)
    sell_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="sell_trades", db_constraint=False)
    # the buy or the sell order (trade_maker_is_a_side), whose keys are checked: no check of its own
    maker_order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    buyer = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    seller = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    notional = models.DecimalField(max_digits=20, decimal_places=6)  # exact: price × qty × hours
    buyer_fee = models.DecimalField(max_digits=14, decimal_places=2)
    seller_fee = models.DecimalField(max_digits=14, decimal_places=2)
    executed_at = models.DateTimeField()  # the causing event's ts

    class Meta:
        ordering = ["instrument", "number"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "number"], name="trade_number_unique"),
            models.CheckConstraint(
                condition=Q(maker_order=F("buy_order")) | Q(maker_order=F("sell_order")), name="trade_maker_is_a_side"
            ),
        ]
        indexes = [models.Index(fields=["executed_at"])]  # buyer and seller: their foreign keys' indexes

    def __str__(self):
        return f"{self.instrument_id} #{self.number}: {self.qty} @ {self.price}"


class ContractQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(holder=organisation)


class Contract(models.Model):
    """What a trade gives the buyer: ``qty`` units of the instrument's class, region and tier for
    its window, delivered from the seller's pools (legs). Units resold leave with a new contract."""

    # foreign keys checked per statement (see Trade)
    trade = models.OneToOneField(Trade, on_delete=models.PROTECT, related_name="contract", db_constraint=False)
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="contracts", db_constraint=False)
    holder = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="contracts", db_constraint=False, db_index=False
    )  # indexed with the instrument (Meta)
    seller = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    qty = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4)
    resale_reserved = models.PositiveIntegerField(default=0)  # in open sell orders
    resold = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ContractQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gte=F("resale_reserved") + F("resold")), name="contract_units"),
        ]
        # every sell looks up (and locks) its organisation's contracts on the instrument: with the
        # holder and the instrument indexed apart, PostgreSQL read the instrument's whole index
        # for it (every contract traded on it) even for a seller holding none
        indexes = [models.Index(fields=["holder", "instrument"], name="contract_holder_instrument")]

    def __str__(self):
        return f"contract #{self.pk}: {self.held} × {self.instrument_id}"

    @property
    def held(self) -> int:
        return self.qty - self.resold

    @property
    def free_for_resale(self) -> int:
        return self.qty - self.resold - self.resale_reserved


class ContractLeg(models.Model):
    """Units of a contract bound to one pool, committed in the capacity layer for the window."""

    # indexed by contract_leg_unique; foreign keys checked per statement (see Trade)
    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="legs", db_index=False, db_constraint=False
    )
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    units = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["contract", "pool"], name="contract_leg_unique")]

    def __str__(self):
        return f"contract #{self.contract_id}: {self.units} in pool {self.pool_id}"

    @property
    def source(self) -> str:
        return f"contract:{self.contract_id}:pool:{self.pool_id}"


# Retail's models (trading standard §5) live beside the exchange's, in their own module.
from marketplace.models.retail import (  # noqa: E402, F401
    RESERVATION_TRANSITIONS,
    Billing,
    Listing,
    ListingStatus,
    Reservation,
    ReservationStatus,
)

# Scheduling's models (trading standard §10) live in their own module too.
from marketplace.models.scheduling import (  # noqa: E402, F401
    DEMAND_TRANSITIONS,
    CityCore,
    Demand,
    DemandStatus,
    PartKind,
    Proposal,
    ProposalPart,
    ProposalStatus,
    SchedulingMethod,
    SchedulingRound,
)
