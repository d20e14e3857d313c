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


def test_popup_recognises_only_our_own_checkers(tmp_path, monkeypatch):
    import os
    from support import ours
    from qmail.popup import our_checker
    bindir = os.path.dirname(ours("vchkpw"))
    assert our_checker(ours("vchkpw")) == (ours("vchkpw"), "vchkpw")
    assert our_checker(ours("checkpassword")) == (ours("checkpassword"), "checkpassword")
    assert our_checker(ours("qmail-pop3d")) is None
    monkeypatch.setenv("PATH", f"{tmp_path}:{bindir}")
    assert our_checker("vchkpw") == (f"{bindir}/vchkpw", "vchkpw")      # found by PATH
    (tmp_path / "vchkpw").write_bytes(open(ours("vchkpw"), "rb").read())
    assert our_checker("vchkpw") == (f"{bindir}/vchkpw", "vchkpw")      # not executable
    (tmp_path / "vchkpw").chmod(0o755)
    assert our_checker("vchkpw") is None                # a copy found first: exec'd
    monkeypatch.delenv("PATH")
    assert our_checker("vchkpw") is None                # /bin:/usr/bin
