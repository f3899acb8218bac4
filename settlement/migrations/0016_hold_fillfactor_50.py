"""More room on each page of holds (fillfactor 50, was 70), so the matching worker's updates of a
hold stay heap-only. A buy's hold is updated by every matching batch in which the order trades or
ends, often again before its page has been pruned of the last version; at 70 about half of those
updates found no room on the page and wrote a new index entry in each of the table's four indexes
(measured on bench/matching.py's stream: 4,517 of 8,870 heap-only at 70, 8,662 at 50, and the
matching backend's CPU per event 41–42 → 38–39 µs with the allocations' change in marketplace
0011). PostgreSQL only; it applies to pages written from now on."""

from django.db import migrations

from config.dbrefs import postgresql_sql


class Migration(migrations.Migration):
    dependencies = [("settlement", "0015_usage_references_checked_per_statement")]
    operations = [
        postgresql_sql(
            forward="ALTER TABLE settlement_hold SET (fillfactor = 50)",
            backward="ALTER TABLE settlement_hold SET (fillfactor = 70)",
        )
    ]
