# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/slow_proxy.py against a local origin: forwarding, shared rate limit, latency, pipelining, counters."""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench"))
import slow_proxy  # noqa: E402  pylint: disable=wrong-import-position,import-error

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        Origin.seen.append((self.path, self.headers.get("Host"), self.headers.get("Proxy-Connection")))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defg"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = PAYLOAD if self.path.startswith("/big") else b"small %s" % self.path.encode()
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture(scope="module")
def origin():
    server = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin))
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


@pytest.fixture
def proxy_factory():
    started = []

    def start(rate=0.0, latency=0.0):
        server = serve(slow_proxy.SlowProxy(("127.0.0.1", 0), rate, latency))
        started.append(server)
        return "http://127.0.0.1:%d" % server.server_address[1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def fetch(proxy_url, url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def proxy_stats(proxy_url):
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(proxy_url + "/_stats", timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("text, rate", [("4MB", 4e6), ("500KB", 5e5), ("32Mbit", 4e6), ("0", 0.0),
                                        ("1MiB", 1048576.0), ("2.5MB/s", 2.5e6), ("1000", 1000.0)])
def test_parse_rate(text, rate):
    assert slow_proxy.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "4XB", "", "-1MB"])
def test_parse_rate_rejects(text):
    with pytest.raises(ValueError):
        slow_proxy.parse_rate(text)


@pytest.mark.parametrize("text, seconds", [("50ms", 0.05), ("0.2s", 0.2), ("1", 1.0)])
def test_parse_duration(text, seconds):
    assert slow_proxy.parse_duration(text) == seconds


def test_forwards_get_and_counts(origin, proxy_factory):
    url = proxy_factory()
    assert fetch(url, "http://%s/big-1" % origin) == (200, PAYLOAD)
    assert fetch(url, "http://%s/missing" % origin)[0] == 404
    assert ("/big-1", origin, None) in Origin.seen  # origin-form path, Host kept, hop-by-hop dropped
    stats = proxy_stats(url)
    assert stats["requests"] == 2 and stats["errors"] == 0
    assert stats["body_bytes"] == len(PAYLOAD) + len(b"small /missing")
    assert stats["bytes_sent"] > stats["body_bytes"]  # status lines and headers cross the link too


def test_chunked_origin_is_relayed(origin, proxy_factory):
    url = proxy_factory()
    assert fetch(url, "http://%s/chunked" % origin) == (200, b"abcdefg")


def test_stats_endpoint(origin, proxy_factory):
    url = proxy_factory(rate=1e6, latency=0.01)
    fetch(url, "http://%s/x" % origin)
    stats = proxy_stats(url)
    assert stats["requests"] == 1 and stats["rate"] == 1e6 and stats["latency"] == 0.01


def test_rate_is_shared_by_all_connections(origin, proxy_factory):
    """Four parallel 256 KiB downloads at 1 MB/s: about 1 s in all, not 0.25 s."""
    url = proxy_factory(rate=1e6)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(fetch(url, "http://%s/big-%d" % (origin, i))))
               for i in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - start
    assert [result[0] for result in results] == [200] * 4
    expected = (4 * len(PAYLOAD) - 64 * 1024) / 1e6  # less the bucket's initial burst
    assert expected * 0.9 < seconds < expected * 1.5 + 0.3, seconds


def pipelined(url, origin, count):
    """count requests written at once on one connection; seconds until every response has arrived."""
    host, port = url.rsplit("/", 1)[1].split(":")
    requests = b"".join(b"GET http://%s/p%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (origin.encode(), i, origin.encode())
                        for i in range(count))
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(requests)
        received = b""
        while received.count(b"small /p") < count:
            received += sock.recv(65536)
        seconds = time.monotonic() - start
    assert [received.find(b"small /p%d" % i) for i in range(count)] == sorted(
        received.find(b"small /p%d" % i) for i in range(count))  # in request order
    return seconds


def test_latency_overlaps_for_pipelined_requests(origin, proxy_factory):
    """Latency 0.2 s: ten pipelined requests take about 0.2 s (+ 0.2 s handshake), not 2 s."""
    url = proxy_factory(latency=0.2)
    assert 0.35 < pipelined(url, origin, 10) < 1.0


def test_latency_per_sequential_request(origin, proxy_factory):
    url = proxy_factory(latency=0.1)
    start = time.monotonic()
    for i in range(3):
        fetch(url, "http://%s/s%d" % (origin, i))  # a new connection each: handshake + request
    assert 0.55 < time.monotonic() - start < 1.2


def test_connect_and_non_http_are_refused(proxy_factory):
    url = proxy_factory()
    host, port = url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"CONNECT deb.debian.org:443 HTTP/1.1\r\nHost: deb.debian.org:443\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 405")
    assert fetch(url, "http://127.0.0.1:1/unreachable")[0] == 502
