"""The texts the system writes into records — invoice and statement lines, journal memos — shown
in the reader's language.

Those texts are stored once, in English, as part of the record (an issued invoice never changes,
and its PDF, its rating cases and the ledger quote it). What a reader sees is translated at
display: each shape the services write is matched here and re-worded through gettext with the
same figures; a text of another shape (an operator's own words: a reason, an adjustment) is shown
as it was written. The patterns follow the f-strings in settlement/services (invoices, statements,
holds, funds, cards, transfers, trades, ledger) and marketplace's hold references; a test renders
each shape in Chinese.
"""

import re
from collections.abc import Callable

from django.utils.translation import gettext, pgettext

_TOU = r"(?P<tou>peak|flat|valley)"
_VOLUME_TERMS = (
    _TOU + r" hours(?: \(unit price × (?P<multiplier>[\d.]+)\))?, "
    r"(?:no volume discount|volume discount (?P<discount>\d+) %)"
)


def _tou(kind: str) -> str:
    return {
        "peak": pgettext("time-of-use period", "peak"),
        "flat": pgettext("time-of-use period", "flat"),
        "valley": pgettext("time-of-use period", "valley"),
    }[kind]


def _volume_terms(g: dict) -> str:
    if g["multiplier"]:
        rate = gettext("%(tou)s hours (unit price × %(multiplier)s)") % {
            "tou": _tou(g["tou"]),
            "multiplier": g["multiplier"],
        }
    else:
        rate = gettext("%(tou)s hours") % {"tou": _tou(g["tou"])}
    if g["discount"]:
        return gettext("%(rate)s, volume discount %(discount)s %%") % {"rate": rate, "discount": g["discount"]}
    return gettext("%(rate)s, no volume discount") % {"rate": rate}


def _reference(text: str) -> str:
    """A hold's reference ("reservation 12", "order 7")."""
    m = re.fullmatch(r"(reservation|order|demand) (\d+)", text)
    if m is None:
        return text
    words = {
        "reservation": gettext("reservation %(n)s"),
        "order": gettext("order %(n)s"),
        "demand": gettext("demand %(n)s"),
    }
    return words[m[1]] % {"n": m[2]}


_SHAPES: list[tuple[re.Pattern, Callable[[dict], str]]] = [
    (
        re.compile(r"(?P<code>\S+) · (?P<units>\d+) units × (?P<hours>\d+) h at (?P<price>[\d.]+)"),
        lambda g: gettext("%(code)s · %(units)s units × %(hours)s h at %(price)s") % g,
    ),
    (
        re.compile(r"Trade fee, (?P<code>\S+) trade #(?P<n>\d+)"),
        lambda g: gettext("Trade fee, %(code)s trade #%(n)s") % g,
    ),
    (
        re.compile(r"Reservation #(?P<id>\d+) · (?P<units>\d+) units × (?P<minutes>\d+) min at (?P<price>[\d.]+)"),
        lambda g: gettext("Reservation #%(id)s · %(units)s units × %(minutes)s min at %(price)s") % g,
    ),
    (
        re.compile(r"Metered use, " + _VOLUME_TERMS),
        lambda g: gettext("Metered use, %(terms)s") % {"terms": _volume_terms(g)},
    ),
    (
        re.compile(r"Late usage of (?P<month>\d{4}-\d{2}) \((?P<invoice>[^)]+)\), " + _VOLUME_TERMS),
        lambda g: (
            gettext("Late usage of %(month)s (%(invoice)s), %(terms)s")
            % {"month": g["month"], "invoice": g["invoice"], "terms": _volume_terms(g)}
        ),
    ),
    (
        re.compile(r"Hold for (?P<ref>.+)"),
        lambda g: gettext("Hold for %(reference)s") % {"reference": _reference(g["ref"])},
    ),
    (
        re.compile(r"hold\.(?P<kind>release|capture) for (?P<ref>.+)"),
        lambda g: (
            (
                gettext("Hold released for %(reference)s")
                if g["kind"] == "release"
                else gettext("Hold captured for %(reference)s")
            )
            % {"reference": _reference(g["ref"])}
        ),
    ),  # fmt: skip
    (
        re.compile(r"Invoice (?P<number>\S+) paid from prepaid funds"),
        lambda g: gettext("Invoice %(number)s paid from prepaid funds") % g,
    ),
    (re.compile(r"Invoice (?P<number>\S+)"), lambda g: gettext("Invoice %(number)s") % g),
    (
        re.compile(r"Credit note (?P<note>\S+) for (?P<invoice>\S+)"),
        lambda g: gettext("Credit note %(note)s for %(invoice)s") % g,
    ),
    (
        re.compile(r"Commission, statement (?P<number>\S+)"),
        lambda g: gettext("Commission, statement %(number)s") % g,
    ),
    (
        re.compile(r"Bank transfer (?P<id>\S+) ref (?P<ref>\S+)"),
        lambda g: gettext("Bank transfer %(id)s, reference %(ref)s") % g,
    ),
    (
        re.compile(r"Payout, bank transfer (?P<id>\S+)"),
        lambda g: gettext("Payout, bank transfer %(id)s") % g,
    ),
    (re.compile(r"Payout to (?P<to>\S+)"), lambda g: gettext("Payout to %(to)s") % g),
    (re.compile(r"Card top-up (?P<id>\S+)"), lambda g: gettext("Card top-up %(id)s") % g),
    (re.compile(r"(?:reservation|order|demand) \d+"), lambda g: None),  # a hold's reference alone: below
    (re.compile(r"system"), lambda g: pgettext("actor", "system")),
    (re.compile(r"Trades: notional and fees"), lambda g: gettext("Trades: notional and fees")),
    (
        re.compile(r"Reversal of #(?P<id>\d+): (?P<reason>.*)", re.S),
        lambda g: gettext("Reversal of #%(id)s: %(reason)s") % g,
    ),
]


def describe(text: str) -> str:
    """``text`` (as a service wrote it) in the active language; unchanged when it is not one of the
    shapes the services write."""
    if not text:
        return text
    for pattern, word in _SHAPES:
        m = pattern.fullmatch(text)
        if m is not None:
            return word(m.groupdict()) or _reference(text)
    return text
