from django.contrib import admin

from catalog.models import (
    CapacityCommitment,
    Heartbeat,
    Pool,
    PoolKey,
    PoolResource,
    PoolTransition,
    Region,
    ResourceClass,
    TouPeriod,
)


@admin.register(ResourceClass)
class ResourceClassAdmin(admin.ModelAdmin):
    list_display = [
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


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "flat_price_per_kwh", "pue", "carbon_kg_per_kwh", "western_hub"]


@admin.register(TouPeriod)
class TouPeriodAdmin(admin.ModelAdmin):
    list_display = ["kind", "multiplier"]


class PoolResourceInline(admin.TabularInline):
    model = PoolResource
    extra = 0


class PoolTransitionInline(admin.TabularInline):
    model = PoolTransition
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "actor_label", "reason_code", "reason", "at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    """Read-mostly: status changes go through the operator console, which records and audits them."""

    list_display = ["code", "provider", "region", "tier", "status", "last_heartbeat_at"]
    list_filter = ["status", "tier", "region"]
    search_fields = ["code", "name", "provider__name"]
    readonly_fields = ["status", "last_heartbeat_at"]
    inlines = [PoolResourceInline, PoolTransitionInline]


@admin.register(PoolKey)
class PoolKeyAdmin(admin.ModelAdmin):
    list_display = ["pool", "name", "lookup", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["lookup", "digest"]


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["pool", "ts", "health", "received_at"]
    list_filter = ["health"]


@admin.register(CapacityCommitment)
class CapacityCommitmentAdmin(admin.ModelAdmin):
    list_display = ["source", "pool", "resource_class", "kind", "units", "start", "end", "released_at"]
