"""/api/v1/demands/: state a demand (算力调度, trading standard §10), read it with its current
proposal and the cost breakdown against the cheapest single offer, confirm it (reservations and
IOC orders placed at once, or nothing), cancel it."""

from decimal import ROUND_HALF_UP, Decimal

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import ApiKeyScope
from accounts.permissions import HasOrganisation
from config.api import IDEMPOTENCY_HEADER, idempotency_key
from marketplace import selectors
from marketplace.models import CityCore, Demand, DemandStatus, Proposal, ProposalPart
from marketplace.services.scheduling import DemandTerms, demand_cancel, demand_submit, proposal_confirm

DEMAND_SCOPES = (ApiKeyScope.DEMANDS_READ, ApiKeyScope.DEMANDS_WRITE)
IDEMPOTENCY = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True)
PRICE = {"max_digits": 12, "decimal_places": 4}


@extend_schema_field(OpenApiTypes.STR)
class ExactDecimalField(serializers.Field):
    """An exact decimal as a string: at least 2 places, more only where it holds them (never a float)."""

    def to_representation(self, value):
        if value is None:
            return None
        exact = Decimal(value).normalize()
        return format(exact, "f") if exact.as_tuple().exponent < -2 else format(exact, ".2f")


class DemandInSerializer(serializers.Serializer):
    resource_class = serializers.CharField(max_length=20, required=False, allow_null=True, allow_blank=True,
                                           help_text="one class (with units), or none with min_scu")  # fmt: skip
    units = serializers.IntegerField(required=False, allow_null=True, help_text="with resource_class: units needed")
    min_scu = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True,
                                       help_text="instead of a class: FP16 TFLOPS needed, any GPU class")  # fmt: skip
    hours = serializers.IntegerField(help_text="duration, whole hours")
    earliest_start = serializers.DateTimeField(help_text="on the hour, in the future, with an offset")
    latest_finish = serializers.DateTimeField(help_text="on the hour; at least earliest_start + hours")
    city = serializers.CharField(max_length=2, required=False, allow_blank=True, default="",
                                 help_text="city core of the latency ceiling: BJ, SH, GZ or CD")  # fmt: skip
    max_rtt_ms = serializers.IntegerField(required=False, allow_null=True, help_text="latency ceiling to city, ms")
    regions = serializers.ListField(child=serializers.CharField(max_length=10), required=False, default=list,
                                    max_length=20, help_text="allowed region codes; empty: any")  # fmt: skip
    residency = serializers.CharField(max_length=10, required=False, allow_blank=True, allow_null=True,
                                      help_text="data must stay in this region (pools that guarantee it)")  # fmt: skip
    carbon_weight = serializers.DecimalField(max_digits=12, decimal_places=4, required=False, default=Decimal(0),
                                             help_text="CNY per kg CO2 added to the cost")  # fmt: skip
    max_price = serializers.DecimalField(**PRICE, required=False, allow_null=True,
                                         help_text="ceiling on an offer's price, CNY per unit-hour")  # fmt: skip

    def terms(self) -> DemandTerms:
        d = self.validated_data
        return DemandTerms(
            resource_class=d.get("resource_class") or None, units=d.get("units"), min_scu=d.get("min_scu"),
            hours=d["hours"], earliest_start=d["earliest_start"], latest_finish=d["latest_finish"],
            city=d.get("city") or None, max_rtt_ms=d.get("max_rtt_ms"), regions=tuple(d.get("regions") or ()),
            residency=d.get("residency") or None, carbon_weight=d.get("carbon_weight", Decimal(0)),
            max_price=d.get("max_price"),
        )  # fmt: skip


class ProposalPartSerializer(serializers.ModelSerializer):
    listing = serializers.IntegerField(source="listing_id", allow_null=True)
    instrument = serializers.CharField(source="instrument.code", allow_null=True, default=None)
    pool = serializers.CharField(source="pool.code", allow_null=True, default=None)
    region = serializers.CharField(source="region_id")
    resource_class = serializers.CharField(source="resource_class_id")
    price_cost = ExactDecimalField()
    energy_cost = ExactDecimalField()
    carbon_kg = ExactDecimalField()
    carbon_cost = ExactDecimalField()
    total = ExactDecimalField()
    reservation = serializers.IntegerField(source="reservation_id", allow_null=True)
    order = serializers.IntegerField(source="order_id", allow_null=True)

    class Meta:
        model = ProposalPart
        fields = ["id", "kind", "offer", "listing", "instrument", "pool", "region", "tier", "resource_class", "price",
                  "billing", "units", "start", "end", "price_cost", "energy_cost", "carbon_kg", "carbon_cost", "total",
                  "rtt_ms", "reservation", "order"]  # fmt: skip
        read_only_fields = fields


