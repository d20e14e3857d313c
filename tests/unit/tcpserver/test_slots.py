"""The -c counter and the log lines (spec/ucspi-tcp.md §1.12, §1.13)."""
from tcpserver.slots import Slots, end_line, pid_line, safe, status_line, verdict_line


def test_safe_replaces_unsafe_bytes():
    assert safe(b"a b%c:d\x7f\x01") == b"a?b?c?d??"
    assert safe("é".encode()) == b"??"
    assert safe(b"weird\\040name") == b"weird\\040name"


def test_safe_cuts_at_100_and_marks_exactly_100():
    assert safe(b"x" * 99) == b"x" * 99
    assert safe(b"x" * 100) == b"x" * 100 + b"..."
    assert safe(b"y" * 150) == b"y" * 100 + b"..."
    assert safe(b"ab\0cd") == b"ab"


def test_spec_lines():
    assert status_line(0, 40) == b"tcpserver: status: 0/40\n"
    assert pid_line(31500, b"127.0.0.1") == b"tcpserver: pid 31500 from 127.0.0.1\n"
    assert verdict_line(False, 31500, b"client.example.com", b"127.0.0.1", b"34753",
                        b"client.example.com", b"127.0.0.1", b"joe", b"37520") == (
        b"tcpserver: ok 31500 client.example.com:127.0.0.1:34753"
        b" client.example.com:127.0.0.1:joe:37520\n")
    assert verdict_line(False, 15576, b"0", b"127.0.0.1", b"44293", None, b"127.0.0.1",
                        None, b"37730") == b"tcpserver: ok 15576 0:127.0.0.1:44293 :127.0.0.1::37730\n"
    assert verdict_line(True, 7, None, b"1.2.3.4", b"25", None, b"5.6.7.8", b"", b"9") == (
        b"tcpserver: deny 7 :1.2.3.4:25 :5.6.7.8::9\n")
    assert verdict_line(False, 7, b"a:b", b"1.2.3.4", b"25", b"h%", b"5.6.7.8", b"j o",
                        b"9") == b"tcpserver: ok 7 a?b:1.2.3.4:25 h?:5.6.7.8:j?o:9\n"


def test_end_line_raw_wait_status():
    assert end_line(1, 0) == b"tcpserver: end 1 status 0\n"
    assert end_line(1, 100 << 8) == b"tcpserver: end 1 status 25600\n"
    assert end_line(1, 9) == b"tcpserver: end 1 status 9\n"


def test_slots_count_and_title():
    s = Slots(2)
    assert not s.full
    assert s.taken() == b"tcpserver: status: 1/2\n"
    assert s.taken() == b"tcpserver: status: 2/2\n" and s.full
    assert s.title(b"127.0.0.1:25") == b"tcpserver: 127.0.0.1:25 2/2"
    assert s.freed() == b"tcpserver: status: 1/2\n"
    s.freed()
    assert s.freed() == b"tcpserver: status: 0/2\n"     # never below 0
    assert Slots(0).full
