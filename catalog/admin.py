"""Admin: the operator edits reference data here (audited); pools, keys, heartbeats and
commitments are shown read-only, since their rules live in the services (state machine,
capacity checks) and the operator console."""

from django.contrib import admin

from accounts.admin import AuditedModelAdmin, ReadOnlyModelAdmin
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
class ResourceClassAdmin(AuditedModelAdmin):
    list_display = ["code", "kind", "vendor", "unit", "tick", "lot", "fp16_tflops", "unit_power_kw",
                    "unit_capex_cny", "opex_per_hour_cny", "meter"]  # fmt: skip


@admin.register(Region)
class RegionAdmin(AuditedModelAdmin):
    list_display = ["code", "name_zh", "name_en", "flat_price_per_kwh", "pue", "carbon_kg_per_kwh", "western_hub"]


@admin.register(TouPeriod)
class TouPeriodAdmin(AuditedModelAdmin):
    list_display = ["kind", "multiplier"]


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PoolResourceInline(_ReadOnlyInline):
    model = PoolResource


class PoolTransitionInline(_ReadOnlyInline):
    model = PoolTransition


@admin.register(Pool)
class PoolAdmin(ReadOnlyModelAdmin):
    list_display = ["code", "provider", "region", "tier", "status", "last_heartbeat_at"]
    list_filter = ["status", "tier", "region"]
    search_fields = ["code", "name", "provider__name"]
    inlines = [PoolResourceInline, PoolTransitionInline]


@admin.register(PoolKey)
class PoolKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["pool", "name", "lookup", "created_at", "last_used_at", "revoked_at"]


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyModelAdmin):
    list_display = ["pool", "ts", "health", "received_at"]
    list_filter = ["health"]


@admin.register(CapacityCommitment)
class CapacityCommitmentAdmin(ReadOnlyModelAdmin):
    list_display = ["source", "pool", "resource_class", "kind", "units", "start", "end", "released_at"]
