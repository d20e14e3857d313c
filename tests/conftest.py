"""Shared test helpers: the C reference programs, our console scripts, a scratch $QMAILHOME.

Area-specific fixtures live in the conftest.py of their own test folder.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent          # the venv's console scripts


def require_reference() -> bool:
    return os.environ.get("REQUIRE_REFERENCE") == "1"


def reference(name: str) -> str:
    """Absolute path of Debian's C program NAME; skips (or fails under REQUIRE_REFERENCE=1)."""
    path = Path("/usr/bin") / name
    if path.exists():
        return str(path)
    reason = f"C reference {path} is absent (apt-get install ucspi-tcp)"
    if require_reference():
        pytest.fail(reason + " and REQUIRE_REFERENCE=1")
    pytest.skip(reason)


def system_tool(name: str, package: str) -> str:
    """A Debian tool used as a real client (swaks, mpop, cdb); skip/fail like reference()."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is absent (apt-get install {package})"
    if require_reference():
        pytest.fail(reason + " and REQUIRE_REFERENCE=1")
    pytest.skip(reason)


def ours(name: str) -> str:
    """Absolute path of our console script NAME in the environment running the tests."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"our {name} is not installed in {BIN} (run make test)")
    return str(path)


@pytest.fixture
def qmail_home(tmp_path, monkeypatch):
    """An empty $QMAILHOME with control/ (the programs' own install step adds the rest)."""
    home = tmp_path / "qmail"
    (home / "control").mkdir(parents=True)
    monkeypatch.setenv("QMAILHOME", str(home))
    return home
