"""Public market data: /api/v1/instruments/ (list, one, depth, trades, ohlcv) and
/api/v1/market/scu-index/. Any organisation may read them (a session, or an API key with
``catalog:read``); nothing here names an organisation."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from accounts.permissions import HasOrganisation
from catalog.models import Region, ResourceClass, Tier
from marketplace import market
from marketplace.models import Instrument, WindowKind

MARKET_SCOPES = (ApiKeyScope.CATALOG_READ, None)
PRICE = {"max_digits": 12, "decimal_places": 4}
NOTIONAL = {"max_digits": 24, "decimal_places": 6}


# --- query parameters: every bad one is a 400 with the error body ---------------------------


def _known(model, value):
    if value and not model.objects.filter(pk=value).exists():
        raise serializers.ValidationError(f"Unknown code {value!r}.", code="invalid_choice")
    return value


class InstrumentQuerySerializer(serializers.Serializer):
    resource_class = serializers.CharField(required=False, help_text="e.g. H100-80G")
    region = serializers.CharField(required=False, help_text="e.g. YRD")
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    kind = serializers.ChoiceField(choices=WindowKind.choices, required=False, help_text="window kind D, W or M")
    open = serializers.ChoiceField(
        choices=["true", "false"], required=False, help_text="true: only windows not yet started (still trading)"
    )

    def validate_resource_class(self, value):
        return _known(ResourceClass, value)

    def validate_region(self, value):
        return _known(Region, value)

    def criteria(self) -> dict:
        data = dict(self.validated_data)
        if "open" in data:
            data["trading"] = data.pop("open") == "true"
        return data


class DepthQuerySerializer(serializers.Serializer):
    levels = serializers.IntegerField(min_value=1, max_value=100, default=market.DEPTH_LEVELS)


class TapeQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=market.TAPE_LENGTH)
    before = serializers.IntegerField(min_value=1, required=False, help_text="only trades numbered below this")


class OhlcvQuerySerializer(serializers.Serializer):
    interval = serializers.ChoiceField(choices=sorted(market.INTERVALS), default="1h")
    since = serializers.DateTimeField(required=False, help_text="executed at or after; ISO 8601 with an offset")
    until = serializers.DateTimeField(required=False, help_text="executed before")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "Must be after since."}, code="invalid")
        return attrs


class ScuIndexQuerySerializer(serializers.Serializer):
    region = serializers.CharField(required=False, help_text="one region; all regions if absent")
    day = serializers.DateField(required=False, help_text="local day (Asia/Shanghai), YYYY-MM-DD; today if absent")

    def validate_region(self, value):
        return _known(Region, value)


# --- responses --------------------------------------------------------------------------------


class InstrumentSerializer(serializers.ModelSerializer):
    resource_class = serializers.CharField(source="resource_class_id")
    region = serializers.CharField(source="region_id")
    best_bid = serializers.DecimalField(**PRICE, allow_null=True, read_only=True)
    best_ask = serializers.DecimalField(**PRICE, allow_null=True, read_only=True)
    last = serializers.DecimalField(**PRICE, allow_null=True, read_only=True, help_text="the latest trade's price")
    trading = serializers.SerializerMethodField(help_text="the window has not started: orders are taken")

    class Meta:
        model = Instrument
        fields = ["code", "resource_class", "region", "tier", "kind", "window_start", "window_end", "window_hours",
                  "reference_price", "tick", "lot", "listed_at", "trading", "best_bid", "best_ask", "last"]  # fmt: skip
        read_only_fields = fields

    def get_trading(self, instrument) -> bool:
        return instrument.window_start > timezone.now()


class BandSerializer(serializers.Serializer):
    low = serializers.DecimalField(**PRICE)
    high = serializers.DecimalField(**PRICE)


class InstrumentDetailSerializer(InstrumentSerializer):
    band = serializers.SerializerMethodField(help_text="§4: limit prices 0.50–3.00 × the reference price, on the tick")

    class Meta(InstrumentSerializer.Meta):
        fields = [*InstrumentSerializer.Meta.fields, "band"]
        read_only_fields = fields

    @extend_schema_field(BandSerializer)
    def get_band(self, instrument) -> dict:
        return BandSerializer(market.instrument_band(instrument)).data


class LevelSerializer(serializers.Serializer):
    price = serializers.DecimalField(**PRICE)
    qty = serializers.IntegerField(help_text="units resting at this price")
    orders = serializers.IntegerField()
    cumulative = serializers.IntegerField(help_text="units at this price and every better one")


class DepthSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    bids = LevelSerializer(many=True, help_text="highest first")
    asks = LevelSerializer(many=True, help_text="lowest first")


class TapeSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    price = serializers.DecimalField(**PRICE)
    qty = serializers.IntegerField()
    executed_at = serializers.DateTimeField()


class BarSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="the interval's first instant, local time")
    open = serializers.DecimalField(**PRICE)
    high = serializers.DecimalField(**PRICE)
    low = serializers.DecimalField(**PRICE)
    close = serializers.DecimalField(**PRICE)
    volume = serializers.IntegerField(help_text="units traded")
    notional = serializers.DecimalField(**NOTIONAL)
    trades = serializers.IntegerField()


class ScuIndexSerializer(serializers.Serializer):
    region = serializers.CharField()
    day = serializers.DateField()
    trades = serializers.IntegerField()
    notional = serializers.DecimalField(**NOTIONAL, help_text="CNY, exact")
    scu = serializers.DecimalField(max_digits=30, decimal_places=2, help_text="Σ qty × window hours × FP16 TFLOPS")
    index = serializers.DecimalField(
        max_digits=20, decimal_places=6, allow_null=True, help_text="CNY per SCU, half-up to 6 decimals"
    )


def _query(serializer_class, request) -> serializers.Serializer:
    s = serializer_class(data=request.query_params)
    s.is_valid(raise_exception=True)
    return s


# --- views ------------------------------------------------------------------------------------


class InstrumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Instruments (trading standard §4) with their best bid, best ask and last price."""

    permission_classes = [HasOrganisation]
    required_scopes = MARKET_SCOPES
    lookup_field = "code"
    lookup_value_regex = r"[A-Za-z0-9.\-]+"
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Instrument.objects.none()
        if self.action == "list":
            return market.instruments_quoted(**_query(InstrumentQuerySerializer, self.request).criteria())
        return market.instruments_quoted()

    def get_serializer_class(self):
        return InstrumentSerializer if self.action == "list" else InstrumentDetailSerializer

    @extend_schema(parameters=[InstrumentQuerySerializer])
    def list(self, request, *args, **kwargs):
        """Filter by resource_class, region, tier, kind (window D, W, M) and open=true (still trading)."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=InstrumentDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        """One instrument with its reference price, price band, best bid, best ask and last price."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(parameters=[DepthQuerySerializer], responses=DepthSerializer)
    @action(detail=True)
    def depth(self, request, code=None):
        """The book by price level: remaining units of resting orders, best first, cumulative."""
        instrument = self.get_object()
        q = _query(DepthQuerySerializer, request)
        depth = market.instrument_depth(instrument=instrument, levels=q.validated_data["levels"])
        return Response(DepthSerializer({"instrument": instrument.code, "bids": depth.bids, "asks": depth.asks}).data)

    @extend_schema(parameters=[TapeQuerySerializer], responses=TapeSerializer(many=True))
    @action(detail=True)
    def trades(self, request, code=None):
        """The public tape, newest first: number, price, qty and time only (no organisations).
        Page back with ``before`` = the lowest number received."""
        instrument = self.get_object()
        q = _query(TapeQuerySerializer, request).validated_data
        tape = market.instrument_tape(instrument=instrument)
        if "before" in q:
            tape = tape.filter(number__lt=q["before"])
        rows = tape.values("number", "price", "qty", "executed_at")[: q["limit"]]
        return Response(TapeSerializer(rows, many=True).data)

    @extend_schema(parameters=[OhlcvQuerySerializer], responses=BarSerializer(many=True))
    @action(detail=True)
    def ohlcv(self, request, code=None):
        """Open, high, low, close and volume per hour (1h) or day (1d), cut in local time (UTC+8);
        only intervals with trades, oldest first."""
        instrument = self.get_object()
        q = _query(OhlcvQuerySerializer, request).validated_data
        bars = market.instrument_ohlcv(
            instrument=instrument, interval=q["interval"], since=q.get("since"), until=q.get("until")
        )
        return Response(BarSerializer(bars, many=True).data)


class ScuIndexView(APIView):
    """The SCU price index (trading standard §2) per region for one local day: total notional /
    total SCU of the trades executed that day (Asia/Shanghai), GPU and NPU classes only."""

    permission_classes = [HasOrganisation]
    required_scopes = MARKET_SCOPES

    @extend_schema(parameters=[ScuIndexQuerySerializer], responses=ScuIndexSerializer(many=True))
    def get(self, request):
        q = _query(ScuIndexQuerySerializer, request).validated_data
        rows = market.scu_index(day=q.get("day") or market.local_today(), region=q.get("region"))
        return Response(ScuIndexSerializer(rows, many=True).data)
