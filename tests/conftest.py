"""Fixtures shared by every test folder; helpers live in tests/support.py."""
import pytest

from support import Server, run_tcpserver, stop  # noqa: F401  (re-exported for tests)


@pytest.fixture
def qmail_home(tmp_path, monkeypatch):
    """An empty $QMAILHOME with control/ (the programs' own install step adds the rest)."""
    home = tmp_path / "qmail"
    (home / "control").mkdir(parents=True)
    monkeypatch.setenv("QMAILHOME", str(home))
    return home


@pytest.fixture
def tcpserver_factory(tmp_path):
    """Call with (options, program, **kw) inside a `with`: yields a running Server."""
    def factory(options, program, **kw):
        kw.setdefault("log", tmp_path / "tcpserver.log")
        return run_tcpserver(options, program, **kw)
    return factory
