"""How fast is the scoring service? Prints p50/p95/p99 and requests/s per case.

One run, in a temporary TOPICLAB_HOME, on 127.0.0.1 only:

1. a generated corpus (`bench/lookup.py`'s generator, default 100,000 campaigns), a K=50
   tomotopy model (`--iterations` Gibbs iterations; no coherence metrics), scored and
   promoted as production and as candidate, with the canary at 10%;
2. `python -m core serve` on a free loopback port (its start-up time is printed);
3. at concurrency 1, 8 and 32, `--requests` requests per case: neighbours of stored
   campaigns, neighbours of pasted keywords (4 terms of a random campaign + 1 noise word),
   suggest for stored campaigns, and cache hits (one repeated request); each uncached case
   uses campaigns no earlier request to its endpoint used;
4. batches of 1,000 items to /v1/fingerprint: stored campaign ids, and pasted keyword sets
   (folded in) — campaigns/s;
5. the canary share measured from the answers' X-Variant header and from /metrics;
6. per case, the CPU milliseconds per request of the service (its processes, from /proc)
   and of the client: unlike latencies, these hardly move with the machine's load.

The client runs on the same (shared) machine as the server, so the figures include its
own cost. A missed target is marked, not an error.

    .venv/bin/python -m bench.serve [--campaigns 100000] [--requests 200] [--json]
        [--home DIR]   # keep the built store in DIR and reuse it on the next run
        [--workers N]  # service worker processes (default 1)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

from bench.lookup import NOISE_WORDS, SEED, K  # noqa: E402

CONCURRENCY = (1, 8, 32)
BATCH = 1000
BATCH_ROUNDS = 3
CANARY = 10.0
TARGETS = {  # (case, figure) -> (comparison, target)
    ("neighbors_stored@8", "p95_ms"): ("<=", 30.0),
    ("keywords@8", "p95_ms"): ("<=", 80.0),
    ("cache_hits@8", "rps"): (">=", 1000.0),
    ("batch_keywords", "campaigns_per_s"): (">=", 5000.0),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_model(n_campaigns: int, iterations: int, home: Path, figures: dict
                ) -> tuple[str, str]:
    """Generate and import the corpus (`core.data.demo`, as bench/lookup.py) and fit a K=50
    model, registered twice (production and candidate must be two models; one fit serves
    both). No coherence metrics: they took minutes here and the service's speed does not
    depend on them."""
    from core.data import auth, demo, ingest
    from core.model.engines import make_engine
    from core.model.text import TextConfig
    from core.ops import train
    from core.serve import registry

    auth.set_user(auth.local_user())  # core refuses work for which nobody is named

    started = time.perf_counter()
    frame = demo.generate(n_campaigns, SEED)
    path = home / "campaigns.parquet"
    frame.to_parquet(path, index=False)
    figures.update(campaigns=n_campaigns, term_rows=len(frame))
    del frame
    ingest.import_paths([path], "bench")
    corpus, info = train.build_corpus("bench", None, TextConfig())
    engine = make_engine("tomotopy", k=K, iterations=iterations).fit(corpus)
    model_ids = tuple(registry.register(
        engine=engine, engine_name="tomotopy", encoder=corpus.encoder,
        params={"k": K, **train.engine_params(engine)}, dataset="bench",
        version=info.version, dataset_hash=info.content_hash, metrics={}, timings={},
        counts=corpus.encoded_counts(),  # as train.train: scoring and Lookup reuse them
        name_words=train._name_words(corpus, info).to_dict())  # as train.train: naming
        for _ in range(2))  # topics without them re-reads the dataset (~50 s) per model load
    figures["build_s"] = time.perf_counter() - started
    print(f"{n_campaigns:,} campaigns ({figures['term_rows']:,} term rows) imported and a K={K} "
          f"model fitted ({iterations} iterations) in {figures['build_s']:.1f} s", flush=True)
    return model_ids


def prepare(n_campaigns: int, iterations: int, home: Path, figures: dict) -> str:
    """Store, the model (scored) as production and its twin as candidate, canary, an API key.

    Production refuses to be the candidate too, so the candidate is the same fit
    registered again: both answer alike, the service loads both (as in a real canary),
    and the canary split is read from each answer's X-Variant header."""
    from core.ops import deploy
    from core.serve import canary, keys

    model_id, twin = build_model(n_campaigns, iterations, home, figures)
    started = time.perf_counter()
    deploy.promote(model_id, "production")
    deploy.promote(twin, "candidate")
    canary.set_percent(CANARY)
    figures["score_s"] = time.perf_counter() - started
    print(f"scored {model_id} in {figures['score_s']:.1f} s; production and candidate; "
          f"canary {CANARY:g}%", flush=True)
    return keys.create("bench", "account_manager", 1_000_000).key


