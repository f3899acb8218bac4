from rest_framework import serializers

from accounts.models import ApiKey, ApiKeyScope, AuditEvent, CityCore, Invitation, Membership, Organisation


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name", "slug", "is_buyer", "is_provider", "is_platform", "city", "created_at"]
        read_only_fields = ["id", "slug", "is_platform", "created_at"]


class OrganisationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    is_buyer = serializers.BooleanField(default=True)
    is_provider = serializers.BooleanField(default=False)
    city = serializers.ChoiceField(choices=CityCore.choices, required=False, allow_blank=True, default="")


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "organisation", "email", "role", "invited_by", "created_at"]


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.TRADER)


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "lookup", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiKeyScope.choices), allow_empty=False)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class AuditEventSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_label", "organisation", "action", "target", "reason", "detail"]


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    organisation = OrganisationSerializer(allow_null=True)
    organisations = OrganisationSerializer(many=True)
    is_operator = serializers.BooleanField()
