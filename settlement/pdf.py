"""Invoices and credit notes as PDF (trading standard §11): line items, tax, totals, buyer and
seller details. Chinese text is set in STSong-Light, one of the CID fonts every PDF reader has,
so nothing is embedded and nothing is fetched."""

from decimal import Decimal
from io import BytesIO

from django.conf import settings
from django.utils import translation
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from settlement.models import Invoice, InvoiceKind, InvoiceStatus
from settlement.services.invoices import LOCAL
from settlement.wording import describe

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
TITLE = ParagraphStyle("title", parent=BODY, fontSize=16, leading=20)


def yuan(amount: Decimal) -> str:
    return f"¥{amount:,.2f}"


def _when(instant) -> str:
    return instant.astimezone(LOCAL).strftime("%Y-%m-%d") if instant else "—"


def _party(title: str, details: dict) -> Paragraph:
    rows = [f"<b>{title}</b>", details.get("name", "")]
    if details.get("tax_id"):
        rows.append(f"Taxpayer id 纳税人识别号: {details['tax_id']}")
    for key in ("address", "email", "bank"):
        if details.get(key):
            rows.append(details[key])
    return Paragraph("<br/>".join(_escape(r) if i else r for i, r in enumerate(rows)), BODY)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def invoice_pdf(invoice: Invoice, lines=None) -> bytes:
    """The document as a PDF."""
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    title = "Credit note 红字发票" if credit else "Invoice 发票"
    if invoice.status == InvoiceStatus.DRAFT:
        title += " — DRAFT 草稿 (not a valid invoice)"
    buyer = invoice.buyer_details or {"name": invoice.organisation.name, "slug": invoice.organisation.slug}
    facts = [
        ("Number 编号", invoice.number or "—"),
        ("Billing period 账期", f"{invoice.period:%Y-%m}"),
        ("Issued 开票日期", _when(invoice.issued_at)),
    ]
    if credit:
        facts.append(("Corrects 原发票", invoice.corrects.number if invoice.corrects_id else "—"))
        facts.append(("Reason 原因", invoice.reason))
    else:
        facts.append(("Due 到期日", _when(invoice.due_at)))
    story = [
        Paragraph(_escape(title), TITLE),
        Spacer(1, 4 * mm),
        Table(
            [[_party("Seller 销售方", settings.SUANLI_INVOICE_SELLER), _party("Buyer 购买方", buyer)]],
            colWidths=[90 * mm, 90 * mm],
            style=[("VALIGN", (0, 0), (-1, -1), "TOP")],
        ),
        Spacer(1, 4 * mm),
        Table(
            [[Paragraph(k, BODY), Paragraph(_escape(v), BODY)] for k, v in facts],
            colWidths=[40 * mm, 140 * mm],
        ),
        Spacer(1, 5 * mm),
    ]
    header = ["Description 项目", "Quantity 数量", "Unit price 单价", "Amount 金额"]
    rows = [[Paragraph(h, SMALL) for h in header]]
    for line in invoice.lines.all() if lines is None else lines:
        text = _escape(line.description)
        with translation.override("zh-hans"):
            chinese = describe(line.description)
        if chinese != line.description:
            text += f"<br/>{_escape(chinese)}"
        if line.product:
            text += f"<br/><font size=7>{_escape(line.product)}</font>"
        if line.prepaid:
            text += "<br/><font size=7>paid at the trade 成交时已付</font>"
        quantity = f"{line.quantity:,.6f} unit-h" if line.quantity is not None else ""
        price = f"{line.unit_price}" if line.unit_price is not None else ""
        rows.append([Paragraph(text, SMALL), Paragraph(quantity, SMALL), Paragraph(price, SMALL),
                     Paragraph(yuan(line.amount), SMALL)])  # fmt: skip
    rate = f"{invoice.tax_rate * 100:.2f}".rstrip("0").rstrip(".")
    sums = [
        ("Subtotal 小计", invoice.subtotal),
        (f"VAT 增值税 {rate} %", invoice.tax),
        ("Total 价税合计", invoice.total),
    ]
    if not credit:
        sums += [
            ("Paid at the trade 成交时已付", invoice.prepaid),
            ("Paid 已付", invoice.paid),
            ("Due 应付", invoice.due),
        ]
    for label, amount in sums:
        rows.append(["", "", Paragraph(label, SMALL), Paragraph(yuan(amount), SMALL)])
    lines_table = Table(rows, colWidths=[95 * mm, 30 * mm, 30 * mm, 25 * mm], repeatRows=1)
    lines_table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("LINEABOVE", (2, len(rows) - len(sums)), (-1, len(rows) - len(sums)), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    story += [lines_table, Spacer(1, 6 * mm)]
    story.append(
        Paragraph(
            "Amounts in CNY. Rounded half-up to the fen per line and on the tax (trading standard §1, §11). "
            "金额单位：人民币元。",
            SMALL,
        )
    )
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"{title} {invoice.number or ''}".strip(),
                            author=settings.SUANLI_INVOICE_SELLER["name"], invariant=1)  # fmt: skip
    doc.build(story)
    return out.getvalue()
