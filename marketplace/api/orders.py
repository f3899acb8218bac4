"""/api/v1/orders/, /orders/batch/, /orders/{id}/cancel/, /trades/, /contracts/."""

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.models import ApiKeyScope
from accounts.permissions import HasOrganisation
from config.api import IDEMPOTENCY_HEADER, idempotency_key
from config.filters import TimeFilter
from marketplace import selectors, services
from marketplace.api.serializers import (
    BatchInSerializer,
    BatchResultSerializer,
    ContractSerializer,
    OrderDetailSerializer,
    OrderInSerializer,
    OrderSerializer,
    TradeSerializer,
    batch_orders_quick,
    order_data,
    order_terms_quick,
)
from marketplace.forms import match_batch
from marketplace.models import Contract, Order, Trade
from marketplace.services import OrderTerms

ORDER_SCOPES = (ApiKeyScope.ORDERS_READ, ApiKeyScope.ORDERS_WRITE)
IDEMPOTENCY = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True)


class OrderFilter(filters.FilterSet):
    instrument = filters.CharFilter(field_name="instrument__code")
    since = TimeFilter(field_name="created_at", lookup_expr="gte")
    until = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["instrument", "status", "side", "tif", "client_order_id", "since", "until"]


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Wholesale orders (trading standard §4): place (acknowledged once durable; matching follows
    in a worker), list and filter, read one with its fills, cancel."""

    permission_classes = [HasOrganisation]
    required_scopes = ORDER_SCOPES
    filterset_class = OrderFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return selectors.orders_for_org(organisation=self.request.organisation)

    def get_serializer_class(self):
        return OrderDetailSerializer if self.action == "retrieve" else OrderSerializer

    @extend_schema(request=OrderInSerializer, responses={201: OrderSerializer}, parameters=[IDEMPOTENCY])
    def create(self, request):
        key = idempotency_key(request)
        terms = order_terms_quick(request.data)
        if terms is None:  # not plainly well-formed: the serializer says what is wrong, or reads it
            s = OrderInSerializer(data=request.data)
            s.is_valid(raise_exception=True)
            terms = s.terms()
        order = services.order_place(
            actor=request.user, organisation=request.organisation, terms=terms, idempotency_key=key
        )
        return Response(order_data(order), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=BatchInSerializer, responses={200: BatchResultSerializer(many=True)}, parameters=[IDEMPOTENCY]
    )
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Up to 100 orders, each accepted or refused on its own, in one durable commit."""
        key = idempotency_key(request)
        raws = batch_orders_quick(request.data)
        if raws is None:
            s = BatchInSerializer(data=request.data)
            s.is_valid(raise_exception=True)
            raws = s.validated_data["orders"]
        # well-formed orders are read directly; the rest by one serializer (a new one per order
        # costs more than the acceptance), which says what is wrong with them
        child, terms, invalid = OrderInSerializer(), [], {}
        for index, raw in enumerate(raws):
            quick = order_terms_quick(raw)
            if quick is not None:
                terms.append(quick)
                continue
            try:
                terms.append(OrderTerms(**child.run_validation(raw)))
            except ValidationError as exc:
                invalid[index] = exc.detail
                terms.append(None)
        valid = [t for t in terms if t is not None]
        placed = (
            services.orders_place_batch(
                actor=request.user, organisation=request.organisation, orders=valid, idempotency_key=key
            )
            if valid
            else []
        )
        zone = timezone.get_current_timezone()
        orders = iter([order_data(r.order, zone) for r in placed if r.order])
        results = iter(placed)
        out = []
        for index, t in enumerate(terms):
            if t is None:
                fields = {f: [{"code": e.code, "detail": str(e)} for e in errs] for f, errs in invalid[index].items()}
                error = {"code": "invalid", "detail": "Check the fields.", "fields": fields}
                out.append({"index": index, "order": None, "error": error})
                continue
            r = next(results)
            out.append(
                {
                    "index": index,
                    "order": next(orders) if r.order else None,
                    "error": r.error.body() if r.error else None,
                }
            )
        return Response(out)

    @extend_schema(request=None, responses={202: OrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Ask for a cancellation: matching decides (a fill that came first stands)."""
        order = services.order_cancel(actor=request.user, organisation=request.organisation, order_id=int(pk))
        return Response(OrderSerializer(order).data, status=status.HTTP_202_ACCEPTED)


class TradeFilter(filters.FilterSet):
    instrument = filters.CharFilter(field_name="instrument__code")
    since = TimeFilter(field_name="executed_at", lookup_expr="gte")
    until = TimeFilter(field_name="executed_at", lookup_expr="lt")
    batch = filters.CharFilter(
        method="in_batch", max_length=60, validators=[match_batch],
        help_text="A matching batch, as a trade.settle posting's source gives it (match:3:1-5000): its trades.",
    )  # fmt: skip

    class Meta:
        model = Trade
        fields = ["instrument", "since", "until", "batch"]

    def in_batch(self, trades, name, value):
        return selectors.trades_in_batch(trades, value)


class TradeViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The organisation's own trades, either side (counterparties are not shown)."""

    serializer_class = TradeSerializer
    permission_classes = [HasOrganisation]
    required_scopes = ORDER_SCOPES
    filterset_class = TradeFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Trade.objects.none()
        return selectors.trades_for_org(organisation=self.request.organisation)


class ContractViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Contracts the organisation holds: units for a window, bound to the sellers' pools."""

    serializer_class = ContractSerializer
    permission_classes = [HasOrganisation]
    required_scopes = ORDER_SCOPES
    filterset_fields = ["instrument__code"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Contract.objects.none()
        return selectors.contracts_for_org(organisation=self.request.organisation)
