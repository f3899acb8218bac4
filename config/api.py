"""API plumbing shared by every app: error bodies, pagination, throttling."""

import codecs
import json
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, pagination, throttling
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ExchangeError


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class OrganisationRateThrottle(throttling.SimpleRateThrottle):
    """One bucket per organisation (API key or session's active organisation), else per user."""

    scope = "organisation"

    def get_cache_key(self, request, view):
        org = getattr(request, "organisation", None)
        if org is not None:
            ident = f"org-{org.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


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


class DecimalJSONParser(JSONParser):
    """JSON with every non-integer number parsed as ``Decimal``: no binary float ever enters."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=Decimal)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
