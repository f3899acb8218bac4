"""The API's one error body: ``{"code", "detail", "fields"}`` for every refusal."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ExchangeError

UNAVAILABLE_RETRY_SECONDS = 5


def _field_errors(data) -> dict:
    """DRF's full details → {"field": [{"code", "detail"}]}; nested fields joined with dots."""
    out: dict[str, list] = {}

    def walk(prefix, value):
        if isinstance(value, dict) and not {"code", "message"} <= set(value):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict) and {"code", "message"} <= set(item):
                    out.setdefault(prefix or "non_field_errors", []).append(
                        {"code": str(item["code"]), "detail": str(item["message"])}
                    )
                else:
                    walk(f"{prefix}.{i}" if prefix else str(i), item)
        elif isinstance(value, dict):
            out.setdefault(prefix or "non_field_errors", []).append(
                {"code": str(value["code"]), "detail": str(value["message"])}
            )

    walk("", data)
    return out


def exception_handler(exc, context):
    if isinstance(exc, ExchangeError):
        body = {"code": exc.code, "detail": exc.detail, "fields": exc.fields}
        return Response(body, status=exc.status)
    if isinstance(exc, RedisError):  # the cache's Redis (the throttles' counts) did not answer in time
        detail = "The exchange could not reach a service it needs. Retry shortly, with the same Idempotency-Key."
        body = {"code": "temporarily_unavailable", "detail": detail, "fields": {}}
        return Response(body, status=503, headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "detail": "Invalid input.", "fields": _field_errors(exc.get_full_details())}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = {
            "code": codes if isinstance(codes, str) else "error",
            "detail": str(getattr(exc, "detail", exc)),
            "fields": {},
        }
    response.data = body
    return response
