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
