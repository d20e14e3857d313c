"""Fixtures of the SMTP core tests; the driver itself is transcript.py."""
import pytest

from unit.qmail.smtp.transcript import CONFIG, SmtpConfig, Transcript, transcript


@pytest.fixture
def smtp():
    """smtp(data, **kw) -> Transcript, after checking that byte-at-a-time input gives the
    very same replies, queued messages, auth requests and exit status."""
    def run(data: bytes, config: SmtpConfig = CONFIG, **kw) -> Transcript:
        whole = transcript(data, False, config, **kw)
        bytewise = transcript(data, True, config, **kw)
        assert bytewise._key() == whole._key()
        return whole
    return run
