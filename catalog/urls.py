from django.urls import path

from catalog import console, views

app_name = "catalog"
urlpatterns = [
    path("catalog/", views.catalog_index, name="index"),
    path("provider/pools/", views.pool_list, name="pool_list"),
    path("provider/pools/new/", views.pool_create, name="pool_create"),
    path("provider/pools/<int:pool_id>/", views.pool_detail, name="pool_detail"),
    path("provider/pools/<int:pool_id>/withdraw/", views.pool_withdraw, name="pool_withdraw"),
    path("provider/pools/<int:pool_id>/keys/new/", views.pool_key_action, {"action": "create"}, name="pool_key_create"),
    path(
        "provider/pools/<int:pool_id>/keys/<int:key_id>/rotate/",
        views.pool_key_action,
        {"action": "rotate"},
        name="pool_key_rotate",
    ),
    path(
        "provider/pools/<int:pool_id>/keys/<int:key_id>/revoke/",
        views.pool_key_action,
        {"action": "revoke"},
        name="pool_key_revoke",
    ),
    path("operator/", console.operator_overview, name="operator_overview"),
    path("operator/pools/", console.operator_pools, name="operator_pools"),
    path("operator/organisations/", console.operator_organisations, name="operator_organisations"),
    path("operator/organisations/<slug:slug>/", console.operator_organisation, name="operator_organisation"),
    path("operator/order-log/", console.operator_order_log, name="operator_order_log"),
    path("operator/pools/<int:pool_id>/", views.operator_pool, name="operator_pool"),
    path("operator/pools/<int:pool_id>/<slug:action>/", views.operator_pool_action, name="operator_pool_action"),
    path("operator/reference-prices/", views.operator_reference_prices, name="operator_reference_prices"),
    path("operator/audit/", console.operator_audit, name="operator_audit"),
]
