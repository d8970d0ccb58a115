"""Does one huge answer (or body) stall the scoring service's other clients? Prints, for a
small request sent again and again, its latency p50/p95/max alone and while another client
gets a 1,000-item batch of `n: 200` neighbours (about 105 MB of JSON), and while another
sends 2.7 MB bodies of keywords holding colons (1,001 items: refused once read, so what
is measured is reading them; `decode_json` reads such a body twice), and while another
sends 4 MB bodies of 900,000 tiny JSON objects (refused).

On an existing store with a production model (`python -m core init` builds the demo's):

    TOPICLAB_HOME=DIR .venv/bin/python -m bench.serve_big_answer [--rounds 3] [--items 1000]

It starts `python -m core serve` on a free loopback port, creates an API key, sends the
batch once so its items are cached (what is measured is the answer's encoding and
sending, not the neighbour search), then for each round sends the batch from another
process (so the client reading 105 MB does not share this process's GIL with the small
requests) while this process sends a cached single fingerprint back to back. Only the
small requests that started and ended while the batch was being answered are counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from bench.serve import REPO_ROOT, free_port, start_server, stop_server

T = TypeVar("T")

# The big batch, sent from a child process: prints the seconds it took and the bytes read.
BIG_CLIENT = """
import http.client, sys, time
port, key, times = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
path, body = sys.argv[4], sys.stdin.buffer.read()
con = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
print("start", time.time(), flush=True)
for _ in range(times):
    con.request("POST", path, body, {"X-API-Key": key, "Content-Type": "application/json"})
    r = con.getresponse()
    size = 0
    while chunk := r.read(1 << 20):
        size += len(chunk)
print("end", time.time(), r.status, size, flush=True)
"""


def big_batch(port: int, key: str, body: bytes, times: int = 1,
              path: str = "/v1/neighbors") -> tuple[float, float, int, int]:
    """(start, end) wall times, status and bytes (of the last answer) of `times` big
    requests sent one after the other from another process."""
    done = subprocess.run([sys.executable, "-c", BIG_CLIENT, str(port), key, str(times),
                           path], input=body, capture_output=True, timeout=900, check=True)
    lines = dict((line.split(" ", 1)[0], line.split(" ", 1)[1].split())
                 for line in done.stdout.decode().splitlines())
    return (float(lines["start"][0]), float(lines["end"][0]), int(lines["end"][1]),
            int(lines["end"][2]))


def small_requests(port: int, key: str, body: bytes, stop: threading.Event
                   ) -> list[tuple[float, float]]:
    """(start, seconds) of a small request sent back to back until `stop`."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    found = []
    while not stop.is_set():
        started, clock = time.time(), time.perf_counter()
        con.request("POST", "/v1/fingerprint", body, headers)
        r = con.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"small request: {r.status}")
        found.append((started, time.perf_counter() - clock))
        time.sleep(0.002)      # a client's pace, not a flood
    con.close()
    return found


def figures(latencies: list[float]) -> str:
    ms = np.asarray(latencies) * 1000
    return (f"{len(ms):5d} requests  p50 {np.percentile(ms, 50):7.1f} ms  "
            f"p95 {np.percentile(ms, 95):7.1f} ms  max {ms.max():7.1f} ms")


def small_requests_while(port: int, key: str, small: bytes, work: Callable[[], T]
                         ) -> tuple[list[tuple[float, float]], T]:
    """`small_requests` sent from a thread while `work` runs (they start 0.3 s before
    it), and what `work` returned."""
    stop = threading.Event()
    found: list[tuple[float, float]] = []
    runner = threading.Thread(target=lambda: found.extend(
        small_requests(port, key, small, stop)))
    runner.start()
    time.sleep(0.3)
    try:
        return found, work()
    finally:
        stop.set()
        runner.join()


def during(port: int, key: str, small: bytes, big: bytes, times: int, path: str
           ) -> tuple[list[float], float, int]:
    """The small request's latencies while `times` big requests are answered, the big
    requests' seconds and the last one's status."""
    found, (start, end, status, _) = small_requests_while(
        port, key, small, lambda: big_batch(port, key, big, times, path))
    return [s for t, s in found if t >= start and t + s <= end], end - start, status


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--n", type=int, default=200, help="neighbours per item")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    home = Path(os.environ.get("TOPICLAB_HOME", "")).resolve()
    if not os.environ.get("TOPICLAB_HOME"):
        parser.error("set TOPICLAB_HOME to a store with a production model")
    from core.data import auth, store
    from core.serve import keys

    auth.set_user(auth.local_user())
    key = keys.create(f"bench-big-{os.getpid()}", "account_manager", 1_000_000).key
    ids = store.query("SELECT DISTINCT campaign_id FROM terms ORDER BY campaign_id"
                      )["campaign_id"].tolist()
    body = json.dumps({"items": [{"campaign_id": ids[i % len(ids)], "n": args.n}
                                 for i in range(args.items)]}).encode()
    small = json.dumps({"campaign_id": ids[0]}).encode()
    port = free_port()
    server, startup = start_server(home, port)
    print(f"service ready on 127.0.0.1:{port} in {startup:.1f} s ({REPO_ROOT})", flush=True)
    try:
        first = big_batch(port, key, body)       # computes and caches the items
        print(f"first batch (computed): {first[1] - first[0]:.2f} s, status {first[2]}, "
              f"{first[3] / 1e6:.0f} MB", flush=True)
        alone, _ = small_requests_while(port, key, small, lambda: time.sleep(2.7))
        answered: list[float] = []
        batch_s = []
        for _ in range(args.rounds):
            latencies, seconds, status = during(port, key, small, body, 1, "/v1/neighbors")
            if status != 200:
                raise RuntimeError(f"big batch: {status}")
            answered += latencies
            batch_s.append(seconds)
        print(f"big batch (cached items): {np.median(batch_s):.2f} s median of "
              f"{args.rounds}, {first[3] / 1e6:.0f} MB")
        print(f"small request alone:        {figures([s for _, s in alone])}")
        print(f"small request during batch: {figures(answered)}")
        colons = json.dumps({"items": [{"keywords": [f"boiler repair {i}: emergency"
                                                     for i in range(100)]}] * 1001}).encode()
        latencies, seconds, status = during(port, key, small, colons, 10 * args.rounds,
                                            "/v1/fingerprint")
        print(f"{10 * args.rounds} refused bodies of {len(colons) / 1e6:.1f} MB (status "
              f"{status}) in {seconds:.2f} s")
        print(f"small request during them:  {figures(latencies)}")
        hostile = b'{"items":[' + b",".join([b'{"a":{}}'] * 450_000) + b"]}"
        latencies, seconds, status = during(port, key, small, hostile, 3 * args.rounds,
                                            "/v1/fingerprint")
        print(f"{3 * args.rounds} bodies of {len(hostile) / 1e6:.1f} MB of 900,000 objects "
              f"(status {status}) in {seconds:.2f} s")
        print(f"small request during them:  {figures(latencies)}")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
