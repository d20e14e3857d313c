"""Fixtures of the e2e tests that run the whole delivery side (test_send.py, test_delivery.py):
`home`, a scratch $QMAILHOME laid out by qmail-install (root only), and `qmail`, the mail system
started on it (qmail-start and friends), stopped at the end. A test file's own `home` wins."""
import pytest

from queue_support import MailSystem, scratch_home, skip_unless_root


@pytest.fixture
def home():
    skip_unless_root()
    with scratch_home() as h:
        yield h


@pytest.fixture
def qmail(home):
    system = MailSystem(home)
    try:
        yield system
    finally:
        system.stop()
