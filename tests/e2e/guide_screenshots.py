"""Refresh the screenshots in docs/screenshots/ from the last browser run.

The journeys (tests/e2e/test_*_journey.py) save every main page in both languages; ``shoot``
also keeps a 1280×800 copy of each under test-artifacts/screenshots/guide/<lang>/. This copies
the curated few the guides show (docs/user-guide.md, docs/operator-guide.md) into
docs/screenshots/<lang>/, and says which are missing or too large:

    DATABASE_URL=… REDIS_URL=… pytest tests/e2e      # the browser run
    python tests/e2e/guide_screenshots.py             # then commit docs/screenshots/

It imports nothing of the project and needs no database.
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test-artifacts" / "screenshots" / "guide"
TARGET = ROOT / "docs" / "screenshots"
LIMIT = 250_000  # bytes: a guide stays light to clone

# (language, name) of every screenshot the guides link to, in the order they appear.
GUIDE = [
    *[("en", n) for n in (
        "buyer-04-funds-topped-up", "buyer-07-instrument-filled", "buyer-11-quote", "buyer-12-reservations-usage",
        "buyer-14-invoice",
        "provider-02-pool-form-error", "provider-04-pool-connected", "provider-08-ask-part-filled",
        "provider-11-statements",
        "operator-01-console", "operator-05-audit-log", "operator-06-reconciliation",
    )],
    *[("zh-hans", n) for n in ("buyer-07-instrument-filled", "provider-02-pool-form-error",
                               "operator-06-reconciliation")],
]  # fmt: skip


def main() -> int:
    missing, large = [], []
    for lang, name in GUIDE:
        source = SOURCE / lang / f"{name}.png"
        if not source.exists():
            missing.append(str(source.relative_to(ROOT)))
            continue
        if source.stat().st_size > LIMIT:
            large.append(f"{source.relative_to(ROOT)} ({source.stat().st_size:,} bytes)")
        target = TARGET / lang / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    kept = {(p.parent.name, p.stem) for p in TARGET.glob("*/*.png")}
    stale = sorted(f"{lang}/{name}.png" for lang, name in kept - set(GUIDE))
    print(f"copied {len(GUIDE) - len(missing)} of {len(GUIDE)} screenshots to {TARGET.relative_to(ROOT)}/")
    for label, items in (("missing (run the browser tests first)", missing), (f"over {LIMIT:,} bytes", large),
                         ("in docs/screenshots/ but not in the guides (delete them?)", stale)):  # fmt: skip
        if items:
            print(f"{label}:\n  " + "\n  ".join(items))
    return 1 if missing or large else 0


if __name__ == "__main__":
    sys.exit(main())
