"""What does sharing the keys' rate buckets between workers cost? Prints the cost of one
take (p50/p95, µs) from the in-process buckets (one worker) and from the shared SQLite
file (`throttle.SharedRateLimiter`, several workers), alone and while another process
takes from the same file as fast as it can; then the service's latency at concurrency 8
with 2 workers: cache hits (the cheapest answer, where a take weighs most) and stored
neighbours, with the service's CPU per request.

On an existing store with a production model (`python -m core init` builds the demo's,
or `bench/serve.py --home DIR` a bigger one):

    TOPICLAB_HOME=DIR nice .venv/bin/python -m bench.serve_rates [--requests 2000]
        [--rounds 2] [--workers 2] [--repo OTHER_CHECKOUT]   # its `serve`: a before figure
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.serve import (
    REPO_ROOT,
    drive,
    free_port,
    samples,
    server_cpu_s,
    start_server,
    stop_server,
    summarise,
)

TAKES = 20_000
# Another process taking from the same file without pause: the worst contention two
# workers can make.
RIVAL = """
import sys, time
from core.serve.throttle import SharedRateLimiter
limiter, ends = SharedRateLimiter(sys.argv[1]), time.monotonic() + float(sys.argv[2])
print("go", flush=True)
while time.monotonic() < ends:
    limiter.take("rival", 10 ** 9)
"""


def take_costs(limiter, takes: int = TAKES) -> dict:
    """p50/p95 µs of `takes` takes over 5 keys of a rate never reached."""
    seconds = []
    for i in range(takes):
        started = time.perf_counter()
        limiter.take(f"k{i % 5}", 10 ** 9)
        seconds.append(time.perf_counter() - started)
    us = np.asarray(seconds) * 1e6
    return {"p50_us": float(np.percentile(us, 50)), "p95_us": float(np.percentile(us, 95))}


def limiter_costs() -> dict[str, dict]:
    from core.serve import throttle

    costs = {"in-process": take_costs(throttle.RateLimiter())}
    with tempfile.TemporaryDirectory(prefix="topiclab-bench-rates-") as folder:
        path = str(Path(folder) / "rates.sqlite")
        throttle.SharedRateLimiter.create(path)
        costs["shared"] = take_costs(throttle.SharedRateLimiter(path))
        rival = subprocess.Popen([sys.executable, "-c", RIVAL, path, "120"], cwd=REPO_ROOT,
                                 env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert rival.stdout.readline().strip() == "go"
            costs["shared, a rival process"] = take_costs(throttle.SharedRateLimiter(path))
        finally:
            rival.kill()
            rival.wait()
    return costs


def service_figures(home: Path, workers: int, requests: int, rounds: int, repo: Path
                    ) -> dict[str, list[dict]]:
    """Cache hits and stored neighbours at concurrency 8, `rounds` times each."""
    from core.data import auth
    from core.serve import keys

    auth.set_user(auth.local_user())
    key = keys.create(f"bench-rates-{os.getpid()}-{time.time_ns()}", "account_manager",
                      keys.MAX_RATE).key
    ids, _ = samples(rounds * requests + 1, np.random.default_rng(7))
    server, startup = start_server(home, free_port(), workers, repo)
    base = f"http://127.0.0.1:{server.args[server.args.index('--port') + 1]}"
    print(f"{workers} worker(s) of {repo} ready in {startup:.1f} s", flush=True)
    figures: dict[str, list[dict]] = {"cache_hits@8": [], "neighbors_stored@8": []}
    try:
        hot = {"campaign_id": ids[-1], "n": 10}
        drive(base, key, "/v1/neighbors", [hot] * 8, 8)                   # cached, warm
        for r in range(rounds):
            fresh = [{"campaign_id": c, "n": 10}
                     for c in ids[r * requests:(r + 1) * requests]]
            for case, bodies in (("cache_hits@8", [hot] * requests),
                                 ("neighbors_stored@8", fresh)):
                cpu = server_cpu_s(server.pid)
                latencies, statuses, _, wall = drive(base, key, "/v1/neighbors", bodies, 8)
                row = {**summarise(latencies, statuses, wall),
                       "server_cpu_ms": 1000 * (server_cpu_s(server.pid) - cpu) / len(bodies)}
                figures[case].append(row)
                print(f"  {case:<20} p50 {row['p50_ms']:6.2f}  p95 {row['p95_ms']:6.2f} ms  "
                      f"{row['rps']:7.1f} req/s  cpu {row['server_cpu_ms']:.2f} ms/req  "
                      f"failed {row['failed']}", flush=True)
    finally:
        stop_server(server)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per case and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT,
                        help="the checkout whose `serve` runs (another one: before a change)")
    parser.add_argument("--no-service", action="store_true", help="only the take's cost")
    args = parser.parse_args(argv)
    for name, cost in limiter_costs().items():
        print(f"take, {name:<24} p50 {cost['p50_us']:6.1f} µs  p95 {cost['p95_us']:6.1f} µs",
              flush=True)
    if not args.no_service:
        service_figures(Path(os.environ["TOPICLAB_HOME"]), args.workers, args.requests,
                        args.rounds, args.repo.resolve())


if __name__ == "__main__":
    main()
