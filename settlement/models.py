"""The double-entry ledger (trading standard §1, §4, §11): accounts, journal transactions and
their postings, holds on buyers' funds, and the references of bank transfers.

Conventions: a posting's ``amount`` is signed, debit positive and credit negative, and the
postings of one transaction sum to zero per currency. An account's balance is shown in its
normal sense: debit-normal accounts (the platform's cash at Stripe or the bank) as the sum of
their postings, credit-normal ones (what the platform owes: buyers' prepaid funds and holds,
providers' payables, revenue, VAT) as minus that sum. On PostgreSQL a deferred constraint
trigger refuses to commit an unbalanced transaction and triggers refuse to change or delete a
posted row (migration 0002).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.db.models.lookups import Exact, GreaterThanOrEqual
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Organisation

MONEY = {"max_digits": 20, "decimal_places": 2}
CNY = "CNY"


class Purpose(models.TextChoices):
    # per organisation
    BUYER_CASH = "buyer_cash", _("Prepaid funds")
    BUYER_HOLDS = "buyer_holds", _("Funds on hold")
    BUYER_RECEIVABLE = "buyer_receivable", _("Invoices receivable")
    PROVIDER_PAYABLE = "provider_payable", _("Payable to provider")
    # the platform's
    FEE_REVENUE = "fee_revenue", _("Trade fee revenue")
    COMMISSION_REVENUE = "commission_revenue", _("Commission revenue")
    VAT_PAYABLE = "vat_payable", _("VAT payable")
    STRIPE_CLEARING = "stripe_clearing", _("Cash at Stripe (clearing)")
    BANK_CLEARING = "bank_clearing", _("Cash at the bank (clearing)")
    PAYOUTS_IN_TRANSIT = "payouts_in_transit", _("Payouts sent, not yet confirmed")
    ADJUSTMENTS = "adjustments", _("Manual adjustments")


ORGANISATION_PURPOSES = frozenset(
    {Purpose.BUYER_CASH, Purpose.BUYER_HOLDS, Purpose.BUYER_RECEIVABLE, Purpose.PROVIDER_PAYABLE}
)
DEBIT_NORMAL = frozenset(
    {Purpose.BUYER_RECEIVABLE, Purpose.STRIPE_CLEARING, Purpose.BANK_CLEARING, Purpose.ADJUSTMENTS}
)
# Accounts whose balance (normal sense) may never go below zero. Buyer cash may, down to minus
# the organisation's credit limit; that rule lives in the hold and payout services.
NEVER_NEGATIVE = frozenset({Purpose.BUYER_HOLDS, Purpose.PROVIDER_PAYABLE, Purpose.PAYOUTS_IN_TRANSIT})


class AccountQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)


class Account(models.Model):
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    currency = models.CharField(max_length=3, default=CNY)
    # Cached, in the normal sense; changed only in the posting transaction, and proven equal to
    # the postings by ledger_check.
    balance = models.DecimalField(default=Decimal("0.00"), **MONEY)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["organisation_id", "purpose", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "purpose", "currency"],
                condition=Q(organisation__isnull=False),
                name="one_account_per_org_purpose_currency",
            ),
            models.UniqueConstraint(
                fields=["purpose", "currency"],
                condition=Q(organisation__isnull=True),
                name="one_platform_account_per_purpose_currency",
            ),
            models.CheckConstraint(
                condition=Q(organisation__isnull=False, purpose__in=sorted(ORGANISATION_PURPOSES))
                | Q(organisation__isnull=True) & ~Q(purpose__in=sorted(ORGANISATION_PURPOSES)),
                name="account_owner_matches_purpose",
            ),
            models.CheckConstraint(
                condition=~Q(purpose__in=sorted(NEVER_NEGATIVE)) | Q(balance__gte=0),
                name="account_balance_never_negative",
            ),
        ]

    def __str__(self):
        owner = self.organisation.slug if self.organisation_id else "platform"
        return f"{owner}:{self.purpose}:{self.currency}"

    @property
    def sign(self) -> int:
        """+1 if a debit raises the shown balance, −1 if a credit does."""
        return 1 if self.purpose in DEBIT_NORMAL else -1


class JournalTransaction(models.Model):
    """A set of postings that balance, posted once under its idempotency key. Immutable."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    content_hash = models.CharField(max_length=64, help_text=_("Digest of kind, memo and postings."))
    kind = models.CharField(max_length=40, db_index=True)
    memo = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=120, blank=True, db_index=True, help_text=_("e.g. hold:12"))
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.memo}"


class PostingQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(account__organisation=organisation)


