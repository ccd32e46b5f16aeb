"""VMC stream timing, received by a real python-osc server on loopback.

``python -m benchmarks.vmc_stream [--json benchmarks/results/vmc_stream.json] [--seconds 3]``

For each configured ``vmc.rate`` (60, 120, 240) and each producer (poses
coming at the rate, twice as fast, and at 30 frames/s like a webcam; each
with +-20 % timing jitter), poses are handed to ``VMCSender.submit`` as the
live app and ``play`` do. The table gives the frames/s received, the spacing
between frames (median, 95th percentile, largest), the share of gaps over 1.5
periods, frames lost to the producer's own pace (submitted but replaced
before they were due) and the largest datagram (limit 1,472 bytes).
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from app.vmc import MAX_DATAGRAM, VMCSender
from engine import rotations as R

SO_TIMESTAMP = 29  # Linux: the kernel's receive time of each datagram, as ancillary data


class TimedOSCServer:
    """A real python-osc server on loopback that also notes, per datagram, its size and the
    kernel's receive time (so a receiving thread starved by a loaded machine does not distort
    the spacing), and per frame (its ``/VMC/Ext/T``) that time and how many bones came."""

    def __init__(self):
        self.datagrams: list[tuple[float, int]] = []   # (receive time s, bytes)
        self.frames: list[tuple[float, float]] = []    # (receive time s, the frame's T)
        self.bones: dict[float, int] = {}
        outer = self
        now = [0.0]
        d = Dispatcher()
        d.map("/VMC/Ext/T", lambda addr, t: self.frames.append((now[0], t)))
        d.map("/VMC/Ext/Bone/Pos", lambda addr, *v: self.bones.__setitem__(
            self.frames[-1][1], self.bones.get(self.frames[-1][1], 0) + 1) if self.frames else None)

        class Server(BlockingOSCUDPServer):
            def server_bind(self):
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
                try:
                    self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
                except OSError:
                    pass
                super().server_bind()

            def get_request(self):
                data, anc, _, addr = self.socket.recvmsg(65536, 1024)
                t = time.time()
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(raw) >= 16:
                        sec, usec = struct.unpack("qq", raw[:16])
                        t = sec + usec * 1e-6
                now[0] = t
                outer.datagrams.append((t, len(data)))
                return (data, self.socket), addr

        self.server = Server(("127.0.0.1", 0), d)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def drain(self, quiet: float = 0.3, limit: float = 20.0) -> None:
        """Wait until every datagram sent has been read (none new for ``quiet`` seconds)."""
        deadline = time.monotonic() + limit
        seen = -1
        while len(self.datagrams) != seen and time.monotonic() < deadline:
            seen = len(self.datagrams)
            time.sleep(quiet)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def measure(rate: float, producer_hz: float, seconds: float, seed: int = 0) -> dict:
    srv = TimedOSCServer()
    sender = VMCSender("127.0.0.1", srv.port, rate=rate)
    rng = np.random.default_rng(seed)
    poses = R.quat_to_matrix(rng.normal(size=(8, 15, 4)))
    n = int(seconds * producer_hz)
    start = time.monotonic()
    for k in range(n):
        due = start + (k + rng.uniform(-0.2, 0.2)) / producer_hz
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sender.submit(poses[k % 8], np.zeros(3))
    sender.close()
    srv.drain()
    srv.close()
    a = np.array([t for t, _ in srv.frames])
    sizes = [n for _, n in srv.datagrams]
    gaps = np.diff(a) * 1000
    period = 1000.0 / min(rate, producer_hz)
    return {
        "rate": rate, "producer_hz": producer_hz, "submitted": n, "received": len(a),
        "received_per_s": round((len(a) - 1) / (a[-1] - a[0]), 1),
        "expected_per_s": float(min(rate, producer_hz)),
        "gap_ms_p50": round(float(np.median(gaps)), 2), "gap_ms_p95": round(float(np.percentile(gaps, 95)), 2),
        "gap_ms_max": round(float(gaps.max()), 2),
        "gaps_over_1.5_periods": round(float((gaps > 1.5 * period).mean()), 3),
        "max_datagram_bytes": max(sizes), "datagrams_per_frame": round(len(sizes) / len(a), 2),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    rows = []
    for rate in (60.0, 120.0, 240.0):
        for producer in (rate, 2 * rate, 30.0):
            rows.append(measure(rate, producer, args.seconds))
    head = (f"{'vmc.rate':>8} {'poses/s':>8} {'received/s':>10} {'gap p50':>8} {'gap p95':>8} {'gap max':>8} "
            f"{'>1.5 T':>7} {'max bytes':>9}")
    print(head)
    for r in rows:
        print(f"{r['rate']:8.0f} {r['producer_hz']:8.0f} {r['received_per_s']:10.1f} {r['gap_ms_p50']:8.2f} "
              f"{r['gap_ms_p95']:8.2f} {r['gap_ms_max']:8.2f} {r['gaps_over_1.5_periods']:7.3f} "
              f"{r['max_datagram_bytes']:9d}")
    assert all(r["max_datagram_bytes"] <= MAX_DATAGRAM for r in rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=2) + "\n")
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
