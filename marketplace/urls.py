from django.urls import path

from marketplace import retail_views, scheduling_views, shelf_views, views

app_name = "marketplace"
CODE = "<str:code>"
urlpatterns = [
    path("shelf/", shelf_views.shelf, name="shelf"),
    path("shelf/<str:product>/", shelf_views.product, name="product"),
    path("market/", views.market_index, name="index"),
    path(f"market/{CODE}/", views.instrument_detail, name="instrument_detail"),
    path(f"market/{CODE}/live.json", views.instrument_live, name="instrument_live"),
    path("live/events", views.live_events, name="live_events"),
    path("orders/", views.orders, name="orders"),
    path("orders/live.json", views.orders_live, name="orders_live"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("fills/", views.fills, name="fills"),
    path("contracts/", views.contracts, name="contracts"),
    path("retail/", retail_views.retail_index, name="retail_index"),
    path("retail/<int:listing_id>/", retail_views.listing_detail, name="listing_detail"),
    path("reservations/", retail_views.reservations, name="reservations"),
    path("reservations/<int:reservation_id>/cancel/", retail_views.reservation_cancel, name="reservation_cancel"),
    path("listings/", retail_views.my_listings, name="my_listings"),
    path("listings/<int:listing_id>/withdraw/", retail_views.listing_withdraw, name="listing_withdraw"),
    path("schedule/", scheduling_views.schedule, name="schedule"),
    path("schedule/<int:demand_id>/", scheduling_views.demand_detail, name="demand_detail"),
    path("schedule/<int:demand_id>/live.json", scheduling_views.demand_live, name="demand_live"),
    path("schedule/<int:demand_id>/confirm/", scheduling_views.demand_confirm, name="demand_confirm"),
    path("schedule/<int:demand_id>/cancel/", scheduling_views.demand_cancel_view, name="demand_cancel"),
]
