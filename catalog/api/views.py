from django.http import JsonResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication
from accounts.models import ApiKeyScope
from accounts.permissions import HasOrganisation, IsOperator
from catalog import selectors, services
from catalog.api.authentication import PoolKeyAuthentication
from catalog.api.serializers import (
    CapacityQuerySerializer,
    CapacitySerializer,
    HeartbeatInSerializer,
    HeartbeatSerializer,
    PoolKeyCreatedSerializer,
    PoolKeyCreateSerializer,
    PoolKeySerializer,
    PoolSerializer,
    PoolTransitionSerializer,
    ReasonSerializer,
    ReferencePriceQuerySerializer,
    ReferencePriceSerializer,
    RegionSerializer,
    ResourceClassSerializer,
    TouPeriodSerializer,
)
from catalog.capacity import capacity_by_hour
from catalog.descriptor import descriptor_schema
from catalog.models import Pool, PoolKey, Region, ResourceClass, TouPeriod
from config.errors import ExchangeError

# The request body in the OpenAPI document: the standard's JSON Schema itself (less the keywords
# OpenAPI 3.0 does not take); the served schema at /api/v1/standards/ also lists the codes.
DESCRIPTOR_OPENAPI = {
    k: v for k, v in descriptor_schema(region_codes=None, class_codes=None).items() if not k.startswith("$")
}
POOLS_SCOPES = (ApiKeyScope.POOLS_READ, ApiKeyScope.POOLS_WRITE)
CATALOG_SCOPES = (ApiKeyScope.CATALOG_READ, None)


class _ReferenceDataViewSet(viewsets.ReadOnlyModelViewSet):
    """Reference data the operator edits: readable by every organisation (scope catalog:read)."""

    permission_classes = [HasOrganisation]
    required_scopes = CATALOG_SCOPES
    pagination_class = None


class ResourceClassViewSet(_ReferenceDataViewSet):
    queryset = ResourceClass.objects.all()
    serializer_class = ResourceClassSerializer


class RegionViewSet(_ReferenceDataViewSet):
    queryset = Region.objects.all()
    serializer_class = RegionSerializer


class TouPeriodViewSet(_ReferenceDataViewSet):
    queryset = TouPeriod.objects.all()
    serializer_class = TouPeriodSerializer


class ReferencePriceView(APIView):
    """Reference price of every class × region (trading standard §8)."""

    permission_classes = [HasOrganisation]
    required_scopes = CATALOG_SCOPES

    @extend_schema(parameters=[ReferencePriceQuerySerializer], responses=ReferencePriceSerializer(many=True))
    def get(self, request):
        q = ReferencePriceQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        rows = selectors.reference_prices(
            resource_class=q.validated_data.get("resource_class"), region=q.validated_data.get("region")
        )
        return Response(ReferencePriceSerializer(rows, many=True).data)


def grid_connection_schema(request):
    """The descriptor's JSON Schema (grid-connection standard §1), public."""
    return JsonResponse(selectors.pool_descriptor_schema(), json_dumps_params={"ensure_ascii": False, "indent": 1})


class PoolFilter(filters.FilterSet):
    class Meta:
        model = Pool
        fields = ["status", "tier", "region", "code"]


def _is_operator_request(request) -> bool:
    return IsOperator().has_permission(request, None)


class PoolViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Resource pools: a provider's own; all of them for the operator."""

    serializer_class = PoolSerializer
    permission_classes = [HasOrganisation]
    required_scopes = POOLS_SCOPES
    filterset_class = PoolFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Pool.objects.none()
        if _is_operator_request(self.request):
            return selectors.pools_all()
        return selectors.pools_for_org(organisation=self.request.organisation)

    @extend_schema(request={"application/json": DESCRIPTOR_OPENAPI}, responses={201: PoolSerializer})
    def create(self, request):
        """Apply to connect a pool with its grid-connection descriptor."""
        pool = services.pool_apply(actor=request.user, organisation=request.organisation, descriptor=request.data)
        return Response(PoolSerializer(pool).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=PoolTransitionSerializer(many=True))
    @action(detail=True)
    def transitions(self, request, pk=None):
        pool = self.get_object()
        return Response(PoolTransitionSerializer(pool.transitions.all(), many=True).data)

    @extend_schema(request=ReasonSerializer, responses=PoolSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The provider disconnects the pool (only once nothing needs it)."""
        s = ReasonSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        pool = services.pool_withdraw(
            actor=request.user,
            organisation=request.organisation,
            pool_id=int(pk),
            reason=s.validated_data.get("reason", ""),
        )
        return Response(PoolSerializer(pool).data)

    def _operator_action(self, request, pk, service):
        if not _is_operator_request(request):
            return Response(
                {"code": "operator_required", "detail": IsOperator.message, "fields": {}},
                status=status.HTTP_403_FORBIDDEN,
            )
        s = ReasonSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        pool = service(actor=request.user, pool_id=int(pk), reason=s.validated_data.get("reason", ""))
        return Response(PoolSerializer(pool).data)

    @extend_schema(request=ReasonSerializer, responses=PoolSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Operator: verify an applied pool."""
        return self._operator_action(request, pk, services.pool_verify)

    @extend_schema(request=ReasonSerializer, responses=PoolSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Operator: refuse an application (reason required)."""
        return self._operator_action(request, pk, services.pool_reject)

    @extend_schema(request=ReasonSerializer, responses=PoolSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        """Operator: suspend a pool (reason required)."""
        return self._operator_action(request, pk, services.pool_suspend)

    @extend_schema(request=ReasonSerializer, responses=PoolSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Operator: reconnect a suspended pool (reason required)."""
        return self._operator_action(request, pk, services.pool_resume)

    @extend_schema(parameters=[CapacityQuerySerializer], responses=CapacitySerializer(many=True))
    @action(detail=True)
    def capacity(self, request, pk=None):
        """Installed, committed, offered and sellable units per class and hour."""
        pool = self.get_object()
        q = CapacityQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        rows = capacity_by_hour(
            pool_ids=[pool.pk],
            start=q.validated_data["start"],
            end=q.validated_data["end"],
            resource_class=q.validated_data.get("resource_class"),
        )
        return Response(CapacitySerializer(rows, many=True).data)


class PoolKeyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A pool's machine keys (provider only). The secret is in the create/rotate response only."""

    serializer_class = PoolKeySerializer
    permission_classes = [HasOrganisation]
    required_scopes = POOLS_SCOPES
    lookup_value_regex = r"\d+"
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PoolKey.objects.none()
        return PoolKey.objects.filter(pool__provider=self.request.organisation, pool_id=self.kwargs["pool_pk"])

    def _pool_or_404(self):
        pool = selectors.pool_get(organisation=self.request.organisation, pool_id=int(self.kwargs["pool_pk"]))
        if pool is None:
            raise ExchangeError("No such pool.", code="not_found", status=404)
        return pool

    def list(self, request, *args, **kwargs):
        self._pool_or_404()
        return super().list(request, *args, **kwargs)

    @extend_schema(request=PoolKeyCreateSerializer, responses={201: PoolKeyCreatedSerializer})
    def create(self, request, pool_pk=None):
        s = PoolKeyCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        key, plaintext = services.pool_key_create(
            actor=request.user,
            organisation=request.organisation,
            pool_id=int(pool_pk),
            name=s.validated_data.get("name", ""),
        )
        return Response(PoolKeySerializer(key).data | {"key": plaintext}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PoolKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pool_pk=None, pk=None):
        key = services.pool_key_revoke(
            actor=request.user, organisation=request.organisation, pool_id=int(pool_pk), key_id=int(pk)
        )
        return Response(PoolKeySerializer(key).data)

    @extend_schema(request=None, responses={201: PoolKeyCreatedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pool_pk=None, pk=None):
        key, plaintext = services.pool_key_rotate(
            actor=request.user, organisation=request.organisation, pool_id=int(pool_pk), key_id=int(pk)
        )
        return Response(PoolKeySerializer(key).data | {"key": plaintext}, status=status.HTTP_201_CREATED)


class _HeartbeatPermission(BasePermission):
    """POST: a machine key of this pool. GET: the pool's organisation (or the operator)."""

    def has_permission(self, request, view):
        if request.method == "POST":
            if not isinstance(request.auth, PoolKey):
                self.message = "Send heartbeats with the pool's machine key (Bearer pk_…)."
                return False
            return True
        if isinstance(request.auth, PoolKey):
            return False
        return HasOrganisation().has_permission(request, view)


class HeartbeatView(APIView):
    """Heartbeats of a pool: machines POST them with the pool's key; people read them."""

    authentication_classes = [PoolKeyAuthentication, ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [_HeartbeatPermission]
    required_scopes = POOLS_SCOPES

    @extend_schema(request=HeartbeatInSerializer, responses={201: HeartbeatSerializer, 200: HeartbeatSerializer})
    def post(self, request, pool_id: int):
        key: PoolKey = request.auth  # whose pool it belongs to is the service's check (wrong_pool)
        s = HeartbeatInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        named = s.validated_data.get("pool")
        if named is not None and named not in (str(pool_id), key.pool.code):
            raise ExchangeError(
                "The body names another pool.",
                fields={"pool": [{"code": "pool_mismatch", "detail": "Must be this pool's id or code."}]},
            )
        result = services.heartbeat_record(
            pool_key=key,
            pool_id=pool_id,
            ts=s.validated_data["ts"],
            available=s.validated_data["available"],
            health=s.validated_data["health"],
        )
        return Response(
            HeartbeatSerializer(result.heartbeat).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(responses=HeartbeatSerializer(many=True))
    def get(self, request, pool_id: int):
        pool = selectors.pool_get(
            organisation=request.organisation, pool_id=pool_id, operator=_is_operator_request(request)
        )
        if pool is None:
            raise ExchangeError("No such pool.", code="not_found", status=404)
        beats = selectors.pool_heartbeats(pool=pool)[:500]
        return Response(HeartbeatSerializer(beats, many=True).data)


class CapacityView(APIView):
    """Capacity by hour over all the caller's pools (all pools for the operator)."""

    permission_classes = [HasOrganisation]
    required_scopes = POOLS_SCOPES

    @extend_schema(parameters=[CapacityQuerySerializer], responses=CapacitySerializer(many=True))
    def get(self, request):
        q = CapacityQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        pools = (
            selectors.pools_all()
            if _is_operator_request(request)
            else selectors.pools_for_org(organisation=request.organisation)
        )
        rows = capacity_by_hour(
            pool_ids=list(pools.values_list("pk", flat=True)),
            start=q.validated_data["start"],
            end=q.validated_data["end"],
            resource_class=q.validated_data.get("resource_class"),
        )
        return Response(CapacitySerializer(rows, many=True).data)