class Posting(models.Model):
    # On PostgreSQL both references are checked per INSERT statement by a trigger (one anti-join
    # for the whole statement) instead of a foreign-key check per row; journal transactions are
    # immutable and accounts cannot be deleted, so what a posting refers to stays (migration 0008).
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    # indexed by posting_account_txn, which leads with it
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_index=False, db_constraint=False
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    # What this posting is for when its transaction covers several things (the matching worker
    # settles a batch of trades in one transaction: each posting names its trade); empty when it
    # is the transaction's own source.
    source = models.CharField(max_length=120, blank=True, default="", help_text=_("e.g. trade:3:17"))

    objects = PostingQuerySet.as_manager()

    class Meta:
        ordering = ["transaction_id", "id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_nonzero")]
        indexes = [models.Index(fields=["account", "transaction"], name="posting_account_txn")]

    def __str__(self):
        return f"{self.account} {self.amount}"

    @property
    def origin(self) -> str:
        """What the posting is for: its own source, else its transaction's."""
        return self.source or self.transaction.source


class HoldStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("hold status", "Open")
    CLOSED = "closed", pgettext_lazy("hold status", "Closed")


class HoldQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)

    def open(self):
        return self.filter(status=HoldStatus.OPEN)


_UNSETTLED_FEN = Round((models.F("amount") - models.F("captured") - models.F("released")) * 100)


class Hold(models.Model):
    """Funds set aside for something the buyer may owe (an order, a reservation): placed,
    captured in part or whole, released, or expired. Each step posts to the ledger."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="holds")
    currency = models.CharField(max_length=3, default=CNY)
    amount = models.DecimalField(**MONEY)
    captured = models.DecimalField(default=Decimal("0.00"), **MONEY)
    released = models.DecimalField(default=Decimal("0.00"), **MONEY)
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default=HoldStatus.OPEN)
    reference = models.CharField(max_length=120, help_text=_("What the hold is for, e.g. order:42"))
    idempotency_key = models.CharField(max_length=200, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(condition=Q(captured__gte=0, released__gte=0), name="hold_parts_nonnegative"),
            # In whole fen: SQLite evaluates decimal arithmetic in binary floating point.
            models.CheckConstraint(condition=GreaterThanOrEqual(_UNSETTLED_FEN, 0), name="hold_not_overdrawn"),
            models.CheckConstraint(
                condition=Q(status="open") | Q(Exact(_UNSETTLED_FEN, 0)), name="hold_closed_means_settled"
            ),
        ]

    def __str__(self):
        return f"hold {self.pk} {self.organisation.slug} {self.amount} ({self.status})"

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.captured - self.released


class BankTransferReference(models.Model):
    """The reference a buyer puts on its bank transfer (对公转账), so the operator can match it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="bank_references")
    code = models.CharField(max_length=20, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.code


class LedgerCheck(models.Model):
    """The last results of the invariant checker, for the operator's console."""

    ran_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    report = models.JSONField()

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self):
        return f"ledger check {self.ran_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"


class CardPaymentStatus(models.TextChoices):
    CREATED = "created", _("Created (not yet sent to Stripe)")
    PENDING = "pending", _("Pending at Stripe")
    UNKNOWN = "unknown", _("Unknown (the call to Stripe did not answer)")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class CardPaymentQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)

    def unresolved(self):
        return self.filter(status__in=[CardPaymentStatus.CREATED, CardPaymentStatus.PENDING, CardPaymentStatus.UNKNOWN])


class CardPayment(models.Model):
    """A top-up by card through a Stripe PaymentIntent. The row, and the idempotency key Stripe is
    called with, are stored before the call, so a call that times out can be resolved later."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="card_payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default=CNY)
    request_key = models.CharField(max_length=200, unique=True, help_text=_("The caller's Idempotency-Key."))
    stripe_idempotency_key = models.CharField(max_length=80, unique=True)
    intent_id = models.CharField(max_length=80, unique=True, null=True, blank=True)
    payment_method = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("Stripe PaymentMethod id when the server confirms; empty when the buyer's browser does."),
    )
    status = models.CharField(max_length=10, choices=CardPaymentStatus.choices, default=CardPaymentStatus.CREATED)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CardPaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="card_payment_amount_positive")]

    def __str__(self):
        return f"card payment {self.pk} {self.amount} {self.status}"


class StripeEvent(models.Model):
    """A Stripe webhook event, stored once under its id in the same transaction as its effect."""

    event_id = models.CharField(max_length=80, unique=True)
    type = models.CharField(max_length=80)
    outcome = models.CharField(max_length=20, help_text=_("applied, ignored or not_ours"))
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self):
        return f"{self.event_id} {self.type} {self.outcome}"


class TransferStatus(models.TextChoices):
    CREATED = "created", _("Created (not yet sent to Stripe)")
    UNKNOWN = "unknown", _("Unknown (the call to Stripe did not answer)")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Refused by Stripe; funds back on the payable")


class StripeTransfer(models.Model):
    """A provider payout by Stripe Connect transfer. The payable is reserved (moved to payouts in
    transit) before the call, so it cannot be paid out twice; the call's outcome settles it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="stripe_transfers")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default=CNY)
    destination = models.CharField(max_length=60)
    request_key = models.CharField(max_length=200, unique=True)
    stripe_idempotency_key = models.CharField(max_length=80, unique=True)
    transfer_id = models.CharField(max_length=80, unique=True, null=True, blank=True)
    status = models.CharField(max_length=8, choices=TransferStatus.choices, default=TransferStatus.CREATED)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="stripe_transfer_amount_positive")]

    def __str__(self):
        return f"transfer {self.pk} {self.amount} → {self.destination} ({self.status})"


