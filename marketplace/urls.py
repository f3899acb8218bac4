from django.urls import path

from marketplace import views

app_name = "marketplace"
CODE = "<str:code>"
urlpatterns = [
    path("market/", views.market_index, name="index"),
    path(f"market/{CODE}/", views.instrument_detail, name="instrument_detail"),
    path(f"market/{CODE}/live.json", views.instrument_live, name="instrument_live"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("contracts/", views.contracts, name="contracts"),
]
