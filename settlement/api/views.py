from collections import Counter

from django.conf import settings
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication
from accounts.models import ApiKeyScope, Organisation
from accounts.permissions import HasOrganisation, IsOperator
from catalog.api.authentication import PoolKeyAuthentication
from catalog.models import PoolKey
from config.api import IDEMPOTENCY_HEADER, idempotency_key
from config.errors import ExchangeError
from config.filters import TimeFilter
from settlement import selectors, services
from settlement.api.serializers import (
    AdjustmentInSerializer,
    BankReferenceSerializer,
    BankTransferInSerializer,
    CardPaymentSerializer,
    CardTopUpInSerializer,
    CreditNoteInSerializer,
    FundsSerializer,
    HoldSerializer,
    InvoiceSerializer,
    PayoutInSerializer,
    PostingSerializer,
    ReversalInSerializer,
    StatementSerializer,
    StripeTransferSerializer,
    TransactionSerializer,
    TransferSettleInSerializer,
    UsageBatchInSerializer,
    UsageBatchResultSerializer,
    UsageRecordSerializer,
)
from settlement.models import CardPayment, Hold, Invoice, Posting, Statement, StripeTransfer, UsageRecord
from settlement.pdf import invoice_pdf
from settlement.services.invoices import credit_note_issue

FUNDS_SCOPES = (ApiKeyScope.FUNDS_READ, ApiKeyScope.FUNDS_WRITE)
IDEMPOTENCY = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True)


class FundsView(APIView):
    """Prepaid funds, holds, credit limit and available funds (trading standard §4)."""

    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES

    @extend_schema(responses=FundsSerializer)
    def get(self, request):
        return Response(FundsSerializer(services.available_funds(organisation=request.organisation)).data)


class PostingFilter(filters.FilterSet):
    purpose = filters.CharFilter(field_name="account__purpose")
    kind = filters.CharFilter(field_name="transaction__kind")
    since = TimeFilter(field_name="transaction__created_at", lookup_expr="gte")
    until = TimeFilter(field_name="transaction__created_at", lookup_expr="lt")

    class Meta:
        model = Posting
        fields = ["purpose", "kind", "since", "until"]


class PostingViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The statement of account: every posting of the organisation's accounts, newest first.
    Operators may pass ``organisation=<slug>`` to read any organisation's."""

    serializer_class = PostingSerializer
    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES
    filterset_class = PostingFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Posting.objects.none()
        org = self.request.organisation
        slug = self.request.query_params.get("organisation")
        if slug and IsOperator().has_permission(self.request, self):
            try:
                slug = serializers.SlugField(max_length=60).run_validation(slug)
            except ValidationError as exc:
                raise ValidationError({"organisation": exc.detail}) from None
            org = Organisation.objects.filter(slug=slug).first()
        return selectors.postings_for_org(organisation=org) if org else Posting.objects.none()


class HoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = HoldSerializer
    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES
    filterset_fields = ["status", "reference"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Hold.objects.none()
        return selectors.holds_for_org(organisation=self.request.organisation)


class BankTopUpView(APIView):
    """The organisation's reference for top-ups by bank transfer (对公转账)."""

    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES

    @extend_schema(request=None, responses=BankReferenceSerializer)
    def post(self, request):
        ref = services.bank_reference_for(organisation=request.organisation)
        return Response({"reference": ref.code, "instructions": settings.SUANLI_BANK_INSTRUCTIONS})


class CardTopUpViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Top-ups by card (Stripe PaymentIntents): create one, list them."""

    serializer_class = CardPaymentSerializer
    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CardPayment.objects.none()
        return CardPayment.objects.for_org(self.request.organisation)

    @extend_schema(request=CardTopUpInSerializer, responses={201: CardPaymentSerializer}, parameters=[IDEMPOTENCY])
    def create(self, request):
        key = idempotency_key(request)
        s = CardTopUpInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        payment = services.card_topup_create(
            actor=request.user, organisation=request.organisation, request_key=key, **s.validated_data
        )
        return Response(CardPaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


def _organisation(slug: str) -> Organisation:
    org = Organisation.objects.filter(slug=slug).first()
    if org is None:
        raise ExchangeError.on_field("organisation", "not_found", "No organisation with this slug.")
    return org


class _OperatorMoneyView(APIView):
    permission_classes = [IsOperator]


class BankTransferView(_OperatorMoneyView):
    """Operator: record a bank transfer received against a buyer's reference."""

    @extend_schema(request=BankTransferInSerializer, responses={201: TransactionSerializer}, parameters=[IDEMPOTENCY])
    def post(self, request):
        idempotency_key(request)  # required, like every money-moving POST; the bank id is the ledger's key
        s = BankTransferInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        txn = services.bank_transfer_record(actor=request.user, **s.validated_data)
        return Response(TransactionSerializer(txn).data, status=status.HTTP_201_CREATED)


class AdjustmentView(_OperatorMoneyView):
    """Operator: a manual adjustment of an organisation's account, with a mandatory reason."""

    @extend_schema(request=AdjustmentInSerializer, responses={201: TransactionSerializer}, parameters=[IDEMPOTENCY])
    def post(self, request):
        key = idempotency_key(request)
        s = AdjustmentInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        txn = services.adjustment_post(
            actor=request.user,
            idempotency_key=key,
            organisation=_organisation(data["organisation"]),
            purpose=data["purpose"],
            amount=data["amount"],
            reason=data["reason"],
        )
        return Response(TransactionSerializer(txn).data, status=status.HTTP_201_CREATED)


class PayoutView(_OperatorMoneyView):
    """Operator: a provider payout, never beyond the payable: by bank transfer already sent
    (``method=bank``), or by Stripe Connect transfer to the provider's connected account
    (``method=stripe``)."""

    @extend_schema(
        request=PayoutInSerializer,
        responses={201: TransactionSerializer, 202: StripeTransferSerializer},
        parameters=[IDEMPOTENCY],
    )
    def post(self, request):
        key = idempotency_key(request)
        s = PayoutInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        org = _organisation(data["organisation"])
        if data["method"] == "stripe":
            transfer = services.payout_stripe_create(
                actor=request.user, organisation=org, amount=data["amount"], request_key=key
            )
            return Response(StripeTransferSerializer(transfer).data, status=status.HTTP_202_ACCEPTED)
        txn = services.payout_record(
            actor=request.user,
            organisation=org,
            amount=data["amount"],
            bank_transaction_id=data["bank_transaction_id"],
        )
        return Response(TransactionSerializer(txn).data, status=status.HTTP_201_CREATED)


class StripeTransferViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Operator: payouts by Stripe Connect transfer; ``settle`` one whose outcome stayed unknown."""

    serializer_class = StripeTransferSerializer
    permission_classes = [IsOperator]
    filterset_fields = ["status"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return StripeTransfer.objects.select_related("organisation")

    @extend_schema(request=TransferSettleInSerializer, responses=StripeTransferSerializer)
    @action(detail=True, methods=["post"])
    def settle(self, request, pk=None):
        s = TransferSettleInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        transfer = services.stripe_transfer_settle(actor=request.user, transfer_id=int(pk), **s.validated_data)
        return Response(StripeTransferSerializer(transfer).data)


class ReversalView(_OperatorMoneyView):
    """Operator: reverse a transaction (a new transaction that points at it)."""

    @extend_schema(request=ReversalInSerializer, responses={201: TransactionSerializer}, parameters=[IDEMPOTENCY])
    def post(self, request, transaction_id: int):
        key = idempotency_key(request)
        s = ReversalInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        txn = services.transaction_reverse(
            idempotency_key=f"reverse:{key}",
            transaction_id=transaction_id,
            actor=request.user,
            reason=s.validated_data["reason"],
        )
        return Response(TransactionSerializer(txn).data, status=status.HTTP_201_CREATED)


class LedgerCheckView(_OperatorMoneyView):
    """Operator: the invariant checker's last result (GET) or a new run (POST)."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        last = selectors.ledger_check_last()
        return Response(last.report if last else {"ok": None, "detail": "The checker has not run yet."})

    @extend_schema(request=None, responses={200: dict})
    def post(self, request):
        return Response(services.ledger_check(actor=request.user))


class _UsagePermission(BasePermission):
    """POST: a pool's machine key. GET: the organisation that bought or delivered the usage."""

    def has_permission(self, request, view):
        if request.method == "POST":
            if not isinstance(request.auth, PoolKey):
                self.message = "Report usage with the pool's machine key (Bearer pk_…)."
                return False
            return True
        if isinstance(request.auth, PoolKey):
            return False
        return HasOrganisation().has_permission(request, view)


class UsageFilter(filters.FilterSet):
    contract = filters.NumberFilter(field_name="contract_id")
    reservation = filters.NumberFilter(field_name="reservation_id")
    since = TimeFilter(field_name="start", lookup_expr="gte")
    until = TimeFilter(field_name="start", lookup_expr="lt")

    class Meta:
        model = UsageRecord
        fields = ["contract", "reservation", "since", "until"]


class UsageView(mixins.ListModelMixin, generics.GenericAPIView):
    """Usage records (trading standard §6.2): machines report them in batches with the pool's
    key; the buyer and the provider read them."""

    authentication_classes = [PoolKeyAuthentication, ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [_UsagePermission]
    required_scopes = (ApiKeyScope.ORDERS_READ, None)
    serializer_class = UsageRecordSerializer
    filterset_class = UsageFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return UsageRecord.objects.none()
        return selectors.usage_for_org(organisation=self.request.organisation)

    @extend_schema(responses=UsageRecordSerializer(many=True))
    def get(self, request):
        return self.list(request)

    @extend_schema(request=UsageBatchInSerializer, responses={200: UsageBatchResultSerializer})
    def post(self, request):
        records = request.data.get("records") if isinstance(request.data, dict) else None
        results = services.usage_ingest(pool=request.auth.pool, records=records)
        counts = Counter(r.status for r in results)
        body = {
            "accepted": counts[services.USAGE_ACCEPTED],
            "duplicates": counts[services.USAGE_DUPLICATE],
            "rejected": counts[services.USAGE_REJECTED],
            "results": [
                {
                    "index": i,
                    "record_id": r.record_id,
                    "status": r.status,
                    "error": r.error.body() if r.error else None,
                }
                for i, r in enumerate(results)
            ],
        }
        return Response(body)


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your invoices and credit notes (trading standard §11), with their lines; a PDF of each."""

    serializer_class = InvoiceSerializer
    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES
    filterset_fields = ["kind", "status"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return selectors.invoices_for_org(organisation=self.request.organisation).prefetch_related("lines__provider")

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number or "draft"}.pdf"'
        return response


class CreditNoteView(_OperatorMoneyView):
    """Operator: a credit note correcting an issued invoice, with a mandatory reason."""

    @extend_schema(request=CreditNoteInSerializer, responses={201: InvoiceSerializer}, parameters=[IDEMPOTENCY])
    def post(self, request, invoice_id: int):
        key = idempotency_key(request)
        s = CreditNoteInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        if not Invoice.objects.filter(pk=invoice_id).exists():
            raise ExchangeError("No such invoice.", code="not_found", status=404)
        bearer = s.validated_data.get("charge_back")
        provider = Organisation.objects.filter(slug=bearer, is_provider=True).first() if bearer else None
        if bearer and provider is None:
            raise ExchangeError.on_field("charge_back", "not_found", "No provider with this slug.")
        note = credit_note_issue(
            actor=request.user,
            invoice_id=invoice_id,
            amount=s.validated_data["amount"],
            reason=s.validated_data["reason"],
            provider_id=provider.pk if provider else None,
            idempotency_key=f"api:{key}",
        )
        return Response(InvoiceSerializer(note).data, status=status.HTTP_201_CREATED)


class StatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A provider's monthly statements (trading standard §11)."""

    serializer_class = StatementSerializer
    permission_classes = [HasOrganisation]
    required_scopes = FUNDS_SCOPES
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Statement.objects.none()
        return selectors.statements_for_org(organisation=self.request.organisation)
