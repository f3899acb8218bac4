from rest_framework import serializers

from settlement.models import (
    Account,
    CardPayment,
    Hold,
    Invoice,
    InvoiceLine,
    JournalTransaction,
    Posting,
    Purpose,
    Statement,
    StripeTransfer,
    UsageRecord,
)

MONEY = {"max_digits": 20, "decimal_places": 2}


class FundsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    prepaid = serializers.DecimalField(**MONEY, help_text="Prepaid funds, holds included.")
    holds = serializers.DecimalField(**MONEY)
    credit_limit = serializers.DecimalField(**MONEY)
    available = serializers.DecimalField(**MONEY, help_text="prepaid + credit limit − holds")


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "purpose", "currency", "balance"]


class PostingSerializer(serializers.ModelSerializer):
    purpose = serializers.CharField(source="account.purpose")
    transaction = serializers.IntegerField(source="transaction_id")
    kind = serializers.CharField(source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    source = serializers.CharField(source="origin", help_text="What the posting is for (e.g. match:3:1-5000, hold:12).")
    at = serializers.DateTimeField(source="transaction.created_at")
    reverses = serializers.IntegerField(source="transaction.reverses_id", allow_null=True)

    class Meta:
        model = Posting
        fields = ["id", "transaction", "at", "purpose", "currency", "amount", "kind", "memo", "source", "reverses"]


class HoldSerializer(serializers.ModelSerializer):
    remaining = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = Hold
        fields = [
            "id",
            "reference",
            "currency",
            "amount",
            "captured",
            "released",
            "remaining",
            "status",
            "expires_at",
            "created_at",
            "closed_at",
        ]


class TransactionSerializer(serializers.ModelSerializer):
    postings = serializers.SerializerMethodField()

    class Meta:
        model = JournalTransaction
        fields = ["id", "kind", "memo", "source", "reverses", "created_at", "postings"]

    def get_postings(self, txn) -> list[dict]:
        return [
            {"account": str(p.account), "amount": str(p.amount), "currency": p.currency, "source": p.origin}
            for p in txn.postings.select_related("account__organisation")
        ]


class BankReferenceSerializer(serializers.Serializer):
    reference = serializers.CharField(source="code")
    instructions = serializers.CharField()


class BankTransferInSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=20)
    amount = serializers.DecimalField(**MONEY, min_value=0)
    bank_transaction_id = serializers.CharField(max_length=100)


class AdjustmentInSerializer(serializers.Serializer):
    organisation = serializers.SlugField()
    purpose = serializers.ChoiceField(choices=[Purpose.BUYER_CASH, Purpose.PROVIDER_PAYABLE])
    amount = serializers.DecimalField(**MONEY, help_text="Signed: positive raises what the account shows.")
    reason = serializers.CharField(max_length=300, allow_blank=True, help_text="Required (reason_required).")


class PayoutInSerializer(serializers.Serializer):
    organisation = serializers.SlugField()
    amount = serializers.DecimalField(**MONEY, min_value=0)
    method = serializers.ChoiceField(choices=["bank", "stripe"], default="bank")
    bank_transaction_id = serializers.CharField(max_length=100, required=False)

    def validate(self, attrs):
        if attrs["method"] == "bank" and not attrs.get("bank_transaction_id"):
            raise serializers.ValidationError(
                {"bank_transaction_id": "Required for a bank payout: the bank's transaction id."}, code="required"
            )
        return attrs


class StripeTransferSerializer(serializers.ModelSerializer):
    class Meta:
        model = StripeTransfer
        fields = ["id", "amount", "currency", "destination", "status", "transfer_id", "error", "created_at"]


class ReversalInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, help_text="Required (reason_required).")


class CardTopUpInSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, min_value=0)
    payment_method = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="A Stripe PaymentMethod id (e.g. pm_card_visa) to confirm at once; without it the buyer's "
        "browser confirms the PaymentIntent.",
    )


class CardPaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = CardPayment
        fields = ["id", "amount", "currency", "status", "intent_id", "error", "created_at", "updated_at"]


class TransferSettleInSerializer(serializers.Serializer):
    paid = serializers.BooleanField(help_text="What the Stripe dashboard shows: the transfer went out or not.")
    stripe_transfer_id = serializers.CharField(max_length=80, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=300, allow_blank=True, help_text="Required (reason_required).")


class UsageRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageRecord
        fields = ["record_id", "pool", "contract", "reservation", "meter", "quantity", "start", "end", "received_at"]


class UsageRecordInSerializer(serializers.Serializer):
    """One usage record (trading standard §6.2); documentation only, the service validates."""

    record_id = serializers.CharField(max_length=100, help_text="Unique per provider; a repeat changes nothing.")
    contract = serializers.IntegerField(required=False, help_text="A contract delivered from this pool, or:")
    reservation = serializers.IntegerField(required=False, help_text="a reservation on a listing of this pool.")
    meter = serializers.ChoiceField(["gpu_seconds", "vcpu_seconds"])
    quantity = serializers.CharField(help_text='Unit-seconds as a decimal string (8 GPUs for 1 h: "28800").')
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class UsageBatchInSerializer(serializers.Serializer):
    records = UsageRecordInSerializer(many=True, help_text="1 to 1,000 records.")


class _ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField()


class UsageResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    record_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(["accepted", "duplicate", "rejected"])
    error = _ErrorSerializer(allow_null=True)


class UsageBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = UsageResultSerializer(many=True)


class InvoiceLineSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = InvoiceLine
        fields = ["kind", "product", "description", "provider", "contract", "reservation", "service_date", "quantity",
                  "minutes",
                  "unit_price", "tou", "discount", "amount", "prepaid"]  # fmt: skip


class InvoiceSerializer(serializers.ModelSerializer):
    period = serializers.DateField(format="%Y-%m")
    corrects = serializers.SlugRelatedField(slug_field="number", read_only=True)
    due = serializers.DecimalField(**MONEY, read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "number", "kind", "period", "status", "corrects", "reason", "currency", "tax_rate",
                  "subtotal", "tax", "total", "prepaid", "paid", "due", "issued_at", "due_at", "paid_at",
                  "buyer_details", "lines"]  # fmt: skip


class CreditNoteInSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, help_text="Credited before VAT; the VAT on it is added.")
    reason = serializers.CharField(max_length=300, allow_blank=True, help_text="Required (reason_required).")
    charge_back = serializers.SlugField(
        required=False, help_text="The provider (slug) whose payable bears it; otherwise the platform."
    )


class StatementSerializer(serializers.ModelSerializer):
    period = serializers.DateField(format="%Y-%m")
    gross = serializers.DecimalField(**MONEY, read_only=True)
    commission = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = Statement
        fields = ["id", "number", "period", "gross_retail", "gross_wholesale", "gross", "commission_retail",
                  "commission_wholesale", "commission", "trade_fees", "chargebacks", "net", "issued_at"]  # fmt: skip
