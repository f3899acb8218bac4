"""The resource-pool descriptor of the grid-connection standard §1: its JSON Schema and a
validator that reports every problem field by field. Pure: no Django import; the region and
class codes come from the caller (they are operator-edited data)."""

from decimal import Decimal

from jsonschema import Draft202012Validator

TIERS = ("MAIN", "EDGE", "TERMINAL", "PERIPHERAL", "REMOTE")
SCHEMA_ID = "/api/v1/standards/grid-connection.schema.json"

# Decimal places each numeric field may carry (the database columns' scale).
DECIMAL_PLACES = {
    "location.latitude": 6,
    "location.longitude": 6,
    "rtt_ms": 2,
    "pue": 2,
    "green_power_share": 3,
}

_CODES = {
    "required": "required",
    "pattern": "invalid_format",
    "enum": "invalid_choice",
    "minimum": "min_value",
    "maximum": "max_value",
    "exclusiveMinimum": "min_value",
    "type": "invalid_type",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
    "additionalProperties": "unknown_field",
}


def descriptor_schema(*, region_codes: list[str] | None, class_codes: list[str] | None) -> dict:
    """The JSON Schema. With codes None (the OpenAPI document, built without the database),
    region and class are plain strings; the served schema and validation list the codes."""

    def code(codes):
        return {"type": "string"} if codes is None else {"type": "string", "enum": sorted(codes)}

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Resource-pool descriptor (算力并网标准 §1)",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "code",
            "name",
            "region",
            "tier",
            "city",
            "location",
            "rtt_ms",
            "resources",
            "pue",
            "green_power_share",
            "security_level",
            "data_residency",
        ],
        "properties": {
            "code": {"type": "string", "pattern": "^[a-z0-9-]{3,40}$", "description": "Unique per provider."},
            "name": {"type": "string", "minLength": 1, "maxLength": 120},
            "region": code(region_codes),
            "tier": {"type": "string", "enum": list(TIERS)},
            "city": {
                "type": "string",
                "minLength": 1,
                "maxLength": 60,
                "description": "The city the pool serves or stands in.",
            },
            "location": {
                "type": "object",
                "description": "WGS-84 coordinates.",
                "additionalProperties": False,
                "required": ["latitude", "longitude"],
                "properties": {
                    "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                    "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                },
            },
            "rtt_ms": {
                "type": "number",
                "minimum": 0,
                "maximum": 100000,
                "description": "Measured round-trip latency to the city core(s), ms.",
            },
            "resources": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["class", "units"],
                    "properties": {
                        "class": code(class_codes),
                        "units": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
                    },
                },
            },
            "pue": {"type": "number", "minimum": 1, "maximum": 3},
            "green_power_share": {"type": "number", "minimum": 0, "maximum": 1},
            "security_level": {"type": "integer", "minimum": 1, "maximum": 4, "description": "MLPS grade (等保)."},
            "data_residency": {"type": "boolean", "description": "Whether buyer data stays inside the region."},
        },
    }


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


def _add(errors: dict, field: str, code: str, detail: str) -> None:
    errors.setdefault(field or "non_field_errors", []).append({"code": code, "detail": detail})


def _without_non_finite(value, path: list, found: list[str]):
    """A copy with NaN/Infinity decimals replaced by None (jsonschema cannot compare them); their
    paths are collected in ``found``."""
    if isinstance(value, Decimal) and not value.is_finite():
        found.append(_path(path))
        return None
    if isinstance(value, dict):
        return {k: _without_non_finite(v, [*path, k], found) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_non_finite(v, [*path, i], found) for i, v in enumerate(value)]
    return value


def descriptor_errors(descriptor, schema: dict) -> dict[str, list[dict]]:
    """Every problem with a descriptor: ``{"field.path": [{"code", "detail"}]}``; {} if valid.

    Numbers should arrive as ``Decimal`` (the API parses JSON floats as decimals) or ``int``.
    """
    errors: dict[str, list[dict]] = {}
    non_finite: list[str] = []
    descriptor = _without_non_finite(descriptor, [], non_finite)
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(descriptor), key=lambda e: list(e.absolute_path)):
        if _path(error.absolute_path) in non_finite:
            continue
        path = list(error.absolute_path)
        code = _CODES.get(error.validator, str(error.validator))
        if error.validator == "required":
            present = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in present:
                    _add(errors, _path([*path, name]), code, "This field is required.")
        elif error.validator == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    _add(errors, _path([*path, name]), code, "Not a field of the descriptor.")
        elif error.validator == "enum":
            _add(errors, _path(path), code, f"Must be one of: {', '.join(map(str, error.validator_value))}.")
        else:
            _add(errors, _path(path), code, error.message)
    for field in non_finite:
        _add(errors, field, "invalid_number", "A finite number.")
    if not isinstance(descriptor, dict):
        return errors
    # Numbers: no float (binary floating point never touches our quantities), bounded scale.
    flat = {k: descriptor.get(k) for k in ("rtt_ms", "pue", "green_power_share")}
    location = descriptor.get("location")
    if isinstance(location, dict):
        flat["location.latitude"] = location.get("latitude")
        flat["location.longitude"] = location.get("longitude")
    for field, value in flat.items():
        if field in errors or value is None or isinstance(value, bool):
            continue
        if isinstance(value, float):
            value = Decimal(repr(value))
        if isinstance(value, Decimal):
            places = -value.normalize().as_tuple().exponent
            if places > DECIMAL_PLACES[field]:
                _add(errors, field, "max_decimal_places", f"At most {DECIMAL_PLACES[field]} decimal places.")
    resources = descriptor.get("resources")
    if isinstance(resources, list):
        seen: set = set()
        for i, item in enumerate(resources):
            if isinstance(item, dict) and isinstance(item.get("class"), str):
                if item["class"] in seen:
                    _add(
                        errors,
                        f"resources.{i}.class",
                        "duplicate_class",
                        "Each class appears once; add its units together.",
                    )
                seen.add(item["class"])
    name = descriptor.get("name")
    if isinstance(name, str) and "name" not in errors and not name.strip():
        _add(errors, "name", "blank", "The name cannot be blank.")
    return errors
