from django.urls import path

from settlement import views

app_name = "settlement"
urlpatterns = [
    path("funds/", views.funds, name="funds"),
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_download, name="invoice_pdf"),
    path("invoices/<int:invoice_id>/pay/", views.invoice_pay, name="invoice_pay"),
    path("usage/", views.usage, name="usage"),
    path("statements/", views.statements, name="statements"),
    path("statements/<int:statement_id>/", views.statement_detail, name="statement_detail"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
    path("operator/money/", views.operator_money, name="operator_money"),
    path("operator/money/ledger-check/", views.operator_ledger_check, name="operator_ledger_check"),
    path("operator/reconciliation/", views.operator_reconciliation, name="operator_reconciliation"),
    path("operator/reconciliation/export.csv", views.operator_reconciliation_csv, name="operator_reconciliation_csv"),
    path(
        "operator/invoices/<int:invoice_id>/rating-cases.json",
        views.operator_invoice_cases,
        name="operator_invoice_cases",
    ),
    path("operator/organisations/<slug:slug>/ledger/", views.operator_ledger, name="operator_ledger"),
]
