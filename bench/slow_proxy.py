#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throttled forward HTTP proxy that stands for a slow Internet link (used by bench/mirror.py).

Plain-HTTP forward proxying only (GET/HEAD with absolute URIs, what apt and apt-cacher-ng send to an
http:// proxy); CONNECT is refused. Every byte sent to a client, status line and headers included, goes
through one token bucket shared by all connections: the rate is that of the whole link, not per
connection. An optional latency stands for the round trip to the origin: a response starts no earlier
than LATENCY after its request arrived (pipelined requests wait concurrently, as on a real link), and
opening a connection to the origin costs one more LATENCY (the TCP handshake).

GET /_stats (an origin-form request to the proxy itself) answers JSON counters: requests, connections,
bytes_sent (everything sent to clients), body_bytes, errors, rate, latency.

Usage:
    python bench/slow_proxy.py --port 3173 --rate 4MB --latency 50ms
Rates: a number of bytes per second with an optional decimal unit (KB, MB, GB; 1 MB = 10^6 bytes) or
bits (kbit, Mbit, Gbit); 0 means unlimited.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import re
import socketserver
import sys
import threading
import time
import urllib.parse

# RFC 9110 7.6.1 connection-specific fields, never forwarded (proxy-authorization too: not the origin's).
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"))
CHUNK = 16 * 1024
UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3,
         "bit": 1 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8}


def parse_rate(text):
    """'4MB' -> 4e6 bytes per second; '32Mbit' -> 4e6; '0' -> 0 (unlimited)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*?)(?:/s|ps)?\s*", str(text))
    if not match or match.group(2).lower() not in UNITS:
        raise ValueError("not a rate: %r (e.g. 4MB, 500KB, 32Mbit, 0)" % text)
    return float(match.group(1)) * UNITS[match.group(2).lower()]


def parse_duration(text):
    """'50ms' -> 0.05; '0.2s' or '0.2' -> 0.2."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|)\s*", str(text))
    if not match:
        raise ValueError("not a duration: %r (e.g. 50ms, 0.1s)" % text)
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


class TokenBucket:
    """A shared link of RATE bytes/s. Each sender reserves its bytes and sleeps off the debt outside the
    lock, so concurrent senders share the rate instead of each getting all of it."""

    def __init__(self, rate, burst=64 * 1024):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def consume(self, count):
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate) - count
            self.last = now
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counters = {"requests": 0, "connections": 0, "bytes_sent": 0, "body_bytes": 0, "errors": 0}

    def add(self, **deltas):
        with self.lock:
            for key, value in deltas.items():
                self.counters[key] += value

    def snapshot(self):
        with self.lock:
            return dict(self.counters)


class Request:  # pylint: disable=too-few-public-methods
    def __init__(self, method, target, version, headers, body, arrival):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body, self.arrival = headers, body, arrival

    def keep_alive(self):
        tokens = [t.strip().lower() for t in ",".join(self.headers.get_all("Connection") or []).split(",")]
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


