"""qmail-send: deliver what qmail-queue put in the queue (spec/qmail.md §9).

Started by qmail-start (as qmails) with fd 0: the activity log (written), fd 1/2: commands to
and reports from qmail-lspawn, fd 3/4: the same for qmail-rspawn, fd 5/6: requests to and
answers from qmail-clean. Reads control/ at start (locals, virtualdomains, percenthack,
envnoathost, bouncefrom, bouncehost, doublebounceto, doublebouncehost, queuelifetime,
concurrencylocal, concurrencyremote). Signals: SIGALRM retries every message now, SIGHUP
rereads locals and virtualdomains, SIGTERM finishes the current deliveries and exits 0.
Exit 111 with an `alert: cannot start: ...` log line if it cannot start.

The decisions are pure functions in qmail/sendcore.py; the spawner protocol is qmail/spawn.py.
This module is the C program's event loop: todo/ -> info/ + local/ + remote/ (via
qmail-clean), passes over local/ and remote/ starting deliveries up to the concurrency,
reports marking recipients done (a `D` written over the `T`), bounces, and removing finished
messages. Crash safety is qmail's: every step is a file operation ordered so that a kill -9
at any moment loses nothing; a delivery whose success report had not been recorded (the `D`
mark) when qmail-send died is made again after restart, the one duplicate qmail allows.
"""
import errno
import fcntl
import heapq
import os
import select
import signal
import sys
import time
from dataclasses import dataclass

from qmail import sendcore
from qmail.queuefs import SENDMUTEX, TRIGGER, fmtqfn, read_split_dir
from qmail.spawn import ReportReader, command
from qmail.sendcore import LOCAL, REMOTE

SLEEP_TODO = 1500              # look at todo/ every 25 minutes in any case
SLEEP_FUZZ = 1
SLEEP_FOREVER = 86400
SLEEP_CLEANUP = 76431
SLEEP_SYSFAIL = 123
OSSIFIED = 129600              # 36 hours
CHANNELS = (LOCAL, REMOTE)
CHANADDR = ("local/", "remote/")
CHANFDOUT = (1, 3)
CHANFDIN = (2, 4)
LOGFD, CLEANOUT, CLEANIN = 0, 5, 6


def pausedir(path: str, error: OSError | None = None) -> bool:
    """qmail-send's pausedir(): alert, sleep 10 s, then try the same directory again."""
    log(b"alert: unable to opendir %s, sleeping...\n" % path.encode())
    time.sleep(10)
    return True


def log(line: bytes) -> None:
    try:
        while line:
            line = line[os.write(LOGFD, line):]
    except OSError:
        pass


@dataclass
class Job:
    refs: int = 0
    id: int = 0
    channel: int = 0
    retry: int = 0
    sender: bytes = b""
    numtodo: int = 0
    hiteof: bool = False
    dying: bool = False


@dataclass
class Delivery:
    j: int
    delid: int
    mpos: int
    recip: bytes


@dataclass
class Pass:
    id: int
    j: int
    records: list              # [(position, record bytes)] of local/N or remote/N
    next: int = 0


def read_controls() -> sendcore.Controls:
    from qmail import control
    me = control.read_line("me")
    return sendcore.make_controls(
        me, control.read_list("locals"), control.read_list("percenthack"),
        control.read_map("virtualdomains"),
        envnoathost=control.read_line("envnoathost"),
        bouncefrom=control.read_line("bouncefrom"),
        bouncehost=control.read_line("bouncehost"),
        doublebounceto=control.read_line("doublebounceto"),
        doublebouncehost=control.read_line("doublebouncehost"),
        lifetime=control.read_int("queuelifetime", sendcore.LIFETIME),
        concurrency=(control.read_int("concurrencylocal", 10),
                     control.read_int("concurrencyremote", 20)),
    )


