"""splogger against a real syslog daemon: Debian's busybox syslogd, started by the test in a
private mount namespace whose /dev/log is its own (glibc's syslog(3), like the C splogger,
always writes to /dev/log), so the host's logging is never touched.
"""
import os
import re
import subprocess
import time

import support

# Runs inside `unshare -m`: a private /dev (the few devices needed, bind-mounted from the real
# one) so that syslogd's /dev/log socket exists only here. $1 scratch dir, $2 lines expected,
# then `--` separated groups: INPUTFILE PROGRAM ARGS...
NAMESPACE_SCRIPT = r'''
set -e
T=$1; want=$2; shift 2
mkdir -p "$T/dev"
for f in null zero urandom random full; do : > "$T/dev/$f"; mount --bind "/dev/$f" "$T/dev/$f"; done
ln -s /proc/self/fd "$T/dev/fd"
mount --rbind "$T/dev" /dev
"$BUSYBOX" syslogd -n -O "$T/messages" &
syslogd=$!
trap 'kill $syslogd 2>/dev/null || true' EXIT
i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done
[ -S /dev/log ] || { echo "syslogd made no /dev/log" >&2; exit 1; }
while [ $# -gt 0 ]; do
  input=$1; shift; cmd=
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmd="$cmd '$1'"; shift; done
  [ $# -gt 0 ] && shift
  eval "$cmd" < "$input"; echo "exit $?" >> "$T/status"
done
i=0
while [ "$(grep -vc 'syslogd started' "$T/messages" 2>/dev/null || true)" -lt "$want" ] && [ $i -lt 250 ]; do
  sleep 0.02; i=$((i+1))
done
'''

BUSYBOX_LINE = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ (.*)$")


def syslog_lines(tmp_path, runs: list[tuple[bytes, list[str]]], want: int) -> tuple[list[str], list[str]]:
    """Run each (input, argv) under a private busybox syslogd; (lines logged, exit lines)."""
    busybox, unshare = support.private_syslog_tools()
    args = []
    for n, (data, argv) in enumerate(runs):
        path = tmp_path / f"input{n}"
        path.write_bytes(data)
        args += [str(path), *argv, "--"]
    proc = subprocess.run([unshare, "-m", "--propagation", "private", "sh", "-c",
                           NAMESPACE_SCRIPT, "sh", str(tmp_path), str(want), *args],
                          env={**os.environ, "BUSYBOX": busybox}, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    raw = (tmp_path / "messages").read_text(errors="replace").splitlines()
    lines = [BUSYBOX_LINE.match(line).group(1) for line in raw]
    lines = [line for line in lines if not line.startswith("syslog.info syslogd ")]
    return lines, (tmp_path / "status").read_text().splitlines()


STAMP = r"(\d{10})\.(\d{6})"


def test_lines_arrive_with_stamp_priority_tag_and_facility(tmp_path):
    splogger = support.ours("splogger")
    data = (b"hello world\n"
            b"warning: x\ty\r\n"
            b"alert: gone \xff\n"
            b"\n"
            + b"A" * 1000 + b"\n"
            b"unterminated")
    before = time.time()
    lines, status = syslog_lines(tmp_path, [
        (data, [splogger, "smtpd", "3"]),
        (b"default tag\n", [splogger]),
        (b"tag only\n", [splogger, "pop3d"]),
        (b"facility zero\n", [splogger, "t", "0"]),
        (b"local0\n", [splogger, "t", "16"]),
    ], want=9)
    after = time.time()
    assert status == ["exit 0"] * 5
    shapes = [re.sub(STAMP, "<STAMP>", line) for line in lines]
    assert shapes == [
        "daemon.info smtpd: <STAMP> hello world",
        "daemon.warn smtpd: <STAMP> warning: x?y?",
        "daemon.alert smtpd: <STAMP> alert: gone ?",
        "daemon.info smtpd: <STAMP> " + "A" * 799,
        "daemon.info smtpd: <STAMP>+" + "A" * 201,
        "mail.info splogger: <STAMP> default tag",
        "mail.info pop3d: <STAMP> tag only",
        "user.info t: <STAMP> facility zero",
        "local0.info t: <STAMP> local0",
    ]
    stamps = [float(re.search(STAMP, line).group(0)) for line in lines]
    assert all(before - 1 <= s <= after + 1 for s in stamps)
    assert stamps[3] == stamps[4]              # a continuation keeps the first chunk's stamp


def test_stamp_is_taken_at_the_end_of_the_line(tmp_path):
    """A line written in two parts 0.6 s apart is stamped when its LF arrives (§7)."""
    splogger = support.ours("splogger")
    script = tmp_path / "slow.sh"
    started = tmp_path / "started"
    script.write_text(f"(date +%s.%N > {started}; printf 'first half '; sleep 0.6; "
                      f"printf 'second half\\n') | {splogger} slow\n")
    lines, status = syslog_lines(tmp_path, [(b"", ["sh", str(script)])], want=1)
    assert status == ["exit 0"]
    (line,) = lines
    assert line.startswith("mail.info slow: ") and line.endswith(" first half second half")
    assert float(re.search(STAMP, line).group(0)) >= float(started.read_text()) + 0.55
