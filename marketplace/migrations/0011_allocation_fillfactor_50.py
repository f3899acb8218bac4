"""More room on each page of order allocations (fillfactor 50, was 70), so the matching worker's
updates of ``filled`` and ``released`` stay heap-only: a sell's allocations are updated by every
batch in which it trades or ends, often again before the page has been pruned. Measured on
bench/matching.py's stream: 4,775 of 8,925 updates heap-only at 70, all of them at 50 (see
settlement 0016 for the holds, the same case). PostgreSQL only; it applies to pages written
from now on."""

from django.db import migrations

from config.dbrefs import postgresql_sql


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0010_trade_references_static_check")]
    operations = [
        postgresql_sql(
            forward="ALTER TABLE marketplace_orderallocation SET (fillfactor = 50)",
            backward="ALTER TABLE marketplace_orderallocation SET (fillfactor = 70)",
        )
    ]