class UsageRecord(models.Model):
    """One usage record a provider's machines reported (trading standard §6.2): what was
    consumed, on which pool, for which contract (or reservation), over [start, end). Stored once
    per ``record_id`` per provider and never changed (on PostgreSQL a trigger refuses UPDATE and
    DELETE); a correction is a credit note or an adjustment on the invoice, not an edit."""

    # On PostgreSQL the references are checked once per INSERT statement by a trigger (an anti-join
    # of the batch's few distinct ids) instead of a foreign-key check per row and key (migration
    # 0015); PROTECT still keeps the ORM from deleting what a record refers to. provider and buyer
    # are read through the composite indexes below, which lead with them.
    provider = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    record_id = models.CharField(max_length=100)
    pool = models.ForeignKey(
        "catalog.Pool", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    contract = models.ForeignKey(
        "marketplace.Contract", on_delete=models.PROTECT, null=True, blank=True, related_name="usage",
        db_constraint=False,
    )  # fmt: skip
    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.PROTECT, null=True, blank=True, related_name="usage",
        db_constraint=False,
    )  # fmt: skip
    buyer = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False
    )
    meter = models.CharField(max_length=20)
    quantity = models.DecimalField(max_digits=24, decimal_places=6, help_text=_("In the meter's unit-seconds."))
    start = models.DateTimeField()
    end = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "record_id"], name="usage_record_once"),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="usage_interval"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="usage_quantity_nonnegative"),
            models.CheckConstraint(
                condition=Q(contract__isnull=True, reservation__isnull=False)
                | Q(contract__isnull=False, reservation__isnull=True),
                name="usage_for_one_delivery",
            ),
        ]
        indexes = [models.Index(fields=["buyer", "start"], name="usage_buyer_start")]

    def __str__(self):
        return f"usage {self.record_id} ({self.quantity} {self.meter})"


