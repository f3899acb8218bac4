from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditEventSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipSerializer,
    MeSerializer,
    OrganisationCreateSerializer,
    OrganisationSerializer,
)
from accounts.models import ApiKey, Invitation, Membership
from accounts.permissions import HasOrganisation, IsOperator, PeopleWrite


class MeView(APIView):
    """Who the caller is and which organisation it acts for."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        if isinstance(request.auth, ApiKey):
            orgs = [request.organisation]
        else:
            orgs = list(selectors.organisations_for_user(user=request.user))
        data = {
            "email": request.user.email,
            "organisation": request.organisation,
            "organisations": orgs,
            "is_operator": bool(
                request.organisation and request.organisation.is_platform and IsOperator().has_permission(request, self)
            ),
        }
        return Response(MeSerializer(data).data)


class OrganisationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Organisations the caller belongs to (an API key: only its own). Session users may create."""

    serializer_class = OrganisationSerializer
    permission_classes = [IsAuthenticated, PeopleWrite]

    def get_queryset(self):
        if isinstance(self.request.auth, ApiKey):
            return selectors.organisations_for_user(user=self.request.user).filter(pk=self.request.organisation.pk)
        return selectors.organisations_for_user(user=self.request.user)

    @extend_schema(request=OrganisationCreateSerializer, responses={201: OrganisationSerializer})
    def create(self, request):
        s = OrganisationCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        org = services.organisation_create(user=request.user, **s.validated_data)
        return Response(OrganisationSerializer(org).data, status=status.HTTP_201_CREATED)


class MembershipViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = MembershipSerializer
    permission_classes = [HasOrganisation, PeopleWrite]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.members_for_org(organisation=self.request.organisation)


class InvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Invitations: the organisation's pending ones; ``mine`` lists those addressed to the caller."""

    serializer_class = InvitationSerializer
    permission_classes = [HasOrganisation, PeopleWrite]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return selectors.invitations_for_org(organisation=self.request.organisation)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def create(self, request):
        s = InvitationCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            actor=request.user, organisation=request.organisation, **s.validated_data
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=InvitationSerializer(many=True))
    @action(detail=False, permission_classes=[IsAuthenticated, PeopleWrite])
    def mine(self, request):
        if isinstance(request.auth, ApiKey):
            return Response([])
        return Response(InvitationSerializer(selectors.invitations_for_user(user=request.user), many=True).data)

    @extend_schema(request=None, responses=MembershipSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, PeopleWrite])
    def accept(self, request, pk=None):
        membership = services.invitation_accept(user=request.user, invitation_id=int(pk))
        return Response(MembershipSerializer(membership).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The organisation's API keys. The secret is in the creation response only."""

    serializer_class = ApiKeySerializer
    permission_classes = [HasOrganisation, PeopleWrite]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiKey.objects.none()
        return selectors.api_keys_for_org(organisation=self.request.organisation)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        s = ApiKeyCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(
            actor=request.user, organisation=request.organisation, **s.validated_data
        )
        data = ApiKeySerializer(key).data | {"key": plaintext}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = services.api_key_revoke(actor=request.user, organisation=request.organisation, key_id=int(pk))
        return Response(ApiKeySerializer(key).data)


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Operators: the audit log of every operator action and key change."""

    serializer_class = AuditEventSerializer
    permission_classes = [IsOperator]
    filterset_fields = ["action", "organisation__slug"]

    def get_queryset(self):
        return selectors.audit_events()