class CheapestSingleSerializer(serializers.Serializer):
    offer = serializers.CharField(source="single_offer")
    price_cost = ExactDecimalField(source="single_price_cost")
    energy_cost = ExactDecimalField(source="single_energy_cost")
    carbon_kg = ExactDecimalField(source="single_carbon_kg")
    carbon_cost = ExactDecimalField(source="single_carbon_cost")
    total = ExactDecimalField(source="single_total")
    rtt_ms = serializers.IntegerField(source="single_rtt_ms", allow_null=True)


class ProposalSerializer(serializers.ModelSerializer):
    round = serializers.IntegerField(source="round_id")
    requested = ExactDecimalField()
    placed = ExactDecimalField()
    price_cost = ExactDecimalField()
    energy_cost = ExactDecimalField()
    carbon_kg = ExactDecimalField()
    carbon_cost = ExactDecimalField()
    total = ExactDecimalField()
    cheapest_single = serializers.SerializerMethodField()
    saving = ExactDecimalField()
    saving_percent = serializers.SerializerMethodField()
    parts = ProposalPartSerializer(many=True)

    class Meta:
        model = Proposal
        fields = ["id", "round", "status", "method", "solver_status", "created_at", "expires_at", "requested",
                  "placed", "price_cost", "energy_cost", "carbon_kg", "carbon_cost", "total", "cheapest_single",
                  "saving", "saving_percent", "reason", "parts"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(CheapestSingleSerializer(allow_null=True))
    def get_cheapest_single(self, proposal):
        if proposal.single_total is None:
            return None
        return CheapestSingleSerializer(proposal).data

    @extend_schema_field(OpenApiTypes.STR)
    def get_saving_percent(self, proposal):
        percent = proposal.saving_percent
        return None if percent is None else str(percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class DemandSerializer(serializers.ModelSerializer):
    resource_class = serializers.CharField(source="resource_class_id", allow_null=True)
    min_scu = ExactDecimalField()
    residency = serializers.CharField(source="residency_id", allow_null=True)
    proposal = serializers.SerializerMethodField()

    class Meta:
        model = Demand
        fields = ["id", "status", "resource_class", "units", "min_scu", "hours", "earliest_start", "latest_finish",
                  "city", "max_rtt_ms", "regions", "residency", "carbon_weight", "max_price", "created_at",
                  "status_changed_at", "reason", "proposal"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(ProposalSerializer(allow_null=True))
    def get_proposal(self, demand):
        """The open proposal, else the latest one (None before the first round)."""
        proposal = selectors.demand_proposal(demand)
        return None if proposal is None else ProposalSerializer(proposal).data


class DemandFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=DemandStatus.choices)
    city = filters.ChoiceFilter(choices=CityCore.choices)

    class Meta:
        model = Demand
        fields = ["status", "city"]


class DemandViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A buyer's demands (算力调度): state one (a round proposes a placement within seconds),
    list and filter, read one with its proposal, confirm, cancel."""

    permission_classes = [HasOrganisation]
    required_scopes = DEMAND_SCOPES
    filterset_class = DemandFilter
    serializer_class = DemandSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Demand.objects.none()
        return selectors.demands_with_proposals(organisation=self.request.organisation)

    def _answer(self, demand_id: int, code=status.HTTP_200_OK) -> Response:
        demand = selectors.demand_get(organisation=self.request.organisation, demand_id=demand_id)
        return Response(DemandSerializer(demand).data, status=code)

    @extend_schema(request=DemandInSerializer, responses={201: DemandSerializer}, parameters=[IDEMPOTENCY])
    def create(self, request):
        key = idempotency_key(request)
        s = DemandInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        demand = demand_submit(actor=request.user, organisation=request.organisation, terms=s.terms(),
                               idempotency_key=key)  # fmt: skip
        return self._answer(demand.pk, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: DemandSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Place the open proposal: every part at once (retail parts as reservations, wholesale
        parts as IOC limit buys at the part's price), or nothing (409 with the part's reason code;
        the demand goes back to the next round)."""
        demand = proposal_confirm(actor=request.user, organisation=request.organisation, demand_id=int(pk))
        return self._answer(demand.pk)

    @extend_schema(request=None, responses={200: DemandSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Withdraw a waiting or proposed demand."""
        demand = demand_cancel(actor=request.user, organisation=request.organisation, demand_id=int(pk))
        return self._answer(demand.pk)
