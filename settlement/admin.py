"""Admin: billing profiles are edited here (audited); invoices, statements and usage records are
shown read-only, since they change only through the services (and, once issued, never)."""

from django.contrib import admin

from accounts.admin import AuditedModelAdmin, ReadOnlyModelAdmin
from settlement.models import BillingProfile, Invoice, InvoiceLine, Statement, UsageRecord


@admin.register(BillingProfile)
class BillingProfileAdmin(AuditedModelAdmin):
    list_display = ["organisation", "legal_name", "tax_id", "tax_exempt"]
    list_filter = ["tax_exempt"]
    search_fields = ["organisation__name", "organisation__slug", "legal_name", "tax_id"]
    autocomplete_fields = ["organisation"]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyModelAdmin):
    list_display = ["number", "organisation", "kind", "period", "status", "subtotal", "tax", "total", "paid"]
    list_filter = ["kind", "status"]
    search_fields = ["number", "organisation__slug"]
    inlines = [InvoiceLineInline]


@admin.register(Statement)
class StatementAdmin(ReadOnlyModelAdmin):
    list_display = ["number", "provider", "period", "gross_retail", "gross_wholesale", "net"]


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyModelAdmin):
    list_display = ["record_id", "provider", "pool", "contract", "meter", "quantity", "start", "end"]
    search_fields = ["record_id"]