class Send:
    def __init__(self, home: str, ctl: sendcore.Controls, limits: tuple) -> None:
        self.home = home
        self.ctl = ctl
        self.concurrency = [min(ctl.concurrency[c], limits[c]) for c in CHANNELS]
        self.used = [0, 0]
        self.d: list[list[Delivery | None]] = [[None] * n for n in self.concurrency]
        self.jobs = [Job() for _ in range(sum(self.concurrency))]
        self.pqchan: list[list] = [[], []]
        self.pqdone: list = []
        self.pqfail: list = []
        self.passes: list[Pass | None] = [None, None]
        self.comm: list[bytes] = [b"", b""]
        self.readers = [ReportReader(), ReportReader()]
        self.spawnalive = [True, True]
        self.masterdelid = 1
        self.exitasap = self.runasap = self.readasap = False
        self.recent = int(time.time())
        self.todo: list[str] | None = None
        self.nexttodorun = self.recent
        self.trigger = -1
        self.cleanup_ids: list[int] | None = None
        self.cleanuptime = self.recent

    # ---------------------------------------------------------------- communication
    def comm_write(self, c: int, delnum: int, id_: int, sender: bytes, recip: bytes) -> None:
        messid = fmtqfn("", id_, True).encode()
        self.comm[c] = command(delnum, messid, sendcore.senderadd(sender, recip), recip)

    def comm_do(self, writable) -> None:
        for c in CHANNELS:
            if self.spawnalive[c] and self.comm[c] and CHANFDOUT[c] in writable:
                try:
                    w = os.write(CHANFDOUT[c], self.comm[c])
                except BlockingIOError:
                    continue
                except OSError as e:
                    if e.errno == errno.EPIPE:
                        self.spawndied(c)
                    continue
                self.comm[c] = self.comm[c][w:]

    def spawndied(self, c: int) -> None:
        log(b"alert: oh no! lost spawn connection! dying...\n")
        self.spawnalive[c] = False
        self.exitasap = True

    def cleandied(self) -> None:
        log(b"alert: oh no! lost qmail-clean connection! dying...\n")
        self.exitasap = True

    def clean(self, request: str) -> bytes | None:
        """Ask qmail-clean to remove files; its answer byte, or None if it is gone."""
        try:
            os.write(CLEANOUT, request.encode() + b"\0")
            answer = os.read(CLEANIN, 1)
        except OSError:
            answer = b""
        if not answer:
            self.cleandied()
            return None
        return answer

    # ---------------------------------------------------------------- info
    def getinfo(self, id_: int) -> tuple[bytes, int] | None:
        """(sender, birth) from info/N: its F record and its mtime."""
        try:
            with open(fmtqfn("info/", id_, True), "rb") as f:
                birth = int(os.fstat(f.fileno()).st_mtime)
                data = f.read(2048)
        except OSError:
            return None
        nul = data.find(b"\0")
        if nul < 0 or data[:1] != b"F":
            return None
        return data[1:nul], birth

    # ---------------------------------------------------------------- priority queues
    def pqadd(self, id_: int) -> None:
        try:
            os.stat(fmtqfn("info/", id_, True))
        except FileNotFoundError:
            return
        except OSError:
            return self._pqfail(id_, "info/")
        if os.path.exists(fmtqfn("todo/", id_, False)):
            return                  # qmail-send crashed while writing info: todo redoes it
        found = False
        for c in CHANNELS:
            try:
                st = os.stat(fmtqfn(CHANADDR[c], id_, True))
            except FileNotFoundError:
                continue
            except OSError:
                return self._pqfail(id_, CHANADDR[c])
            heapq.heappush(self.pqchan[c], (int(st.st_mtime), id_))
            found = True
        if not found:
            heapq.heappush(self.pqdone, (int(time.time()), id_))

    def _pqfail(self, id_: int, prefix: str) -> None:
        log(b"warning: unable to stat %s; will try again later\n"
            % fmtqfn(prefix, id_, prefix != "todo/").encode())
        heapq.heappush(self.pqfail, (int(time.time()) + SLEEP_SYSFAIL, id_))

    def pqstart(self) -> None:
        for id_ in read_split_dir("info", pausedir):
            self.pqadd(id_)

    def pqfinish(self) -> None:
        for c in CHANNELS:
            for dt, id_ in self.pqchan[c]:
                fn = fmtqfn(CHANADDR[c], id_, True)
                try:
                    os.utime(fn, (dt, dt))
                except OSError:
                    log(b"warning: unable to utime %s; message will be retried too soon\n"
                        % fn.encode())

    def pqrun(self) -> None:
        for c in CHANNELS:
            self.pqchan[c] = [(self.recent, id_) for _dt, id_ in self.pqchan[c]]
            heapq.heapify(self.pqchan[c])

    # ---------------------------------------------------------------- jobs
    def job_avail(self) -> bool:
        return any(not j.refs for j in self.jobs)

    def job_open(self, id_: int, channel: int) -> int:
        for k, j in enumerate(self.jobs):
            if not j.refs:
                self.jobs[k] = Job(refs=1, id=id_, channel=channel)
                return k
        return -1

    def job_close(self, k: int) -> None:
        job = self.jobs[k]
        job.refs -= 1
        if job.refs > 0:
            return
        dt = job.retry
        if job.hiteof and not job.numtodo:
            fn = fmtqfn(CHANADDR[job.channel], job.id, True)
            try:
                os.unlink(fn)
            except OSError:
                log(b"warning: unable to unlink %s; will try again later\n" % fn.encode())
                dt = int(time.time()) + SLEEP_SYSFAIL
            else:
                for c in CHANNELS:
                    if c != job.channel:
                        other = fmtqfn(CHANADDR[c], job.id, True)
                        try:
                            os.stat(other)
                            return      # more channels going
                        except FileNotFoundError:
                            pass
                        except OSError:
                            log(b"warning: unable to stat %s\n" % other.encode())
                            break
                heapq.heappush(self.pqdone, (int(time.time()), job.id))
                return
        heapq.heappush(self.pqchan[job.channel], (dt, job.id))

    # ---------------------------------------------------------------- bounces
    def addbounce(self, id_: int, recip: bytes, report: bytes) -> None:
        text = sendcore.bounce_paragraph(recip, report, self.ctl.vdoms)
        fn = fmtqfn("bounce/", id_, False)
        while True:
            try:
                fd = os.open(fn, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    while text:
                        text = text[os.write(fd, text):]
                finally:
                    os.close(fd)
                return
            except OSError:
                log(b"alert: unable to append to bounce message; HELP! sleeping...\n")
                time.sleep(10)

    def injectbounce(self, id_: int) -> bool:
        info = self.getinfo(id_)
        if info is None:
            return False
        sender, _birth = info
        bfn = fmtqfn("bounce/", id_, False)
        try:
            os.stat(bfn)
        except FileNotFoundError:
            return True
        except OSError:
            log(b"warning: unable to stat %s\n" % bfn.encode())
            return False
        bounce = sendcore.bounce_message(sender, self.ctl, time.time())
        if bounce is None:
            log(b"triple bounce: discarding %s\n" % bfn.encode())
        else:
            try:
                with open(bfn, "rb") as f:
                    paragraphs = f.read()
                with open(fmtqfn("mess/", id_, True), "rb") as f:
                    message = f.read()
            except OSError:
                log(b"warning: trouble injecting bounce message, will try later\n")
                return False
            qp, status = run_queue(self.home, bounce.head + paragraphs + bounce.separator
                                   + message, bounce.sender, [bounce.recipient])
            if status != 0:
                if qp is None:
                    log(b"warning: unable to start qmail-queue, will try later\n")
                else:
                    log(b"warning: trouble injecting bounce message, will try later\n")
                return False
            log(sendcore.log_bounce(id_, qp))
        try:
            os.unlink(bfn)
        except OSError:
            log(b"warning: unable to unlink %s\n" % bfn.encode())
            return False
        return True

    # ---------------------------------------------------------------- deliveries
    def del_status(self) -> None:
        log(sendcore.log_status(tuple(self.used), tuple(self.concurrency), self.exitasap))

    def del_canexit(self) -> bool:
        return not any(self.spawnalive[c] and self.used[c] for c in CHANNELS)

    def del_avail(self, c: int) -> bool:
        return self.spawnalive[c] and not self.comm[c] and self.used[c] < self.concurrency[c]

    def del_start(self, k: int, mpos: int, recip: bytes) -> None:
        c = self.jobs[k].channel
        if not self.del_avail(c):
            return
        i = self.d[c].index(None)
        self.jobs[k].refs += 1
        self.d[c][i] = Delivery(k, self.masterdelid, mpos, recip)
        self.masterdelid += 1
        self.used[c] += 1
        self.comm_write(c, i, self.jobs[k].id, self.jobs[k].sender, recip)
        log(sendcore.log_starting(self.d[c][i].delid, self.jobs[k].id, c, recip))
        self.del_status()

    def markdone(self, c: int, id_: int, pos: int) -> None:
        fn = fmtqfn(CHANADDR[c], id_, True)
        try:
            fd = os.open(fn, os.O_WRONLY)
            try:
                if os.pwrite(fd, b"D", pos) == 1:
                    return
            finally:
                os.close(fd)
        except OSError:
            pass
        log(b"warning: trouble marking %s; message will be delivered twice!\n" % fn.encode())

    def del_dochan(self, c: int) -> None:
        try:
            data = os.read(CHANFDIN[c], 2048)
        except OSError:
            return
        if not data:
            self.spawndied(c)
            return
        for delnum, report in self.readers[c].feed(data):
            slot = self.d[c][delnum] if delnum < self.concurrency[c] else None
            if slot is None:
                log(b"warning: internal error: delivery report out of range\n")
                continue
            job = self.jobs[slot.j]
            if job.dying:
                report = sendcore.dying_report(report)
            log(sendcore.log_delivery(slot.delid, report))
            if report[:1] == b"K":
                self.markdone(c, job.id, slot.mpos)
                job.numtodo -= 1
            elif report[:1] == b"D":
                self.addbounce(job.id, slot.recip, report[1:])
                self.markdone(c, job.id, slot.mpos)
                job.numtodo -= 1
            self.job_close(slot.j)
            self.d[c][delnum] = None
            self.used[c] -= 1
            self.del_status()

    # ---------------------------------------------------------------- passes
    def pass_wakeup(self, wakeup: int) -> int:
        if self.exitasap:
            return wakeup
        for c in CHANNELS:
            if self.passes[c] and self.del_avail(c):
                return 0
        if self.job_avail():
            for c in CHANNELS:
                if not self.passes[c] and self.pqchan[c]:
                    wakeup = min(wakeup, self.pqchan[c][0][0])
        for pq in (self.pqfail, self.pqdone):
            if pq:
                wakeup = min(wakeup, pq[0][0])
        return wakeup

    def pass_dochan(self, c: int) -> None:
        if self.exitasap:
            return
        if not self.passes[c]:
            if not self.job_avail() or not self.pqchan[c] or self.pqchan[c][0][0] > self.recent:
                return
            dt, id_ = heapq.heappop(self.pqchan[c])
            fn = fmtqfn(CHANADDR[c], id_, True)
            try:
                with open(fn, "rb") as f:
                    data = f.read()
            except OSError:
                data = None
            info = self.getinfo(id_) if data is not None else None
            if info is None:
                log(b"warning: trouble opening %s; will try again later\n" % fn.encode())
                heapq.heappush(self.pqchan[c], (self.recent + SLEEP_SYSFAIL, id_))
                return
            sender, birth = info
            records, pos = [], 0
            for rec in data.split(b"\0")[:-1]:
                records.append((pos, rec))
                pos += len(rec) + 1
            k = self.job_open(id_, c)
            job = self.jobs[k]
            job.retry = sendcore.next_retry(birth, self.recent, c)
            job.dying = sendcore.is_dying(birth, self.recent, self.ctl.lifetime)
            job.sender = sender
            self.passes[c] = Pass(id_, k, records)
        p = self.passes[c]
        while self.del_avail(c):
            if p.next >= len(p.records):
                self.jobs[p.j].hiteof = True
                self.job_close(p.j)
                self.passes[c] = None
                return
            pos, rec = p.records[p.next]
            p.next += 1
            kind = rec[:1]
            if kind == b"T":
                self.jobs[p.j].numtodo += 1
                self.del_start(p.j, pos, rec[1:])
            elif kind != b"D":
                log(b"warning: unknown record type in %s!\n"
                    % fmtqfn(CHANADDR[c], p.id, True).encode())
                self.job_close(p.j)
                self.passes[c] = None
                return

    def messdone(self, id_: int) -> None:
        try:
            for c in CHANNELS:
                if os.path.exists(fmtqfn(CHANADDR[c], id_, True)):
                    return      # false alarm
            if os.path.exists(fmtqfn("todo/", id_, False)):
                return
            if not os.path.exists(fmtqfn("info/", id_, True)):
                return
        except OSError:
            heapq.heappush(self.pqdone, (int(time.time()) + SLEEP_SYSFAIL, id_))
            return
        if not self.injectbounce(id_):
            heapq.heappush(self.pqdone, (int(time.time()) + SLEEP_SYSFAIL, id_))
            return
        log(sendcore.log_end(id_))
        fn = fmtqfn("info/", id_, True)
        try:
            os.unlink(fn)
        except OSError:
            log(b"warning: unable to unlink %s; will try again later\n" % fn.encode())
            heapq.heappush(self.pqdone, (int(time.time()) + SLEEP_SYSFAIL, id_))
            return
        answer = self.clean(fmtqfn("foop/", id_, False))
        if answer is not None and answer != b"+":
            log(b"warning: qmail-clean unable to clean up %s\n"
                % fmtqfn("foop/", id_, False).encode())

    def pass_do(self) -> None:
        for c in CHANNELS:
            self.pass_dochan(c)
        if self.pqfail and self.pqfail[0][0] <= self.recent:
            _dt, id_ = heapq.heappop(self.pqfail)
            self.pqadd(id_)
        if self.pqdone and self.pqdone[0][0] <= self.recent:
            _dt, id_ = heapq.heappop(self.pqdone)
            self.messdone(id_)

    # ---------------------------------------------------------------- todo
    def trigger_set(self) -> None:
        if self.trigger != -1:
            os.close(self.trigger)
        try:
            self.trigger = os.open(TRIGGER, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            self.trigger = -1

    def todo_do(self, readable) -> None:
        if self.exitasap:
            return
        if self.todo is None:
            pulled = self.trigger != -1 and self.trigger in readable
            if not pulled and self.recent < self.nexttodorun:
                return
            self.trigger_set()
            try:
                self.todo = os.listdir("todo")
            except OSError:
                pausedir("todo")
                return
            self.nexttodorun = self.recent + SLEEP_TODO
        if not self.todo:
            self.todo = None
            return
        name = self.todo.pop()
        if not (name.isdigit() and name.isascii()):
            return
        self.preprocess(int(name))

    def preprocess(self, id_: int) -> None:
        """todo/N -> info/N, local/N, remote/N; then qmail-clean removes todo/N and intd/N."""
        todofn = fmtqfn("todo/", id_, False)
        try:
            with open(todofn, "rb") as f:
                todo = f.read()
        except OSError:
            log(b"warning: unable to open %s\n" % todofn.encode())
            return
        try:
            size = os.stat(fmtqfn("mess/", id_, True)).st_size
        except OSError:
            log(b"warning: unable to stat %s\n" % fmtqfn("mess/", id_, True).encode())
            return
        infofn = fmtqfn("info/", id_, True)
        for fn in (fmtqfn("local/", id_, True), fmtqfn("remote/", id_, True), infofn):
            try:
                os.unlink(fn)
            except FileNotFoundError:
                pass
            except OSError:
                log(b"warning: unable to unlink %s\n" % fn.encode())
                return
        try:
            fdinfo = os.open(infofn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            log(b"warning: unable to create %s\n" % infofn.encode())
            return
        log(sendcore.log_new(id_))
        uid = pid = 0
        info = b""
        chan = [bytearray(), bytearray()]
        flagchan = [False, False]
        for rec in todo.split(b"\0")[:-1]:          # a record without its NUL is ignored
            kind = rec[:1]
            if kind == b"u":
                uid = _scan_ulong(rec[1:])
            elif kind == b"p":
                pid = _scan_ulong(rec[1:])
            elif kind == b"F":
                info = rec + b"\0"
                log(sendcore.log_info(id_, size, rec[1:], pid, uid))
            elif kind == b"T":
                c, addr = sendcore.rewrite(rec[1:], self.ctl)
                chan[c] += b"T" + addr + b"\0"
                flagchan[c] = True
            else:
                log(b"warning: unknown record type in %s\n" % todofn.encode())
                os.close(fdinfo)
                return
        try:
            try:
                _write_fsync(fdinfo, info)
            finally:
                os.close(fdinfo)
            for c in CHANNELS:
                if flagchan[c]:
                    fn = fmtqfn(CHANADDR[c], id_, True)
                    fd = os.open(fn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    try:
                        _write_fsync(fd, bytes(chan[c]))
                    finally:
                        os.close(fd)
        except OSError:
            log(b"warning: trouble writing to %s\n" % infofn.encode())
            return
        answer = self.clean(todofn)
        if answer is None:
            return
        if answer != b"+":
            log(b"warning: qmail-clean unable to clean up %s\n" % todofn.encode())
            return
        now = int(time.time())
        for c in CHANNELS:
            if flagchan[c]:
                heapq.heappush(self.pqchan[c], (now, id_))
        if not any(flagchan):
            heapq.heappush(self.pqdone, (now, id_))

    # ---------------------------------------------------------------- cleanups
    def cleanup_do(self) -> None:
        if self.cleanup_ids is None:
            if self.recent < self.cleanuptime:
                return
            self.cleanup_ids = list(read_split_dir("mess", pausedir))
        if not self.cleanup_ids:
            self.cleanup_ids = None
            self.cleanuptime = self.recent + SLEEP_CLEANUP
            return
        id_ = self.cleanup_ids.pop()
        try:
            st = os.stat(fmtqfn("mess/", id_, True))
        except OSError:
            return
        if self.recent <= st.st_atime + OSSIFIED:
            return
        for fn in (fmtqfn("info/", id_, True), fmtqfn("todo/", id_, False)):
            try:
                os.stat(fn)
                return
            except FileNotFoundError:
                pass
            except OSError:
                return
        answer = self.clean(fmtqfn("foop/", id_, False))
        if answer is not None and answer != b"+":
            log(b"warning: qmail-clean unable to clean up %s\n"
                % fmtqfn("foop/", id_, False).encode())

    # ---------------------------------------------------------------- signals, main loop
    def reread(self) -> None:
        from qmail import control
        try:
            locals_ = control.read_list("locals")
            if locals_ is None:
                me = control.read_line("me")
                if me is None:
                    raise control.ControlError("locals")
                locals_ = [me]
        except control.ControlError:
            log(b"alert: unable to reread control/locals\n")
            return
        try:
            vdoms = control.read_map("virtualdomains")
        except control.ControlError:
            log(b"alert: unable to reread control/virtualdomains\n")
            return
        from dataclasses import replace
        self.ctl = replace(self.ctl, locals=frozenset(x.lower() for x in locals_),
                           vdoms={k.lower(): v for k, v in (vdoms or {}).items()})

    def run(self, wake_fd: int) -> None:
        for c in CHANNELS:
            os.set_blocking(CHANFDOUT[c], False)
        self.pqstart()
        self.del_status()
        self.trigger_set()
        while not self.exitasap or not self.del_canexit():
            self.recent = int(time.time())
            if self.runasap:
                self.runasap = False
                self.pqrun()
            if self.readasap:
                self.readasap = False
                self.reread()
            wakeup = self.recent + SLEEP_FOREVER
            rfds, wfds = [wake_fd], []
            for c in CHANNELS:
                if self.spawnalive[c]:
                    if self.comm[c]:
                        wfds.append(CHANFDOUT[c])
                    rfds.append(CHANFDIN[c])
            wakeup = self.pass_wakeup(wakeup)
            if not self.exitasap:
                if self.trigger != -1:
                    rfds.append(self.trigger)
                if self.todo is not None:
                    wakeup = 0
                wakeup = min(wakeup, self.nexttodorun)
            if self.cleanup_ids is not None:
                wakeup = 0
            wakeup = min(wakeup, self.cleanuptime)
            timeout = 0 if wakeup <= self.recent else wakeup - self.recent + SLEEP_FUZZ
            try:
                readable, writable, _ = select.select(rfds, wfds, [], timeout)
            except InterruptedError:
                continue
            if wake_fd in readable:
                _drain(wake_fd)
            self.recent = int(time.time())
            self.comm_do(writable)
            for c in CHANNELS:
                if self.spawnalive[c] and CHANFDIN[c] in readable:
                    self.del_dochan(c)
            self.todo_do(readable)
            self.pass_do()
            self.cleanup_do()
        self.pqfinish()
        log(b"status: exiting\n")


def _write_fsync(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
    os.fsync(fd)


def _scan_ulong(s: bytes) -> int:
    digits = len(s) - len(s.lstrip(b"0123456789"))
    return int(s[:digits]) if digits else 0


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def queue_program(home: str) -> list[str]:
    """$QMAILQUEUE (even empty: execv("") fails, as in qmail.c), else
    $QMAILHOME/bin/qmail-queue, else our own qmail-queue."""
    qq = os.environ.get("QMAILQUEUE")
    if qq is not None:
        return [qq]
    path = os.path.join(home, "bin", "qmail-queue")
    if os.path.exists(path):
        return [path]
    return [os.path.join(os.path.dirname(sys.executable), "qmail-queue")]


def run_queue(home: str, message: bytes, sender: bytes, recipients: list) -> tuple:
    """Inject a message (qmail.c's qmail_open..qmail_close): (qp or None, exit status)."""
    import subprocess
    envelope = b"F" + sender + b"\0" + b"".join(b"T" + r + b"\0" for r in recipients) + b"\0"
    env_r, env_w = os.pipe()
    try:
        proc = subprocess.Popen(queue_program(home), stdin=subprocess.PIPE, stdout=env_r,
                                cwd=home, close_fds=True)
    except (OSError, ValueError):   # qmail.c: the child's execv() fails, exit 120
        os.close(env_r)
        os.close(env_w)
        return 0, 120
    os.close(env_r)
    try:
        try:
            proc.stdin.write(message)
            proc.stdin.close()
            while envelope:
                envelope = envelope[os.write(env_w, envelope):]
        except OSError:
            pass
    finally:
        os.close(env_w)
    return proc.pid, proc.wait()


def main(argv=None) -> int:
    # signals that arrive while starting are kept for the main loop (the C installs its
    # handlers within microseconds of exec; an interpreter needs milliseconds)
    flags = {"exitasap": False, "runasap": False, "readasap": False}

    def flag(name):
        def handler(signum, frame):
            flags[name] = True
            if send is not None:
                setattr(send, name, True)
        return handler
    send = None
    signal.signal(signal.SIGTERM, flag("exitasap"))
    signal.signal(signal.SIGALRM, flag("runasap"))
    signal.signal(signal.SIGHUP, flag("readasap"))
    from qmail.control import ControlError, qmail_home
    home = os.path.abspath(qmail_home())
    try:
        os.chdir(home)
    except OSError:
        log(b"alert: cannot start: unable to switch to home directory\n")
        return 111
    try:
        ctl = read_controls()
    except (ControlError, ValueError):
        log(b"alert: cannot start: unable to read controls\n")
        return 111
    try:
        os.chdir("queue")
    except OSError:
        log(b"alert: cannot start: unable to switch to queue directory\n")
        return 111
    os.umask(0o077)
    try:
        fd = os.open(SENDMUTEX, os.O_WRONLY)
    except OSError:
        log(b"alert: cannot start: unable to open mutex\n")
        return 111
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log(b"alert: cannot start: qmail-send is already running\n")
        return 111
    limits = []
    for c in CHANNELS:
        try:
            ch = os.read(CHANFDIN[c], 1)
        except OSError:
            ch = b""
        if not ch:
            log(b"alert: cannot start: hath the daemon spawn no fire?\n")
            return 111
        limits.append(ch[0])
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    send = Send(home, ctl, tuple(limits))
    for name, value in flags.items():
        setattr(send, name, value)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    send.run(wake_r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