class ProxyHandler(socketserver.StreamRequestHandler):
    """One client connection: a reader thread queues requests as they arrive (so pipelined requests
    get their arrival time), the handler answers them in order."""

    def handle(self):
        pending = queue.Queue()
        threading.Thread(target=self._read_requests, args=(pending,), daemon=True).start()
        upstreams = {}
        try:
            while True:
                request = pending.get()
                if request is None:
                    break
                if not self._answer(request, upstreams):
                    break
        except OSError:  # the client went away
            pass
        finally:
            for conn in upstreams.values():
                conn.close()

    def _read_requests(self, pending):
        try:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                if line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 2.2)
                    continue
                arrival = time.monotonic()
                parts = line.decode("iso-8859-1").split()
                if len(parts) != 3:
                    pending.put(Request("BAD", "", "HTTP/1.1", http.client.HTTPMessage(), b"", arrival))
                    break
                headers = http.client.parse_headers(self.rfile)
                length = int(headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(parts[0], parts[1], parts[2], headers, body, arrival)
                pending.put(request)
                if not request.keep_alive():
                    break
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            pending.put(None)

    def _send(self, data, body=0):
        self.server.bucket.consume(len(data))
        self.wfile.write(data)
        self.server.stats.add(bytes_sent=len(data), body_bytes=body)

    def _simple(self, status, reason, text, close=True):
        body = text.encode()
        head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
                % (status, reason, len(body), "Connection: close\r\n" if close else ""))
        self.wfile.write(head.encode("iso-8859-1") + body)  # not the link's traffic: not throttled or counted
        return not close

    def _answer(self, request, upstreams):
        if request.method == "BAD":
            return self._simple(400, "Bad Request", "bad request line\n")
        if request.target == "/_stats":
            body = json.dumps(dict(self.server.stats.snapshot(), rate=self.server.bucket.rate,
                                   latency=self.server.latency))
            return self._simple(200, "OK", body + "\n", close=not request.keep_alive())
        if request.method == "CONNECT":
            return self._simple(405, "Method Not Allowed", "CONNECT is not supported: plain HTTP only\n")
        url = urllib.parse.urlsplit(request.target)
        if url.scheme != "http" or not url.hostname:
            return self._simple(400, "Bad Request", "an absolute http:// URI is expected\n")
        self.server.stats.add(requests=1)
        delay = request.arrival + self.server.latency - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = (url.hostname, url.port or 80)
        path = urllib.parse.urlunsplit(("", "", url.path or "/", url.query, ""))
        listed = {t.strip().lower() for t in ",".join(request.headers.get_all("Connection") or []).split(",")}
        forwarded = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP | listed
                     and k.lower() != "host"]
        response = None
        for attempt in (1, 2):  # a kept-alive origin connection may have been closed meanwhile: retry once
            conn = upstreams.get(key)
            if conn is None:
                if self.server.latency:
                    time.sleep(self.server.latency)  # the TCP handshake with the origin
                conn = upstreams[key] = http.client.HTTPConnection(key[0], key[1], timeout=120)
                self.server.stats.add(connections=1)
            try:
                conn.putrequest(request.method, path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", url.netloc)
                for name, value in forwarded:
                    conn.putheader(name, value)
                conn.endheaders(request.body or None)
                response = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                del upstreams[key]
                if attempt == 2:
                    self.server.stats.add(errors=1)
                    return self._simple(502, "Bad Gateway", "origin %s:%d: %s\n" % (key[0], key[1], exc))
        return self._relay(request, response, upstreams, key)

    def _relay(self, request, response, upstreams, key):
        has_body = request.method != "HEAD" and response.status not in (204, 304) and response.status >= 200
        length = response.getheader("Content-Length")
        chunked = has_body and length is None and request.version == "HTTP/1.1"
        keep = request.keep_alive() and (not has_body or length is not None or chunked)
        lines = ["HTTP/1.1 %d %s" % (response.status, response.reason)]
        lines += ["%s: %s" % (k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        if not keep:
            lines.append("Connection: close")
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1"))
        try:
            while has_body:
                data = response.read1(CHUNK)
                if not data:
                    break
                self._send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data, body=len(data))
            if chunked:
                self._send(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.server.stats.add(errors=1)
            upstreams.pop(key).close()
            raise OSError("relay interrupted") from None
        response.read()  # HEAD/304: nothing; leaves the origin connection reusable
        if response.will_close:
            upstreams.pop(key).close()
        return keep


class SlowProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, rate=0.0, latency=0.0):
        super().__init__(address, ProxyHandler)
        self.bucket, self.latency, self.stats = TokenBucket(rate), latency, Stats()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3173)
    parser.add_argument("--rate", type=parse_rate, default=0.0, help="bytes per second, e.g. 4MB or 32Mbit; 0: none")
    parser.add_argument("--latency", type=parse_duration, default=0.0, help="per request round trip, e.g. 50ms")
    args = parser.parse_args()
    server = SlowProxy((args.bind, args.port), args.rate, args.latency)
    print("slow proxy on http://%s:%d: %s, latency %.0f ms"
          % (args.bind, server.server_address[1], "%.2f MB/s" % (args.rate / 1e6) if args.rate else "no rate limit",
             args.latency * 1000), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
