"""Text colours of the site's stylesheet against the backgrounds they are used on: WCAG's
contrast ratio of at least 4.5:1 for normal text (the browser tests check phones and keyboards)."""

import re
from pathlib import Path

import pytest
from django.conf import settings

CSS = (Path(settings.BASE_DIR) / "static" / "css" / "site.css").read_text(encoding="utf-8")
VARIABLES = {
    name: value if len(value) == 7 else "#" + "".join(c * 2 for c in value[1:])  # #fff → #ffffff
    for name, value in re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", CSS.split("}", 1)[0])
}


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return VARIABLES[name[2:]] if name.startswith("--") else name


# (text, background, where): every text colour on every background the stylesheet puts it on
PAIRS = [
    ("--ink", "#ffffff", "body text on cards, tables and forms"),
    ("--ink", "--bg", "body text on the page"),
    ("--ink", "#eef1f5", "table headings"),
    ("--muted", "#ffffff", "muted text on cards"),
    ("--muted", "--bg", "muted text and the footer on the page"),
    ("--muted", "#eef1f5", "muted text in table headings"),
    ("--brand", "#ffffff", "links"),
    ("--brand", "--bg", "links on the page"),
    ("--brand", "#e8f1fb", "tags and info messages"),
    ("--brand-ink", "--brand", "buttons and the current sub-navigation link"),
    ("#ffffff", "--bad", "danger buttons"),
    ("--ok", "#e5f4ee", "success messages and connected status"),
    ("--warn", "#fff3dc", "warning messages and suspended status"),
    ("--bad", "#fde8e7", "error messages"),
    ("--bad", "#ffffff", "field errors"),
    ("--ink", "#fff3dc", "a highlighted (just filled) row"),
    ("--ink", "#ffe08a", "a row as its highlight starts"),
]


@pytest.mark.parametrize(("text", "background", "where"), PAIRS)
def test_text_contrast_is_at_least_4_5(text, background, where):
    assert contrast(colour(text), colour(background)) >= 4.5, where


def test_the_pairs_use_the_stylesheets_colours():
    assert {"ink", "muted", "brand", "brand-ink", "ok", "warn", "bad", "bg"} <= set(VARIABLES)
    for _, background, where in PAIRS:
        if background.startswith("#") and background != "#ffffff":  # white is written #fff
            assert background.lower() in CSS.lower(), where
