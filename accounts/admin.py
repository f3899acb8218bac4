from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiKey, AuditEvent, Membership, Organisation, User
from accounts.services import audit_record

# Bulk deletion bypasses delete_model, and so the audit log: deletions go one at a time.
admin.site.disable_action("delete_selected")


class AuditedModelAdmin(admin.ModelAdmin):
    """Every change made in the admin is an operator action, and is audited like the others."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"admin.{obj._meta.model_name}.{'change' if change else 'add'}",
            target=str(obj)[:120],
            detail={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        target = str(obj)[:120]
        super().delete_model(request, obj)
        audit_record(actor=request.user, action=f"admin.{obj._meta.model_name}.delete", target=target)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        changed = [str(o)[:120] for o in formset.new_objects + [o for o, _ in formset.changed_objects]]
        deleted = [str(o)[:120] for o in formset.deleted_objects]
        if changed or deleted:
            audit_record(
                actor=request.user,
                action=f"admin.{formset.model._meta.model_name}.change",
                target=str(form.instance)[:120],
                detail={"changed": changed, "deleted": deleted},
            )


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For records that only the exchange's own operations may write (their rules live there)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(AuditedModelAdmin):
    list_display = ["name", "slug", "is_buyer", "is_provider", "is_platform", "scheduling_priority", "created_at"]
    list_filter = ["is_buyer", "is_provider", "is_platform", "scheduling_priority"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "organisation", "lookup", "created_at", "last_used_at", "revoked_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ["at", "actor_label", "action", "organisation", "target"]
    list_filter = ["action"]
