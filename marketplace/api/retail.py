"""/api/v1/listings/ (a provider's own, and ``browse/`` for buyers) and /api/v1/reservations/:
retail at a posted price (trading standard §5, §6.1)."""

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import ApiKeyScope
from accounts.permissions import HasOrganisation
from catalog.models import Tier
from config.api import IDEMPOTENCY_HEADER, idempotency_key
from config.filters import TimeFilter
from marketplace import selectors, services
from marketplace.models import Billing, Listing, ListingStatus, Reservation, ReservationStatus
from marketplace.services import ListingTerms, ReservationTerms

RETAIL_SCOPES = (ApiKeyScope.RETAIL_READ, ApiKeyScope.RETAIL_WRITE)
IDEMPOTENCY = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True)
PRICE = {"max_digits": 12, "decimal_places": 4}


class ListingInSerializer(serializers.Serializer):
    pool = serializers.IntegerField(help_text="one of your connected pools")
    resource_class = serializers.CharField(max_length=20, help_text="a class the pool has, e.g. H100-80G")
    units = serializers.IntegerField(min_value=1, max_value=10**7)
    price = serializers.DecimalField(**PRICE, help_text="CNY per unit-hour, at least the §8 cost of the class × region")
    billing = serializers.ChoiceField(choices=Billing.choices)
    minimum_minutes = serializers.IntegerField(min_value=1, max_value=93 * 24 * 60, help_text="per_time: ≥ 60")
    available_from = serializers.DateTimeField(required=False, help_text="default: now")
    available_until = serializers.DateTimeField()

    def terms(self) -> ListingTerms:
        d = self.validated_data
        return ListingTerms(
            pool_id=d["pool"], resource_class=d["resource_class"], units=d["units"], price=d["price"],
            billing=d["billing"], minimum_minutes=d["minimum_minutes"],
            available_from=d.get("available_from") or timezone.now(), available_until=d["available_until"],
        )  # fmt: skip


class ListingSerializer(serializers.ModelSerializer):
    """A provider's own listing."""

    pool_code = serializers.CharField(source="pool.code")
    region = serializers.CharField(source="pool.region_id")
    tier = serializers.CharField(source="pool.tier")

    class Meta:
        model = Listing
        fields = [
            "id",
            "pool",
            "pool_code",
            "resource_class",
            "region",
            "tier",
            "units",
            "price",
            "billing",
            "minimum_minutes",
            "available_from",
            "available_until",
            "status",
            "created_at",
            "withdrawn_at",
        ]
        read_only_fields = fields


class ListingPublicSerializer(serializers.ModelSerializer):
    """A listing as buyers see it: the product and the site's facts, not the provider's pool code."""

    provider = serializers.CharField(source="provider.name")
    region = serializers.CharField(source="pool.region_id")
    tier = serializers.CharField(source="pool.tier")
    city = serializers.CharField(source="pool.city")
    rtt_ms = serializers.DecimalField(source="pool.rtt_ms", max_digits=8, decimal_places=2)
    green_power_share = serializers.DecimalField(source="pool.green_power_share", max_digits=4, decimal_places=3)
    security_level = serializers.IntegerField(source="pool.security_level")
    data_residency = serializers.BooleanField(source="pool.data_residency")

    class Meta:
        model = Listing
        fields = ["id", "provider", "resource_class", "region", "tier", "city", "rtt_ms", "green_power_share",
                  "security_level", "data_residency", "units", "price", "billing", "minimum_minutes",
                  "available_from", "available_until"]  # fmt: skip
        read_only_fields = fields


class ListingFilter(filters.FilterSet):
    region = filters.CharFilter(field_name="pool__region_id")
    tier = filters.ChoiceFilter(field_name="pool__tier", choices=Tier.choices)
    billing = filters.ChoiceFilter(choices=Billing.choices)
    status = filters.ChoiceFilter(choices=ListingStatus.choices)

    class Meta:
        model = Listing
        fields = ["resource_class", "region", "tier", "billing", "status"]


class ListingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Retail listings (§5). A provider lists, reads and withdraws its own; ``browse`` shows
    every listing buyers can reserve now, of any provider."""

    permission_classes = [HasOrganisation]
    required_scopes = RETAIL_SCOPES
    filterset_class = ListingFilter
    serializer_class = ListingSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Listing.objects.none()
        if self.action == "browse":
            return selectors.listings_open()
        return selectors.listings_for_org(organisation=self.request.organisation)

    def get_serializer_class(self):
        return ListingPublicSerializer if self.action == "browse" else ListingSerializer

    @extend_schema(request=ListingInSerializer, responses={201: ListingSerializer})
    def create(self, request):
        s = ListingInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        listing = services.listing_create(actor=request.user, organisation=request.organisation, terms=s.terms())
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ListingSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Stop selling; what is not reserved goes back to the pool, reservations stand."""
        listing = services.listing_withdraw(actor=request.user, organisation=request.organisation, listing_id=int(pk))
        return Response(ListingSerializer(listing).data)

    @extend_schema(responses={200: ListingPublicSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def browse(self, request):
        """Every open listing of connected pools; filters resource_class, region, tier, billing."""
        return self.list(request)


class ReservationInSerializer(serializers.Serializer):
    listing = serializers.IntegerField()
    units = serializers.IntegerField(min_value=1, max_value=10**7)
    start = serializers.DateTimeField(help_text="whole minute, with an offset, not in the past")
    end = serializers.DateTimeField(help_text="whole minute; end − start ≥ the listing's minimum")

    def terms(self) -> ReservationTerms:
        d = self.validated_data
        return ReservationTerms(listing_id=d["listing"], units=d["units"], start=d["start"], end=d["end"])


class ReservationSerializer(serializers.ModelSerializer):
    resource_class = serializers.CharField(source="listing.resource_class_id")
    provider = serializers.CharField(source="pool.provider.name")
    pool = serializers.CharField(source="pool.code")
    city = serializers.CharField(source="pool.city")

    class Meta:
        model = Reservation
        fields = ["id", "listing", "resource_class", "provider", "pool", "city", "units", "start", "end",
                  "actual_end", "price", "billing", "minimum_minutes", "status", "hold_id", "hold_amount",
                  "created_at", "status_changed_at"]  # fmt: skip
        read_only_fields = fields


class ReservationFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ReservationStatus.choices)
    billing = filters.ChoiceFilter(choices=Billing.choices)
    since = TimeFilter(field_name="start", lookup_expr="gte")
    until = TimeFilter(field_name="start", lookup_expr="lt")

    class Meta:
        model = Reservation
        fields = ["listing", "status", "billing", "since", "until"]


class ReservationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The buyer's reservations: reserve (confirmed at once, or refused with a reason code),
    list and filter, read one, cancel."""

    permission_classes = [HasOrganisation]
    required_scopes = RETAIL_SCOPES
    filterset_class = ReservationFilter
    serializer_class = ReservationSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        return selectors.reservations_for_org(organisation=self.request.organisation)

    @extend_schema(request=ReservationInSerializer, responses={201: ReservationSerializer}, parameters=[IDEMPOTENCY])
    def create(self, request):
        key = idempotency_key(request)
        s = ReservationInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        reservation = services.reservation_place(
            actor=request.user, organisation=request.organisation, terms=s.terms(), idempotency_key=key
        )
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ReservationSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Before the start: free. After: billed to now, to the minute, with the minimum."""
        reservation = services.reservation_cancel(
            actor=request.user, organisation=request.organisation, reservation_id=int(pk)
        )
        return Response(ReservationSerializer(reservation).data)
