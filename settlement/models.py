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
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


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
