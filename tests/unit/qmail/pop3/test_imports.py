"""The cores do no I/O (STYLE §4.1) and the per-connection programs import little (§4.8)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import qmail.pop3

CORE = Path(qmail.pop3.__file__).parent
IO_MODULES = {"os", "socket", "select", "time", "subprocess", "_socket", "signal", "io"}
HEAVY = {"email", "smtplib", "asyncio", "logging", "passlib", "subprocess", "socket",
         "selectors", "hashlib", "cdblib", "mmap", "crypt"}
PROBE = "import sys; seen = set(sys.modules); import {}; print(*set(sys.modules) - seen)"


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_does_no_io(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_MODULES


@pytest.mark.parametrize("module", ["qmail.popup", "qmail.pop3d", "qmail.checkpassword",
                                    "qmail.vchkpw"])
def test_handler_start_up_stays_light(module):
    out = subprocess.check_output([sys.executable, "-c", PROBE.format(module)], text=True)
    assert not HEAVY & {name.split(".")[0] for name in out.split()}
