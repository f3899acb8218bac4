"""Request parsers (kept apart from config.api, which imports DRF views that read the parser setting)."""

import codecs
import json
from decimal import Decimal

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


class DecimalJSONParser(JSONParser):
    """JSON with every non-integer number parsed as ``Decimal``: no binary float ever enters, and
    the non-standard constants NaN and Infinity are refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=Decimal, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
