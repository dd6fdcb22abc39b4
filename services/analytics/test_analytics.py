"""Unit tests of mdk-analytics: its handlers on a real socket, and its SIGTERM behaviour."""

import http.client
import importlib.machinery
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "mdk-analytics")


def load_module():
    loader = importlib.machinery.SourceFileLoader("mdk_analytics", SCRIPT)
    spec = importlib.util.spec_from_loader("mdk_analytics", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


analytics = load_module()


class HandlerTests(unittest.TestCase):
    def setUp(self):
        self.server = analytics.Server(0, "analytics", "2")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def request(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())

    def test_health_names_service_and_replica(self):
        status, headers, body = self.request("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual((body["status"], body["service"], body["replica"]), ("ok", "analytics", "2"))
        self.assertIsInstance(body["uptime_ms"], int)
        self.assertEqual(headers["x-replica"], "analytics-2")

    def test_events_are_counted_by_source_and_kind(self):
        for source, kind in [("users", "read"), ("users", "read"), ("users", "write"), ("media", "upload")]:
            status, _, _ = self.request("POST", "/events", {"source": source, "kind": kind, "user": "demo"})
            self.assertEqual(status, 202)
        status, _, stats = self.request("GET", "/stats")
        self.assertEqual(status, 200)
        self.assertEqual(stats["total"], 4)
        self.assertEqual(stats["by_source"], {"users": 3, "media": 1})
        self.assertEqual(stats["by_kind"], {"read": 2, "write": 1, "upload": 1})
        self.assertEqual(stats["by_source_kind"]["users"], {"read": 2, "write": 1})

    def test_bad_events_are_refused_and_not_counted(self):
        self.assertEqual(self.request("POST", "/events", b"not json")[0], 400)
        self.assertEqual(self.request("POST", "/events", {"source": "users"})[0], 400)
        self.assertEqual(self.request("POST", "/events", [1, 2])[0], 400)
        self.assertEqual(self.request("POST", "/elsewhere", {"source": "a", "kind": "b"})[0], 404)
        self.assertEqual(self.request("GET", "/stats")[2]["total"], 0)


class Lines:
    """A child's output read on a thread, each line awaited under a deadline: a stuck child
    fails the test instead of hanging the run."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout=10):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from the child in %d s" % timeout) from None
        if line is None:
            raise AssertionError("the child closed its output")
        return line

    def rest(self, timeout=10):
        """Every line until the child closes its output."""
        out = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("the child's output did not end in %d s" % timeout) from None
            if line is None:
                return out
            out.append(line)


class ProcessTests(unittest.TestCase):
    def test_sigterm_stops_gracefully_despite_an_idle_kept_alive_connection(self):
        env = dict(os.environ, PORT="0", SERVICE_NAME="analytics", REPLICA="0")
        proc = subprocess.Popen([sys.executable, SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
        lines = Lines(proc.stdout)
        try:
            first = json.loads(lines.next())
            self.assertEqual(first["message"], "listening")
            port = int(first["addr"].rsplit(":", 1)[1])
            # A kept-alive connection (as the engine's proxy and probes keep) must not hold the exit.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/stats")
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            request_line = json.loads(lines.next())
            self.assertEqual((request_line["path"], request_line["status"]), ("/stats", 200))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
            rest = [json.loads(l) for l in lines.rest() if l.strip()]
            self.assertEqual(rest[-1]["message"], "stopped")
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            lines.thread.join(timeout=10)
            proc.stdout.close()


if __name__ == "__main__":
    unittest.main()
