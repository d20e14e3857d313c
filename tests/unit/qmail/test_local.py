"""qmail-local and qmail-remote start once per delivery: their imports stay light, and
qmail-remote loads dnspython only when it has a name to look up (STYLE.md rule 8)."""
import subprocess
import sys

import pytest

HEAVY = {"email", "smtplib", "asyncio", "logging", "subprocess", "dataclasses", "enum",
         "dns", "selectors", "inspect", "typing"}
PROBE = "import sys; seen = set(sys.modules); import {}; print(*set(sys.modules) - seen)"


@pytest.mark.parametrize("module", ["qmail.local", "qmail.forward", "qmail.preline",
                                    "qmail.bouncesaying", "qmail.condredirect", "qmail.except_"])
def test_delivery_programs_stay_light(module):
    out = subprocess.check_output([sys.executable, "-c", PROBE.format(module)], text=True)
    assert not HEAVY & {name.split(".")[0] for name in out.split()}


def test_remote_loads_no_resolver_at_import():
    out = subprocess.check_output([sys.executable, "-c", PROBE.format("qmail.remote")], text=True)
    loaded = {name.split(".")[0] for name in out.split()}
    assert not {"dns", "email", "smtplib", "asyncio", "logging", "subprocess"} & loaded
