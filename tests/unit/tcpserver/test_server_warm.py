"""Recognising our console scripts for the warm-handler path (tcpserver/spawn.py)."""
import os
import sys

import pytest

from tcpserver.spawn import console_script, resolve, warm_handler

NEW_PIP = (b"#!/venv/bin/python3\nimport sys\nfrom qmail.smtpd import main\n"
           b"if __name__ == '__main__':\n    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n"
           b"    sys.exit(main())\n")
OLD_PIP = (b"#!/venv/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
           b"from tcpserver.rblsmtpd import main\nif __name__ == '__main__':\n"
           b"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
           b"    sys.exit(main())\n")


def test_pip_wrappers_of_our_modules():
    assert console_script(NEW_PIP) == ("qmail.smtpd", "main")
    assert console_script(OLD_PIP) == ("tcpserver.rblsmtpd", "main")


@pytest.mark.parametrize("text", [
    NEW_PIP.replace(b"qmail.smtpd", b"pip._internal.cli.main"),     # not ours
    NEW_PIP.replace(b"    sys.exit(main())\n", b"    main()\n"),       # no sys.exit(main())
    NEW_PIP + b"import os\n",                                           # anything else
    NEW_PIP.replace(b"from qmail.smtpd import main", b"from qmail.smtpd import main, x"),
    b"#!/bin/sh\nexec qmail-smtpd\n",
])
def test_anything_else_is_exec(text):
    assert console_script(text) is None


def test_resolve_follows_path_order(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "prog").write_text("x")             # not executable: skipped
    (tmp_path / "b" / "prog").write_text("x")
    (tmp_path / "b" / "prog").chmod(0o755)
    path = b"%s/a:%s/b" % (bytes(tmp_path), bytes(tmp_path))
    assert resolve(b"prog", path) == bytes(tmp_path) + b"/b/prog"
    assert resolve(b"nothere", path) is None
    assert resolve(bytes(tmp_path) + b"/b/prog", None) == bytes(tmp_path) + b"/b/prog"


def test_warm_handler_only_for_this_interpreter(tmp_path):
    script = tmp_path / "tcprulescheck"
    script.write_bytes(NEW_PIP.replace(b"/venv/bin/python3", os.fsencode(sys.executable))
                       .replace(b"qmail.smtpd", b"tcpserver.tcprulescheck"))
    script.chmod(0o755)
    assert warm_handler(bytes(script), None, {}) is not None
    assert warm_handler(bytes(script), None, {b"TCPSERVER_NO_WARM": b"1"}) is None
    script.write_bytes(NEW_PIP.replace(b"qmail.smtpd", b"tcpserver.tcprulescheck"))
    assert warm_handler(bytes(script), None, {}) is None