class BillingProfile(models.Model):
    """How an organisation is invoiced: the details printed on its invoices, and whether it is
    exempt from VAT (trading standard §11; the operator decides that)."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="billing_profile")
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    tax_id = models.CharField(_("taxpayer id (纳税人识别号)"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    email = models.EmailField(_("invoice e-mail"), blank=True)
    tax_exempt = models.BooleanField(_("exempt from VAT"), default=False)

    def __str__(self):
        return f"billing profile of {self.organisation}"


class DocumentCounter(models.Model):
    """The next number of a series of invoices or credit notes: taken under a row lock in the
    transaction that issues the document, so numbers have no gaps (a rollback gives it back)."""

    series = models.CharField(max_length=20, primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.series}: {self.last}"


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    PAID = "paid", _("Paid")


class Invoice(models.Model):
    """A buyer's monthly invoice (trading standard §11), or a credit note correcting one.

    Drafted during the month and redrafted as charges arrive; issued on the 1st for the month
    before, with the next number of its series; never changed afterwards (on PostgreSQL a trigger
    refuses it): corrections are credit notes. Amounts of a credit note are positive: what the
    buyer is credited."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    period = models.DateField(help_text=_("The billing month (its first day, local time)."))
    number = models.CharField(max_length=30, unique=True, null=True, blank=True)
    status = models.CharField(max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes")
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    currency = models.CharField(max_length=3, default=CNY)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=4)
    subtotal = models.DecimalField(default=Decimal("0.00"), **MONEY)
    tax = models.DecimalField(default=Decimal("0.00"), **MONEY)
    total = models.DecimalField(default=Decimal("0.00"), **MONEY)
    prepaid = models.DecimalField(
        default=Decimal("0.00"), help_text=_("Paid before the invoice: wholesale trades settle at once."), **MONEY
    )
    paid = models.DecimalField(default=Decimal("0.00"), **MONEY)
    buyer_details = models.JSONField(default=dict, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    usage_cutoff = models.DateTimeField(
        null=True, blank=True, help_text=_("Usage received after this is billed later, as an adjustment.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "period"], condition=Q(kind="invoice"), name="one_invoice_per_month"
            ),
            models.CheckConstraint(
                condition=Q(status="draft", number__isnull=True) | ~Q(status="draft") & Q(number__isnull=False),
                name="invoice_numbered_when_issued",
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice", corrects__isnull=True) | Q(kind="credit_note", corrects__isnull=False),
                name="credit_note_corrects_an_invoice",
            ),
            models.CheckConstraint(condition=Q(paid__gte=0, prepaid__gte=0), name="invoice_paid_nonnegative"),
        ]

    def __str__(self):
        return self.number or f"draft {self.kind} {self.period:%Y-%m} of {self.organisation}"

    @property
    def due(self) -> Decimal:
        """What is left to pay."""
        return self.total - self.prepaid - self.paid


class InvoiceLineKind(models.TextChoices):
    WHOLESALE = "wholesale", _("Wholesale contract")
    TRADE_FEE = "trade_fee", _("Trade fee")
    RETAIL_TIME = "retail_time", _("Retail, per time")
    RETAIL_VOLUME = "retail_volume", _("Retail, per volume")
    ADJUSTMENT = "adjustment", _("Adjustment")
    SLA_CREDIT = "sla_credit", _("Service-level credit")
    CORRECTION = "correction", _("Correction")


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=16, choices=InvoiceLineKind.choices)
    product = models.CharField(max_length=80, blank=True)
    description = models.CharField(max_length=300)
    provider = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text=_("Whose capacity was charged (for its statement)."),
    )  # fmt: skip
    contract = models.ForeignKey("marketplace.Contract", on_delete=models.PROTECT, null=True, blank=True)
    reservation = models.ForeignKey("marketplace.Reservation", on_delete=models.PROTECT, null=True, blank=True)
    service_date = models.DateField(null=True, blank=True, help_text=_("For an adjustment: the period it corrects."))
    quantity = models.DecimalField(
        max_digits=20, decimal_places=6, null=True, blank=True, help_text=_("Unit-hours, or units for a fee.")
    )
    minutes = models.PositiveIntegerField(null=True, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    tou = models.CharField(max_length=8, blank=True)
    discount = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    prepaid = models.BooleanField(default=False, help_text=_("Paid when it was traded."))

    class Meta:
        ordering = ["id"]
        constraints = [
            # an adjustment is a difference against what was billed before, and may be negative
            models.CheckConstraint(condition=Q(amount__gte=0) | Q(kind="adjustment"), name="invoice_line_nonnegative")
        ]

    def __str__(self):
        return f"{self.description}: {self.amount}"


class Statement(models.Model):
    """A provider's monthly statement (trading standard §11): what buyers were charged for its
    capacity (VAT excluded), the commission, its trade fees and service-level charge-backs, and
    the net that its payable gained. Issued once per provider and month, numbered without gaps."""

    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="statements")
    period = models.DateField()
    number = models.CharField(max_length=30, unique=True)
    gross_retail = models.DecimalField(**MONEY)
    gross_wholesale = models.DecimalField(**MONEY)
    commission_retail = models.DecimalField(**MONEY)
    commission_wholesale = models.DecimalField(**MONEY)
    trade_fees = models.DecimalField(**MONEY)
    chargebacks = models.DecimalField(**MONEY)
    net = models.DecimalField(**MONEY)
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "period"], name="one_statement_per_month")]

    def __str__(self):
        return f"{self.number} {self.provider} {self.period:%Y-%m}"

    @property
    def gross(self) -> Decimal:
        return self.gross_retail + self.gross_wholesale

    @property
    def commission(self) -> Decimal:
        return self.commission_retail + self.commission_wholesale


class SlaCheck(models.Model):
    """The service-level check of one charged delivery (trading standard §12), made once its
    delivery time is over: the availability measured, the credit share it earned, and the
    credit note that paid it (none when the commitment was met)."""

    line = models.OneToOneField(InvoiceLine, on_delete=models.PROTECT, related_name="sla_check")
    availability = models.DecimalField(max_digits=9, decimal_places=6, help_text=_("Rounded half-up, as shown."))
    commitment = models.DecimalField(max_digits=5, decimal_places=3)
    credit_rate = models.DecimalField(max_digits=3, decimal_places=2)
    credit_note = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    checked_at = models.DateTimeField()

    def __str__(self):
        return f"SLA of line {self.line_id}: {self.availability}"


class ReconciliationNote(models.Model):
    """The operator's explanation of one difference of a period's reconciliation. It explains
    that difference only: if the figures move, the new difference needs its own."""

    period = models.DateField()
    key = models.CharField(max_length=120, help_text=_("organisation:check:document"))
    difference = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["period", "key"]
        constraints = [models.UniqueConstraint(fields=["period", "key", "difference"], name="one_note_per_difference")]

    def __str__(self):
        return f"{self.period:%Y-%m} {self.key}: {self.difference}"


class ReconciliationClose(models.Model):
    """A period the operator closed, every difference zero or explained."""

    period = models.DateField(unique=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.period:%Y-%m} closed"
