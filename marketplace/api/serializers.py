import decimal
import functools
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from marketplace.models import Contract, ContractLeg, Order, OrderType, Side, TimeInForce, Trade
from marketplace.services import OrderTerms

PRICE = {"max_digits": 12, "decimal_places": 4}


class OrderInSerializer(serializers.Serializer):
    """An order's terms, named as in the order log (trading standard §9)."""

    instrument = serializers.CharField(max_length=60, help_text="e.g. H100-80G.YRD.MAIN.20261207.W")
    side = serializers.ChoiceField(choices=Side.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    price = serializers.DecimalField(
        **PRICE, required=False, allow_null=True, help_text="CNY per unit-hour on the tick; none for market"
    )
    qty = serializers.IntegerField(min_value=1, max_value=10**6, help_text="units, a multiple of the lot")
    tif = serializers.ChoiceField(choices=TimeInForce.choices)
    expire_at = serializers.DateTimeField(required=False, allow_null=True, help_text="GTD only; with an offset")
    client_order_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def terms(self) -> OrderTerms:
        return OrderTerms(**self.validated_data)


class BatchInSerializer(serializers.Serializer):
    orders = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=100)


# --- the same, quickly ---------------------------------------------------------------------------
# Order entry validates up to 100 orders a request, and DRF's fields cost more per order than
# accepting it. These functions give exactly what the serializers above give for the common,
# well-formed input, and None for anything else, which then goes through the serializers (so every
# refusal keeps DRF's codes and messages). tests/marketplace/test_orders_api.py holds them equal.

_SIDES, _TYPES, _TIFS = frozenset(Side.values), frozenset(OrderType.values), frozenset(TimeInForce.values)
_CHOICES = (("side", _SIDES), ("type", _TYPES), ("tif", _TIFS))
_PLACES = Decimal("0.0001")
_MAX_DIGITS, _MAX_WHOLE = 12, 8


def _plain(value, max_length: int) -> bool:
    """A string CharField keeps as it is: non-blank, not padded, ASCII without NUL, short enough."""
    return (
        value.__class__ is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    )


def _price(value) -> Decimal | None:
    """A DecimalField(max_digits=12, decimal_places=4) value, or None when the field would refuse
    it or read it otherwise (blank)."""
    if value.__class__ is str:
        return _price_of_text(value)
    if value.__class__ not in (Decimal, int):
        return None
    return _price_of_text.__wrapped__(str(value))


@functools.lru_cache(maxsize=4096)
def _price_of_text(text: str) -> Decimal | None:
    """What ``_price`` reads in a text (kept: a batch's prices are a few ticks, over and over;
    keyed by the text itself, as equal numbers written otherwise may read otherwise)."""
    if not text or len(text) > 1000 or text != text.strip():
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    _, digits, exponent = number.as_tuple()
    if exponent >= 0:
        total, whole, places = len(digits) + exponent, len(digits) + exponent, 0
    elif len(digits) > -exponent:
        total, whole, places = len(digits), len(digits) + exponent, -exponent
    else:
        total, whole, places = -exponent, 0, -exponent
    if total > _MAX_DIGITS or places > PRICE["decimal_places"] or whole > _MAX_WHOLE:
        return None
    context = decimal.getcontext().copy()
    context.prec = _MAX_DIGITS
    return number.quantize(_PLACES, context=context)


def order_terms_quick(raw) -> OrderTerms | None:
    """``OrderInSerializer``'s terms for well-formed input, or None: then use the serializer."""
    if raw.__class__ is not dict or not _plain(raw.get("instrument"), 60):
        return None
    for name, allowed in _CHOICES:
        value = raw.get(name)
        if value.__class__ is not str or value not in allowed:
            return None
    qty = raw.get("qty")
    if qty.__class__ is not int or not 1 <= qty <= 10**6:
        return None
    price = raw.get("price")
    if price is not None:
        price = _price(price)
        if price is None:
            return None
    expire_at = raw.get("expire_at")
    if expire_at is not None:
        if expire_at.__class__ is not str:
            return None
        try:
            moment = parse_datetime(expire_at)
        except ValueError:
            return None
        if moment is None or moment.tzinfo is None:
            return None
        try:
            expire_at = moment.astimezone(timezone.get_current_timezone())
        except OverflowError:
            return None
    client_order_id = raw.get("client_order_id", "")
    if client_order_id != "" and not _plain(client_order_id, 64):
        return None
    return OrderTerms(
        instrument=raw["instrument"], side=raw["side"], type=raw["type"], qty=qty, tif=raw["tif"], price=price,
        expire_at=expire_at, client_order_id=client_order_id,
    )  # fmt: skip


def batch_orders_quick(data) -> list | None:
    """``BatchInSerializer``'s orders for well-formed input (a list of 1 to 100 objects), or None."""
    orders = data.get("orders") if data.__class__ is dict else None
    if orders.__class__ is not list or not 1 <= len(orders) <= 100:
        return None
    if any(o.__class__ is not dict for o in orders):
        return None
    return orders


