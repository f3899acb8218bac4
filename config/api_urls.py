"""/api/v1/: every app's endpoints on one router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from accounts.api import views as accounts_views
from catalog.api import views as catalog_views
from marketplace.api import market as market_views
from marketplace.api import orders as order_views
from marketplace.api import retail as retail_views
from marketplace.api import scheduling as scheduling_views
from settlement.api import views as settlement_views

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("orders", order_views.OrderViewSet, basename="order")  # first: the busiest, tried first
router.register("organisations", accounts_views.OrganisationViewSet, basename="organisation")
router.register("members", accounts_views.MembershipViewSet, basename="member")
router.register("invitations", accounts_views.InvitationViewSet, basename="invitation")
router.register("api-keys", accounts_views.ApiKeyViewSet, basename="api-key")
router.register("audit-events", accounts_views.AuditEventViewSet, basename="audit-event")
router.register("resource-classes", catalog_views.ResourceClassViewSet, basename="resource-class")
router.register("regions", catalog_views.RegionViewSet, basename="region")
router.register("tou-periods", catalog_views.TouPeriodViewSet, basename="tou-period")
router.register("pools", catalog_views.PoolViewSet, basename="pool")
router.register(r"pools/(?P<pool_pk>\d+)/keys", catalog_views.PoolKeyViewSet, basename="pool-key")
router.register("postings", settlement_views.PostingViewSet, basename="posting")
router.register("holds", settlement_views.HoldViewSet, basename="hold")
router.register("invoices", settlement_views.InvoiceViewSet, basename="invoice")
router.register("statements", settlement_views.StatementViewSet, basename="statement")
router.register("topups/card", settlement_views.CardTopUpViewSet, basename="topup-card")
router.register(
    "operator/stripe-transfers", settlement_views.StripeTransferViewSet, basename="operator-stripe-transfer"
)
router.register("trades", order_views.TradeViewSet, basename="trade")
router.register("contracts", order_views.ContractViewSet, basename="contract")
router.register("instruments", market_views.InstrumentViewSet, basename="instrument")
router.register("listings", retail_views.ListingViewSet, basename="listing")
router.register("reservations", retail_views.ReservationViewSet, basename="reservation")
router.register("demands", scheduling_views.DemandViewSet, basename="demand")

app_name = "api"
urlpatterns = [
    path("me/", accounts_views.MeView.as_view(), name="me"),
    path("reference-prices/", catalog_views.ReferencePriceView.as_view(), name="reference-prices"),
    path("capacity/", catalog_views.CapacityView.as_view(), name="capacity"),
    path("pools/<int:pool_id>/heartbeats/", catalog_views.HeartbeatView.as_view(), name="pool-heartbeats"),
    path("standards/grid-connection.schema.json", catalog_views.grid_connection_schema, name="grid-connection-schema"),
    path("funds/", settlement_views.FundsView.as_view(), name="funds"),
    path("topups/bank/", settlement_views.BankTopUpView.as_view(), name="topup-bank"),
    path("operator/bank-transfers/", settlement_views.BankTransferView.as_view(), name="operator-bank-transfers"),
    path("operator/adjustments/", settlement_views.AdjustmentView.as_view(), name="operator-adjustments"),
    path("operator/payouts/", settlement_views.PayoutView.as_view(), name="operator-payouts"),
    path(
        "operator/transactions/<int:transaction_id>/reverse/",
        settlement_views.ReversalView.as_view(),
        name="operator-transaction-reverse",
    ),
    path("usage/", settlement_views.UsageView.as_view(), name="usage"),
    path(
        "operator/invoices/<int:invoice_id>/credit-notes/",
        settlement_views.CreditNoteView.as_view(),
        name="operator-credit-notes",
    ),
    path("market/scu-index/", market_views.ScuIndexView.as_view(), name="market-scu-index"),
    path("operator/ledger-check/", settlement_views.LedgerCheckView.as_view(), name="operator-ledger-check"),
    path("", include(router.urls)),
]
