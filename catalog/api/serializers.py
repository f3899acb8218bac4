from decimal import ROUND_HALF_UP

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from catalog.capacity import MAX_HOURS
from catalog.models import (
    Heartbeat,
    Pool,
    PoolKey,
    PoolResource,
    PoolTransition,
    Region,
    ResourceClass,
    TouPeriod,
)


class ResourceClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResourceClass
        fields = [
            "code",
            "kind",
            "vendor",
            "unit",
            "tick",
            "lot",
            "fp16_tflops",
            "unit_power_kw",
            "unit_capex_cny",
            "opex_per_hour_cny",
            "meter",
        ]


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = [
            "code",
            "name_zh",
            "name_en",
            "clusters",
            "flat_price_per_kwh",
            "pue",
            "carbon_kg_per_kwh",
            "rtt_ms",
            "tou_by_local_hour",
            "western_hub",
        ]


class TouPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = TouPeriod
        fields = ["kind", "multiplier"]


def _half_up(places: int, **kwargs) -> serializers.DecimalField:
    """A shown decimal, rounded half-up (§1) rather than DRF's default half-even."""
    return serializers.DecimalField(max_digits=20, decimal_places=places, rounding=ROUND_HALF_UP, **kwargs)


class ReferencePriceSerializer(serializers.Serializer):
    resource_class = serializers.CharField()
    region = serializers.CharField()
    tick = serializers.SerializerMethodField()
    capex_per_hour = _half_up(6, source="cost.capex_per_hour")
    power_per_hour = _half_up(6, source="cost.power_per_hour")
    opex_per_hour = _half_up(6, source="cost.opex_per_hour")
    cost = _half_up(6, source="cost.cost")
    reference_price = serializers.CharField(help_text="CNY per unit-hour, on the class's tick.")
    price_per_scu = _half_up(6, allow_null=True)

    def get_tick(self, row) -> str:
        return str(row.tick.normalize())


class ReferencePriceQuerySerializer(serializers.Serializer):
    resource_class = serializers.CharField(required=False, allow_blank=True, max_length=20, help_text="one class")
    region = serializers.CharField(required=False, allow_blank=True, max_length=10, help_text="one region")


class PoolResourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = PoolResource
        fields = ["resource_class", "units"]


class PoolSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    location = serializers.SerializerMethodField()
    resources = PoolResourceSerializer(many=True, read_only=True)

    class Meta:
        model = Pool
        fields = [
            "id",
            "provider",
            "code",
            "name",
            "region",
            "tier",
            "city",
            "location",
            "rtt_ms",
            "resources",
            "pue",
            "green_power_share",
            "security_level",
            "data_residency",
            "status",
            "last_heartbeat_at",
            "created_at",
            "updated_at",
        ]

    def get_location(self, pool) -> dict:
        return {"latitude": f"{pool.latitude:.6f}", "longitude": f"{pool.longitude:.6f}"}


class PoolTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PoolTransition
        fields = ["id", "from_status", "to_status", "actor_label", "reason_code", "reason", "at"]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PoolKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = PoolKey
        fields = ["id", "name", "lookup", "created_at", "last_used_at", "revoked_at", "replaced_by"]


class PoolKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False, allow_blank=True)


class PoolKeyCreatedSerializer(PoolKeySerializer):
    key = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(PoolKeySerializer.Meta):
        fields = [*PoolKeySerializer.Meta.fields, "key"]


class HeartbeatSerializer(serializers.ModelSerializer):
    class Meta:
        model = Heartbeat
        fields = ["ts", "available", "health", "received_at"]


class HeartbeatInSerializer(serializers.Serializer):
    pool = serializers.CharField(required=False, help_text="The pool's id or code; must match the URL.")
    ts = serializers.DateTimeField()
    available = serializers.DictField(child=serializers.IntegerField(min_value=0))
    health = serializers.ChoiceField(choices=["ok", "degraded", "down"])

    def validate_ts(self, value):
        raw = parse_datetime(str(self.initial_data.get("ts")))
        if raw is not None and raw.tzinfo is None:
            raise serializers.ValidationError("Give the time with an offset (e.g. Z).", code="naive_datetime")
        return value


class CapacitySerializer(serializers.Serializer):
    pool_id = serializers.IntegerField()
    resource_class = serializers.CharField()
    hour = serializers.DateTimeField()
    installed = serializers.IntegerField()
    committed = serializers.IntegerField()
    offered = serializers.IntegerField()
    sellable = serializers.IntegerField()


class CapacityQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    resource_class = serializers.CharField(required=False)

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "Must be after start."}, code="empty_range")
        if (attrs["end"] - attrs["start"]).total_seconds() > MAX_HOURS * 3600:
            raise serializers.ValidationError({"end": f"At most {MAX_HOURS} hours."}, code="range_too_long")
        return attrs
