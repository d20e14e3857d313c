"""Port and host arguments (spec/ucspi-tcp.md §1.3, §1.4)."""
import pytest

from tcpserver.die import Fatal
from tcpserver.listen import resolve_host, resolve_port


@pytest.mark.parametrize("text,port", [(b"25", 25), (b"", 0), (b"0", 0), (b"70000", 4464),
                                       (b"65536", 0), (b"smtp", 25), (b"pop3", 110)])
def test_ports(text, port):
    assert resolve_port(text) == port


@pytest.mark.parametrize("text", [b"0x", b"-1", b" 25", b"nosuchservice", b"\xff"])
def test_bad_ports(text):
    with pytest.raises(Fatal) as e:
        resolve_port(text)
    assert e.value.text == b"unable to figure out port number for " + text
    assert e.value.code == 111


@pytest.mark.parametrize("host,ip", [(b"0.0.0.0", "0.0.0.0"), (b"127.0.0.1", "127.0.0.1"),
                                     (b"[127.0.0.1]", "127.0.0.1"), (b"127.0.0.257", "127.0.0.1"),
                                     (b"127.0.0.1.5", "127.0.0.1")])
def test_dotted_hosts_need_no_dns(host, ip):
    assert resolve_host(host) == ip


@pytest.mark.parametrize("host", [b"127.1", b"1.2.3"])
def test_too_few_numbers(host):
    with pytest.raises(Fatal) as e:
        resolve_host(host)
    assert e.value.text == b"no IP address for " + host
