"""The web server's processes freeze what they loaded at start (config.memory.startup_frozen), the
URLconf included, so that the collector's full collections traverse only what requests made since:
unfrozen, each took a web worker 60–190 ms on the benchmark machine."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PROBE = """
import gc, json, sys
import {module}
from django.conf import settings
print(json.dumps({{"frozen": gc.get_freeze_count(), "unfrozen": len(gc.get_objects()),
                   "urlconf": settings.ROOT_URLCONF in sys.modules}}))
"""


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_a_server_process_starts_with_its_application_and_urlconf_frozen(module):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=settings.BASE_DIR, env=env,  # noqa: S603
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["urlconf"]  # loaded before the freeze, not by the first request after it
    # nearly all of it out of the collector's sight: what a full collection still traverses is
    # what the probe itself made since
    assert seen["frozen"] > 50_000 and seen["unfrozen"] < seen["frozen"] / 20, seen