def prepared(n_campaigns: int, iterations: int, home: Path, figures: dict) -> str:
    """`prepare`, or what an earlier run with the same `--home` and sizes built."""
    marker = home / "bench_serve.json"
    wanted = {"campaigns": n_campaigns, "iterations": iterations}
    if marker.exists():
        kept = json.loads(marker.read_text())
        if {k: kept.get(k) for k in wanted} == wanted:
            figures.update({k: v for k, v in kept["figures"].items()
                            if k != "requests_per_case"})  # this run's, not the builder's
            print(f"reusing the store built earlier in {home}", flush=True)
            return kept["key"]
        raise SystemExit(f"error: {home} holds a bench store of other sizes ({kept}); "
                         "use another --home")
    key = prepare(n_campaigns, iterations, home, figures)
    marker.write_text(json.dumps({**wanted, "key": key, "figures": figures}))
    return key


def samples(n: int, rng: np.random.Generator) -> tuple[list[str], dict[str, list[str]]]:
    """Campaign ids in a random order, and each sampled campaign's distinct terms."""
    from core.data import store

    ids = store.query("SELECT DISTINCT campaign_id FROM terms")["campaign_id"].tolist()
    order = [ids[i] for i in rng.permutation(len(ids))[:n]]
    frame = store.query("SELECT campaign_id, list(DISTINCT term) AS terms FROM terms "
                        "WHERE list_contains(?, campaign_id) GROUP BY campaign_id", [order])
    return order, dict(zip(frame["campaign_id"], frame["terms"], strict=True))


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server `start_server` started: politely first, then for good."""
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


def start_server(home: Path, port: int, workers: int = 1,
                 repo: Path = REPO_ROOT) -> tuple[subprocess.Popen, float]:
    """`python -m core serve` of `repo`'s code (another checkout: a before/after figure)."""
    import httpx

    env = {**os.environ, "TOPICLAB_HOME": str(home), "PYTHONPATH": str(repo),
           "TOPICLAB_SERVICE_CACHE_ENTRIES": "100000", "TOPICLAB_SERVICE_CACHE_MB": "4096"}
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port),
                               "--workers", str(workers)],
                              cwd=repo, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service stopped: {server.stderr.read()[-2000:]}")
        try:
            # With several workers each loads its models: ready when every one answers.
            ready = {r.json().get("worker") for r in
                     (httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                      for _ in range(4 * workers)) if r.status_code == 200}
            if len(ready) >= workers:
                return server, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    server.terminate()
    raise RuntimeError("the service did not become ready in 10 minutes")


