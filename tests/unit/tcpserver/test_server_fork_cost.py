"""What keeps a warm child cheap (tcpserver/server.py, tcpserver/spawn.py): a warm server
imports neither threading nor logging (their at-fork handlers would run in every forked child),
setproctitle works without its package, and the environment replacement in the child leaves
os.environ and the C environment exactly in the order the exec would give."""
import os
import subprocess
import sys

SERVER = r"""
import sys
from tcpserver.server import Server
from tcpserver.options import parse_options
from tcpserver.listen import bind_listen
argv = [b"tcpserver", b"-H", b"-R", b"-l0", b"127.0.0.1", b"0", sys.argv[1].encode()]
o = parse_options(argv, {})
listener = bind_listen("127.0.0.1", 0, 20)
server = Server(o, [b"PATH=" + sys.argv[2].encode()], listener, "127.0.0.1",
                listener.getsockname()[1])
server.preload()
server._setproctitle("tcpserver: test 0/40")
print(server.warm is not None, server.spawner is not None,
      "threading" in sys.modules, "logging" in sys.modules)
print(open("/proc/self/cmdline", "rb").read().split(b"\0")[0].decode())
"""


def run(code: str, *args: str, env=None) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, check=True,
                          env=env, timeout=60).stdout.decode()


def test_warm_server_imports_no_threading_nor_logging():
    bindir = os.path.dirname(sys.executable)
    lines = run(SERVER, "argv0", bindir).splitlines()
    assert lines[0] == "True False False False"
    assert lines[1] == "tcpserver: test 0/40"


def test_exec_server_imports_threading_before_dropping_privileges():
    # its spawner threads start in run(), after -u/-g: the module is imported by preload()
    lines = run(SERVER, "true", "/bin:/usr/bin").splitlines()
    assert lines[0] == "False True True False"


REPLACE = r"""
import os, sys
from tcpserver.spawn import _replace_environ
_replace_environ({b"ZED": b"1", b"ALPHA": b"2=x", b"MID": b""})
print(sorted(os.environ.items()) == [("ALPHA", "2=x"), ("MID", ""), ("ZED", "1")],
      list(os.environb) == [b"ZED", b"ALPHA", b"MID"], os.environ.get("KEEP"))
sys.stdout.flush()
os.execv("/usr/bin/env", ["env"])          # the C environment, in its order
"""


def test_environment_replacement_keeps_the_exec_order():
    out = run(REPLACE, env={"KEEP": "old", "ZED": "0", "PATH": os.environ.get("PATH", "")})
    assert out == "True True None\nZED=1\nALPHA=2=x\nMID=\n"


BLOCK = r"""
import os, sys
from tcpserver.spawn import EnvironBlock, _replace_environ
block = EnvironBlock.make()
small = [b"ZED=1", b"ALPHA=2=x", b"MID="]
big = [b"Y%d=%s" % (i, b"w" * 1000) for i in range(100)]     # more than the block holds
entries = small if sys.argv[1] == "small" else big
env = dict(e.split(b"=", 1) for e in entries)
block.fill(small)                  # as the server does before forking
_replace_environ(env, block, entries)
assert os.environb is not None and dict(os.environb) == env
os.environb[b"ADDED"] = b"later"   # glibc copies the foreign array to grow it
del os.environb[b"ZED" if entries is small else b"Y0"]
sys.stdout.flush()
os.execv("/usr/bin/env", ["env"])
"""


def test_environment_block_is_the_exec_environment():
    out = run(BLOCK, "small", env={"KEEP": "old", "ZED": "0"})
    assert out == "ALPHA=2=x\nMID=\nADDED=later\n"
    out = run(BLOCK, "big", env={"KEEP": "old"})
    assert out == "".join("Y%d=%s\n" % (i, "w" * 1000) for i in range(1, 100)) + "ADDED=later\n"
