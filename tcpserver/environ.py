"""The program's environment, updated in the C order (spec/ucspi-tcp.md §1.7). Pure but for
`inherited()`, which reads the environment tcpserver was started with.

djb's pathexec: start from tcpserver's environment in order; for each update (PROTO,
TCPLOCALIP, TCPLOCALPORT, TCPLOCALHOST, TCPREMOTEIP, TCPREMOTEPORT, TCPREMOTEHOST,
TCPREMOTEINFO, then the rule's variables) remove the first entry with that name by moving the
current last entry into its slot, then append `NAME=value` when the update sets a value.
"""
import os
from collections.abc import Iterable, Sequence

Update = tuple[bytes, bytes | None]        # (NAME, value), value None = remove

TCP_NAMES = (b"PROTO", b"TCPLOCALIP", b"TCPLOCALPORT", b"TCPLOCALHOST",
             b"TCPREMOTEIP", b"TCPREMOTEPORT", b"TCPREMOTEHOST", b"TCPREMOTEINFO")


def apply_updates(environ: Sequence, updates: Iterable[Update]) -> list:
    """pathexec's update loop over a list of `NAME=value` entries (§1.7); returns a new list.

    Entries that are not bytes (placeholders of `Template`) never match a name.
    """
    e = list(environ)
    for name, value in updates:
        prefix = name + b"="
        for t, entry in enumerate(e):
            if type(entry) is bytes and entry.startswith(prefix):
                last = e.pop()
                if t < len(e):
                    e[t] = last
                break
        if value is not None:
            e.append(prefix + value)
    return e


def tcp_updates(local_ip: bytes, local_port: bytes, local_host: bytes | None,
                remote_ip: bytes, remote_port: bytes, remote_host: bytes | None,
                remote_info: bytes | None) -> list[Update]:
    """The eight TCP updates in the C order (§1.7); None removes the variable."""
    return [(b"PROTO", b"TCP"), (b"TCPLOCALIP", local_ip), (b"TCPLOCALPORT", local_port),
            (b"TCPLOCALHOST", local_host), (b"TCPREMOTEIP", remote_ip),
            (b"TCPREMOTEPORT", remote_port), (b"TCPREMOTEHOST", remote_host),
            (b"TCPREMOTEINFO", remote_info)]


class _Slot:
    """A placeholder for the INDEXth update's value (never equal to an inherited entry)."""
    __slots__ = ("index", "prefix")

    def __init__(self, index: int, prefix: bytes) -> None:
        self.index, self.prefix = index, prefix


class Template:
    """apply_updates for the TCP variables, with the entry order worked out once per shape.

    The order the swap-remove produces depends only on the inherited environment and on which
    variables are set, not on their values; the server fills in the values per connection.
    """

    def __init__(self, environ: Sequence[bytes]) -> None:
        self.environ = list(environ)
        self._shapes: dict[tuple[bool, ...], list] = {}
        self._pairs: dict[tuple[bool, ...], list | None] = {}

    def _shape(self, shape: tuple[bool, ...]) -> list:
        e = list(self.environ)
        for index, (name, is_set) in enumerate(zip(TCP_NAMES, shape)):
            e = apply_updates(e, [(name, None)])
            if is_set:
                e.append(_Slot(index, name + b"="))
        return e

    def entries(self, values: Sequence[bytes | None]) -> list[bytes]:
        """The environment after the eight TCP updates with VALUES (in TCP_NAMES order)."""
        shape = tuple(v is not None for v in values)
        layout = self._shapes.get(shape)
        if layout is None:
            layout = self._shapes[shape] = self._shape(shape)
        return [x if type(x) is bytes else x.prefix + values[x.index] for x in layout]

    def mapping(self, values: Sequence[bytes | None]) -> dict[bytes, bytes] | None:
        """entries(VALUES) as as_mapping() gives it, without building the entries first."""
        shape = tuple(v is not None for v in values)
        pairs = self._pairs.get(shape, False)
        if pairs is False:
            pairs = self._pairs[shape] = self._mapping_layout(shape)
        if pairs is None:
            return None
        return {name: value if type(value) is bytes else values[value]
                for name, value in pairs}

    def _mapping_layout(self, shape: tuple[bool, ...]) -> list | None:
        layout = self._shapes.get(shape) or self._shape(shape)
        probe = [x if type(x) is bytes else x.prefix for x in layout]
        if as_mapping(probe) is None:
            return None
        return [tuple(x.partition(b"=")[::2]) if type(x) is bytes else (x.prefix[:-1], x.index)
                for x in layout]


def as_mapping(entries: Sequence[bytes]) -> dict[bytes, bytes] | None:
    """ENTRIES as an ordered dict for os.posix_spawn/os.execve, or None when a dict cannot say
    it exactly (a duplicate name, an entry without `=`, an empty name, or a NUL)."""
    env = {}
    for entry in entries:
        name, equals, value = entry.partition(b"=")
        if not equals or not name or name in env or b"\0" in entry:
            return None
        env[name] = value
    return env


_exec_environ: list[bytes] | None = None     # set in a warm-handler child (spawn.py)


def inherited() -> list[bytes]:
    """This process's environment as it was exec'd, in order.

    Read from /proc/self/environ, so that what Python's start-up added (PEP 538 puts
    LC_CTYPE=C.UTF-8 into os.environ under the C locale) does not reach the program (§7).
    Must run before setproctitle, which may reuse that memory. In a warm-handler child (a
    program run by tcpserver without exec) it is the environment the exec would have given.
    """
    if _exec_environ is not None:
        return list(_exec_environ)
    try:
        with open("/proc/self/environ", "rb") as f:
            data = f.read()
        entries = data.split(b"\0")
        if entries and entries[-1] == b"":
            entries.pop()
        return entries
    except OSError:
        env = dict(os.environb)
        if env.get(b"LC_CTYPE") == b"C.UTF-8" and b"LC_ALL" not in env:
            env.pop(b"LC_CTYPE")   # most likely PEP 538's coercion
        return [k + b"=" + v for k, v in env.items()]