def drive(base: str, key: str, path: str, bodies: list, concurrency: int
          ) -> tuple[list[float], list[int], list[str], float]:
    """Send every body once with `concurrency` threads; latencies, statuses, variants.

    The client is the standard library's `http.client`, one keep-alive connection per
    thread, bodies encoded before the clock starts and answers read whole (and checked
    to be JSON) but not decoded: it shares the 2 cores with the server, and httpx cost
    about 1 ms of CPU per request more (stop 17's figures were measured with httpx)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    where = urlsplit(base)
    local = threading.local()
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    encoded = [json.dumps(body).encode() for body in bodies]
    opened: list[http.client.HTTPConnection] = []

    def one(body: bytes) -> tuple[float, int, str]:
        con = getattr(local, "con", None)
        if con is None:
            con = local.con = http.client.HTTPConnection(where.hostname, where.port,
                                                         timeout=120)
            opened.append(con)
        started = time.perf_counter()
        con.request("POST", path, body, headers)
        r = con.getresponse()
        data = r.read()
        seconds = time.perf_counter() - started
        if r.status == 200 and data[:1] != b"{":
            raise RuntimeError(f"not a JSON answer: {data[:200]!r}")
        return seconds, r.status, r.getheader("X-Variant", "")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(one, encoded))
    wall = time.perf_counter() - started
    for con in opened:
        con.close()
    return [d[0] for d in done], [d[1] for d in done], [d[2] for d in done], wall


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by the service: its process and its worker
    processes (with --workers N), read from /proc. Per request, this hardly moves with the
    machine's load, unlike the latencies (Linux only; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:      # fields[1]: the parent
            total += int(fields[11]) + int(fields[12])           # utime, stime
    return total / ticks


def summarise(latencies: list[float], statuses: list[int], wall: float) -> dict:
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "rps": len(ms) / wall, "failed": sum(s != 200 for s in statuses)}


def run_cases(base: str, key: str, server_pid: int, ids: list[str], terms: dict[str, list[str]],
              n_requests: int, rng: np.random.Generator, results: dict) -> list[str]:
    # The cache key holds the endpoint, so each endpoint walks the campaigns on its own:
    # no uncached request repeats an earlier one of its endpoint.
    fresh = {path: iter(ids) for path in ("/v1/neighbors", "/v1/suggest", "/v1/fingerprint")}
    served_by: list[str] = []

    def take(path: str, n: int) -> list[str]:
        return [next(fresh[path]) for _ in range(n)]

    def paste(cid: str) -> list[str]:
        words = terms[cid]
        chosen = rng.choice(words, size=min(4, len(words)), replace=False)
        return [*map(str, chosen), str(rng.choice(NOISE_WORDS))]

    def pastes(n: int) -> list[list[str]]:
        return [paste(ids[i]) for i in rng.integers(0, len(ids), size=n)]

    # Warm-up: first calls pay one-off costs (spaCy, pandas) that are not latency.
    drive(base, key, "/v1/suggest", [{"campaign_id": c} for c in take("/v1/suggest", 3)], 1)
    drive(base, key, "/v1/neighbors", [{"keywords": k} for k in pastes(3)], 1)
    hot = {"campaign_id": take("/v1/neighbors", 1)[0], "n": 10}
    drive(base, key, "/v1/neighbors", [hot], 1)            # the one answer cached
    for concurrency in CONCURRENCY:
        cases = {
            "neighbors_stored": ("/v1/neighbors", [{"campaign_id": c, "n": 10}
                                                   for c in take("/v1/neighbors", n_requests)]),
            "keywords": ("/v1/neighbors", [{"keywords": k, "n": 10} for k in pastes(n_requests)]),
            "suggest": ("/v1/suggest", [{"campaign_id": c}
                                        for c in take("/v1/suggest", n_requests)]),
            "cache_hits": ("/v1/neighbors", [hot] * max(2 * n_requests, 200)),
        }
        for case, (path, bodies) in cases.items():
            cpu = server_cpu_s(server_pid), time.process_time()
            latencies, statuses, models, wall = drive(base, key, path, bodies, concurrency)
            name = f"{case}@{concurrency}"
            results[name] = summarise(latencies, statuses, wall)
            results[name].update(
                server_cpu_ms=1000 * (server_cpu_s(server_pid) - cpu[0]) / len(bodies),
                client_cpu_ms=1000 * (time.process_time() - cpu[1]) / len(bodies))
            if case == "neighbors_stored":
                served_by += models
            r = results[name]
            print(f"{name:<22} p50 {r['p50_ms']:7.1f}  p95 {r['p95_ms']:7.1f}  p99 "
                  f"{r['p99_ms']:7.1f} ms  {r['rps']:8.1f} req/s  failed {r['failed']}",
                  flush=True)
    for case, make in (("batch_stored", lambda: [{"campaign_id": c}
                                                 for c in take("/v1/fingerprint", BATCH)]),
                       ("batch_keywords", lambda: [{"keywords": k} for k in pastes(BATCH)])):
        rounds = [make() for _ in range(BATCH_ROUNDS)]
        cpu = server_cpu_s(server_pid), time.process_time()
        latencies, statuses, _, wall = drive(base, key, "/v1/fingerprint",
                                             [{"items": items} for items in rounds], 1)
        results[case] = {**summarise(latencies, statuses, wall),
                         "server_cpu_ms": 1000 * (server_cpu_s(server_pid) - cpu[0]) / len(rounds),
                         "client_cpu_ms": 1000 * (time.process_time() - cpu[1]) / len(rounds),
                         "campaigns_per_s": BATCH * len(rounds) / wall}
        print(f"{case:<22} {results[case]['campaigns_per_s']:,.0f} campaigns/s "
              f"(batches of {BATCH:,}, p50 {results[case]['p50_ms']:.0f} ms)", flush=True)
    return served_by


def mark(case: str, figure: str, value: float) -> str:
    if (case, figure) not in TARGETS:
        return ""
    op, target = TARGETS[(case, figure)]
    ok = value >= target if op == ">=" else value <= target
    return f"  ({figure} {op} {target:g}: {'pass' if ok else 'MISS'})"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=20, help="Gibbs iterations")
    parser.add_argument("--requests", type=int, default=200, help="per case and concurrency")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--home", type=Path, default=None,
                        help="keep the built store in this folder and reuse it next time "
                             "(building 100,000 campaigns takes minutes)")
    args = parser.parse_args(argv)
    # A `timeout` or Ctrl-C still stops the service it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    needed = max(4 + len(CONCURRENCY) * args.requests, BATCH_ROUNDS * BATCH)
    if args.campaigns < needed:
        parser.error(f"--campaigns must be at least {needed:,} for --requests "
                     f"{args.requests} (every uncached request uses a new campaign)")
    figures: dict = {"requests_per_case": args.requests}
    results: dict = {}
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    with contextlib.ExitStack() as stack:
        if args.home is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="topiclab-bench-serve-"))
        else:
            args.home.mkdir(parents=True, exist_ok=True)
            tmp = str(args.home.resolve())
        os.environ["TOPICLAB_HOME"] = tmp
        key = prepared(args.campaigns, args.iterations, Path(tmp), figures)
        ids, terms = samples(needed, rng)
        port = free_port()
        figures["workers"] = args.workers
        server, figures["startup_s"] = start_server(Path(tmp), port, args.workers)
        print(f"service ready on 127.0.0.1:{port} in {figures['startup_s']:.1f} s", flush=True)
        base = f"http://127.0.0.1:{port}"
        try:
            served_by = run_cases(base, key, server.pid, ids, terms, args.requests, rng,
                                  results)
            import httpx
            text = httpx.get(f"{base}/metrics", timeout=10).text
            match = re.search(r"^topiclab_canary_share_measured ([0-9.e+-]+)$", text, re.M)
            figures["canary_share_metrics"] = float(match.group(1)) if match else None
            figures["canary_share_stored"] = served_by.count("candidate") / len(served_by)
        finally:
            stop_server(server)
    figures["total_s"] = time.perf_counter() - started
    print(f"\nservice bench: {figures['campaigns']:,} campaigns, K=50, "
          f"{args.requests} requests per case; canary {CANARY:g}%: measured "
          f"{100 * figures['canary_share_stored']:.1f}% of stored-campaign answers "
          f"({100 * (figures['canary_share_metrics'] or 0):.1f}% of all answers, /metrics)")
    print(f"{'case':<22} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>9} "
          f"{'cpu ms s/c':>12}  failed   (cpu: per request, server / client)")
    for case, r in results.items():
        extra = "".join(mark(case, f, r[f]) for f in ("p95_ms", "rps", "campaigns_per_s")
                        if f in r)
        if "campaigns_per_s" in r:
            extra = f"  {r['campaigns_per_s']:,.0f} campaigns/s" + extra
        cpu = f"{r['server_cpu_ms']:.1f}/{r['client_cpu_ms']:.1f}"
        print(f"{case:<22} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} "
              f"{r['rps']:9.1f} {cpu:>12}  {r['failed']}{extra}")
    print(f"total {figures['total_s']:.0f} s (build {figures['build_s']:.0f} s, scoring "
          f"{figures['score_s']:.0f} s, service start-up {figures['startup_s']:.1f} s)")
    if args.json:
        print(json.dumps({"figures": figures, "results": results}, indent=1, default=str))
    return {"figures": figures, "results": results}


if __name__ == "__main__":
    main()
