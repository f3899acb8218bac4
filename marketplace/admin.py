"""Scheduling's records in the admin, read-only: demands, proposals and rounds are written only by
the scheduling services (their rules live there)."""

from django.contrib import admin

from accounts.admin import ReadOnlyModelAdmin
from marketplace.models import Demand, Proposal, ProposalPart, SchedulingRound


@admin.register(SchedulingRound)
class SchedulingRoundAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "started_at", "demands", "offers", "placed", "method", "solver_status", "seconds", "total"]
    list_filter = ["method"]


@admin.register(Demand)
class DemandAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "organisation", "resource_class", "units", "min_scu", "hours", "earliest_start",
                    "latest_finish", "status", "created_at"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["organisation__name", "organisation__slug"]


class ProposalPartInline(admin.TabularInline):
    model = ProposalPart
    extra = 0
    can_delete = False
    fields = ["offer", "kind", "region", "tier", "resource_class", "price", "units", "start", "end", "price_cost",
              "energy_cost", "carbon_kg", "carbon_cost", "rtt_ms", "reservation", "order"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "demand", "round", "status", "method", "requested", "placed", "total", "created_at"]
    list_filter = ["status", "method"]
    inlines = [ProposalPartInline]
