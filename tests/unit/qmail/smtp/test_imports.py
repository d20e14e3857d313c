"""The SMTP core does no I/O (STYLE §4.1); qmail-smtpd's start-up imports little (§4.8)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import qmail.smtp

CORE = Path(qmail.smtp.__file__).parent
IO_MODULES = {"os", "socket", "_socket", "select", "time", "subprocess", "signal", "io", "fcntl"}
HEAVY = {"email", "smtplib", "asyncio", "logging", "subprocess", "socket", "selectors",
         "dataclasses", "inspect", "typing", "enum", "signal", "cdblib", "mmap", "hashlib",
         "hmac", "base64", "re", "collections", "qmail.queue", "rules.cdb", "threading"}
PROBE = "import sys; seen = set(sys.modules); import {}; print(*set(sys.modules) - seen)"


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_does_no_io(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_MODULES


@pytest.mark.parametrize("module", ["qmail.smtpd"])
def test_start_up_stays_light(module):
    out = subprocess.check_output([sys.executable, "-c", PROBE.format(module)], text=True)
    loaded = set(out.split())
    assert not HEAVY & (loaded | {name.split(".")[0] for name in loaded})
