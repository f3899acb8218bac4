"""What the database benchmarks share: a fresh, migrated PostgreSQL database whose name says
'bench', the server's durability settings, the machine (``machine.py``), and writing a section of
docs/performance.md. Import after setting DATABASE_URL (``django_setup`` does)."""

import os
import sys
from pathlib import Path

try:  # run as a script from bench/
    from machine import machine, measured, postgres_gauge  # noqa: F401 (re-exported for the benchmarks)
except ModuleNotFoundError:  # imported as bench.djangobench
    from bench.machine import machine, measured, postgres_gauge  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def django_setup(default_db: str = "suanli_bench") -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_db}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()


def admin_connection():
    """An autocommit psycopg connection to the server's ``postgres`` database, as the benchmark's
    user (to create and drop the benchmark's databases)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                           dbname="postgres", autocommit=True)  # fmt: skip


def ensure_database() -> None:
    """Drop and recreate the benchmark database, then migrate it."""
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("This benchmark runs on PostgreSQL: set DATABASE_URL.")
    if "bench" not in db["NAME"]:
        sys.exit(f"Refusing to fill {db['NAME']!r}: use a database whose name contains 'bench'.")
    with admin_connection() as admin:
        admin.execute(f'drop database if exists "{db["NAME"]}" with (force)')
        admin.execute(f'create database "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def copy_database(template: str, name: str) -> None:
    """``name`` made afresh as a copy of ``template`` (which must have no session open)."""
    assert "bench" in name
    with admin_connection() as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}" template "{template}"')


def drop_database(name: str) -> None:
    assert "bench" in name
    with admin_connection() as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


def durability() -> tuple[str, str]:
    """PostgreSQL's (fsync, synchronous_commit)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("show fsync")
        fsync = c.fetchone()[0]
        c.execute("show synchronous_commit")
        return fsync, c.fetchone()[0]


def postgres_gauge_text() -> str:
    """This server's gauge (``machine.postgres_gauge``), in words."""
    from django.db import connection

    with connection.cursor() as cursor:
        return f"PostgreSQL gauge {postgres_gauge(cursor):.2f} s (one query computed by the server, best of 3)"


def rate(n, seconds) -> float:
    return n / seconds if seconds else float("inf")


def write_section(marker: str, lines: list[str]) -> None:
    """Replace (or append) the section headed ``marker`` in docs/performance.md."""
    out = ROOT / "docs" / "performance.md"
    text = (
        out.read_text(encoding="utf-8")
        if out.exists()
        else "# Performance\n\nFigures measured by `bench/`, each with how to reproduce it.\n"
    )
    section = "\n".join([marker, "", *lines, ""])
    if marker in text:
        head, _, rest = text.partition(marker)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.write_text(text, encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")