def _decimal_text(value, digits: int, places: Decimal) -> str | None:
    if value is None:
        return None
    context = decimal.getcontext().copy()
    context.prec = digits
    return f"{value.quantize(places, context=context):f}"


def _time_text(value, zone) -> str | None:
    if not value:
        return None
    return _instant_text(value, zone)


@functools.lru_cache(maxsize=1024)
def _instant_text(value, zone) -> str:
    """(kept: a batch's orders share their times; equal instants give the same text in a zone)"""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_AVERAGE_PLACES = Decimal("0.000001")


@functools.lru_cache(maxsize=4096)
def _price_text(price: Decimal) -> str:
    """(kept: equal prices give the same text at fixed places)"""
    return _decimal_text(price, 12, _PLACES)


def order_data(order: Order, zone=None) -> dict:
    """``OrderSerializer(order).data``, built directly (the same keys, values and order)."""
    zone = zone or timezone.get_current_timezone()
    return {
        "id": order.pk,
        "instrument": order.instrument.code,
        "seq": order.seq,
        "client_order_id": order.client_order_id,
        "side": order.side,
        "type": order.type,
        "price": None if order.price is None else _price_text(order.price),
        "qty": order.qty,
        "tif": order.tif,
        "expire_at": _time_text(order.expire_at, zone),
        "status": order.status,
        "filled_qty": order.filled_qty,
        "remaining": order.remaining,
        "average_price": _decimal_text(order.average_price, 20, _AVERAGE_PLACES),
        "end_reason": order.end_reason,
        "hold_id": order.hold_id,
        "cancel_requested_at": _time_text(order.cancel_requested_at, zone),
        "created_at": _time_text(order.created_at, zone),
        "updated_at": _time_text(order.updated_at, zone),
    }


class FillSerializer(serializers.ModelSerializer):
    trade = serializers.IntegerField(source="number")
    role = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()

    class Meta:
        model = Trade
        fields = ["trade", "seq", "price", "qty", "role", "fee", "notional", "executed_at"]

    def _order(self):
        return self.context["order"]

    def get_role(self, trade) -> str:
        return "maker" if trade.maker_order_id == self._order().pk else "taker"

    def get_fee(self, trade) -> str:
        return str(trade.buyer_fee if trade.buy_order_id == self._order().pk else trade.seller_fee)


class OrderSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument.code")
    remaining = serializers.IntegerField(read_only=True)
    average_price = serializers.DecimalField(max_digits=20, decimal_places=6, read_only=True, allow_null=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "instrument",
            "seq",
            "client_order_id",
            "side",
            "type",
            "price",
            "qty",
            "tif",
            "expire_at",
            "status",
            "filled_qty",
            "remaining",
            "average_price",
            "end_reason",
            "hold_id",
            "cancel_requested_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    fills = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "fills"]

    def get_fills(self, order) -> list[dict]:
        trades = Trade.objects.filter(pk__in=order.buy_trades.values("pk") | order.sell_trades.values("pk"))
        return FillSerializer(trades.order_by("number"), many=True, context={"order": order}).data


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    order = OrderSerializer(allow_null=True)
    error = serializers.DictField(allow_null=True)


class TradeSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument.code")
    side = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    order_id = serializers.SerializerMethodField()

    class Meta:
        model = Trade
        fields = ["instrument", "number", "seq", "price", "qty", "side", "order_id", "notional", "fee", "executed_at"]

    def _buyer(self, trade) -> bool:
        return trade.buyer_id == self.context["request"].organisation.pk

    def get_side(self, trade) -> str:
        return "buy" if self._buyer(trade) else "sell"

    def get_fee(self, trade) -> str:
        return str(trade.buyer_fee if self._buyer(trade) else trade.seller_fee)

    def get_order_id(self, trade) -> int:
        return trade.buy_order_id if self._buyer(trade) else trade.sell_order_id


class ContractLegSerializer(serializers.ModelSerializer):
    pool = serializers.CharField(source="pool.code")
    provider = serializers.CharField(source="pool.provider.name")
    city = serializers.CharField(source="pool.city")

    class Meta:
        model = ContractLeg
        fields = ["pool", "provider", "city", "units"]


class ContractSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument.code")
    window_start = serializers.DateTimeField(source="instrument.window_start")
    window_end = serializers.DateTimeField(source="instrument.window_end")
    trade = serializers.IntegerField(source="trade.number")
    held = serializers.IntegerField(read_only=True)
    free_for_resale = serializers.IntegerField(read_only=True)
    legs = serializers.SerializerMethodField()

    class Meta:
        model = Contract
        fields = [
            "id",
            "instrument",
            "window_start",
            "window_end",
            "trade",
            "qty",
            "price",
            "held",
            "resold",
            "resale_reserved",
            "free_for_resale",
            "legs",
            "created_at",
        ]

    def get_legs(self, contract) -> list[dict]:
        return ContractLegSerializer(contract.live_legs, many=True).data
