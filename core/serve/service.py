"""The scoring service: Topic Lab's answers over HTTP/JSON for other programs.

`create_app()` builds a FastAPI app (run by uvicorn: `python -m core serve`, `make serve`)
with the gateway features in front of the same answers as the CLI (core/serve/answers.py):

- API keys (`X-API-Key`, core/serve/keys.py) with roles and per-key rates (core/serve/throttle.py);
- canary traffic between the `production` and `candidate` aliases (core/serve/canary.py);
- hot reload of aliases, canary share and keys (core/serve/serving.py);
- an answer cache keyed by model id and normalised input (core/serve/response_cache.py);
- request logging and feedback through a queue, never waiting on the store
  (core/serve/request_log.py); Prometheus metrics on /metrics.

Every answer carries `X-Request-Id` and `X-Model-Id` (and `X-Variant`: production or
candidate). Errors are `{"error": message,
"request_id": …}` with the status docs/service.md lists, never a stack trace. Swagger's `/docs`
page is off (FastAPI's loads Swagger UI from a CDN); `/openapi.json` describes the API.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextvars
import errno
import json
import logging
import math
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from threadpoolctl import threadpool_limits

from core import config
from core.data import audit
from core.errors import InputError, StoreBusyError, counted, plural, quoted
from core.serve import answers, canary, keys, request_log, review, serving, throttle
from core.serve.answers import AnswerError, FeedbackBody, Query
from core.serve.lookup import Lookup
from core.serve.request_log import Entry, Feedback, StoreWriter
from core.serve.response_cache import ResponseCache
from core.serve.serving import ModelHolder, Served

log = logging.getLogger(__name__)
INTERNAL_ERROR = "internal error; the request id is in the service's log"  # a bug: no trace
NO_PRODUCTION = "no production model: train one and promote it (`python -m core promote MODEL_ID`)"
disable_created_metrics()  # no `_created` series beside every counter

API_VERSION = "v1"
T = TypeVar("T")
INLINE_KEYWORDS, INLINE_CHARACTERS = 50, 2_000   # see `inline`
DISCONNECT_CHECK_S = 0.25     # how often a batch's client is checked (`Gateway._watched`)
ANSWER_BLOCK = 1 << 20        # bytes per write of a batch's answer (`EncodedBatch`)
DECODE_ON_LOOP_BYTES = 64 * 1024   # a larger body is decoded in a thread (`_read_json`)
MAX_CONTAINERS = 10 * answers.MAX_ITEMS   # JSON objects and arrays in a body (`containers`)
RATES_FILE_ENV = "TOPICLAB_SERVICE_RATES_FILE"   # the workers' shared buckets (`serve`)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CHARSET = re.compile(r';\s*charset\s*=\s*"?([A-Za-z0-9!#$%&\'*+.^_`|~-]{0,40})', re.IGNORECASE)
JSON_MEDIA_TYPE = "application/json"   # the one body type read (`refuse_media_type`)
_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}   # ASCII: a subset UTF-8 reads alike
_JSON_STARTS = frozenset('{["-0123456789tfn')   # the first character of any JSON value
_JSON_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # never unescaped in JSON
STARTING_RETRY_CAP_S = 30     # the longest Retry-After while the models load (`starting`)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)



@dataclass(frozen=True)
class Settings:
    """Service limits; each can be set by an environment variable (docs/service.md)."""

    poll_s: float = 0.5                 # TOPICLAB_SERVICE_POLL_S: store-change check (≤ 2)
    max_body_bytes: int = 4 * 1024 * 1024   # TOPICLAB_SERVICE_MAX_BODY_MB
    body_timeout_s: float = 30.0        # TOPICLAB_SERVICE_BODY_TIMEOUT_S: see `_read_json`
    max_in_flight: int = 32             # TOPICLAB_SERVICE_MAX_IN_FLIGHT
    cache_entries: int = 20_000         # TOPICLAB_SERVICE_CACHE_ENTRIES
    cache_bytes: int = 512 * 1024 * 1024  # TOPICLAB_SERVICE_CACHE_MB
    log_queue: int = 50_000             # TOPICLAB_SERVICE_LOG_QUEUE
    log_interval_s: float = 1.0
    log_keep_days: float = request_log.KEEP_DAYS    # TOPICLAB_SERVICE_LOG_KEEP_DAYS
    log_keep_rows: int = request_log.KEEP_ROWS      # TOPICLAB_SERVICE_LOG_KEEP_ROWS (0: no cap)
    log_prune_s: float = 600.0                      # how often the writer prunes
    unkeyed_log_per_minute: int = 600   # refusals before a key is known, logged (`_finish`)
    rates_file: str | None = None       # TOPICLAB_SERVICE_RATES_FILE: see `serve`
    compute_slots: int = os.cpu_count() or 1    # TOPICLAB_SERVICE_COMPUTE_SLOTS

    @classmethod
    def from_env(cls) -> Settings:
        """The limits the environment sets; a variable that is not a number (or zero where
        0 means nothing, or negative) is refused naming it, before the service starts
        (`poll_s=0` polled the store without pause, `MAX_IN_FLIGHT=nan` was a traceback)."""
        number, whole = config.env_number, config.env_whole  # whole: counts, fractions refused
        return cls(poll_s=min(2.0, number("TOPICLAB_SERVICE_POLL_S", 0.5)),
                   max_body_bytes=int(number("TOPICLAB_SERVICE_MAX_BODY_MB", 4) * 1024 * 1024),
                   body_timeout_s=number("TOPICLAB_SERVICE_BODY_TIMEOUT_S", 30.0),
                   max_in_flight=whole("TOPICLAB_SERVICE_MAX_IN_FLIGHT", 32),
                   cache_entries=whole("TOPICLAB_SERVICE_CACHE_ENTRIES", 20_000,
                                       zero="no cache"),
                   cache_bytes=int(number("TOPICLAB_SERVICE_CACHE_MB", 512) * 1024 * 1024),
                   log_queue=whole("TOPICLAB_SERVICE_LOG_QUEUE", 50_000),
                   log_keep_days=number("TOPICLAB_SERVICE_LOG_KEEP_DAYS", request_log.KEEP_DAYS),
                   log_keep_rows=whole("TOPICLAB_SERVICE_LOG_KEEP_ROWS", request_log.KEEP_ROWS,
                                       zero="no row cap"),
                   rates_file=os.environ.get(RATES_FILE_ENV) or None,
                   compute_slots=whole("TOPICLAB_SERVICE_COMPUTE_SLOTS", os.cpu_count() or 1))


@dataclass
class Outcome:
    """What one request did, for its headers, its log entry and the metrics."""

    endpoint: str
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    key: keys.ApiKey | None = None
    model_ids: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    items: int = 1
    cache_hits: int = 0
    cache_generation: int = 0     # the cache's generation before the snapshot was taken
    routed: dict[str, list] = field(default_factory=dict)  # variant -> [model, items, hits]
    abandoned: bool = False       # the client hung up: a batch stops at its next item

    def check_client(self) -> None:
        """Between a batch's items: stop when its client has gone (`Gateway._watched`)."""
        if self.abandoned:
            raise AnswerError(499, "The client closed the connection before the batch was "
                                   "answered; it was stopped.")

    def served_by(self, variant: str, model_id: str, cache_hit: bool = False) -> None:
        """One query (a batch item) routed to `variant`'s model, from the cache or not."""
        if model_id not in self.model_ids:
            self.model_ids.append(model_id)
        if variant not in self.variants:
            self.variants.append(variant)
        share = self.routed.setdefault(variant, [model_id, 0, 0])
        share[1] += 1
        share[2] += cache_hit
        self.cache_hits += cache_hit

    def log_entries(self, status: int, latency_ms: float) -> list[Entry]:
        """The request's request-log rows: one per variant that took some of it, with its
        model, items and cache hits (the A/B page's figures by variant; a batch both
        answered was one `mixed` row, which rows stored before still are), and the items
        no variant took (not valid, or not reached once the client hung up) on a row of
        no variant, so the rows' items add up to the batch (a split batch left them out,
        a batch one variant answered counted them as that variant's). The rows share the
        request id and time, so `request_log.totals` counts the request once."""
        key_name = self.key.name if self.key else None
        if not self.routed:     # refused before any model was picked
            return [Entry(self.request_id, self.endpoint, status, latency_ms, None, None,
                          key_name, self.items, 0)]
        logged_at = audit.now()
        rows = [Entry(self.request_id, self.endpoint, status, latency_ms, model_id, variant,
                      key_name, items, hits, logged_at)
                for variant, (model_id, items, hits) in self.routed.items()]
        unrouted = self.items - sum(items for _, items, _ in self.routed.values())
        if unrouted > 0:
            rows.append(Entry(self.request_id, self.endpoint, status, latency_ms, None, None,
                              key_name, unrouted, 0, logged_at))
        return rows

    @property
    def model_header(self) -> str:
        return ", ".join(self.model_ids) or "none"


class Metrics:
    """Prometheus metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self, gateway: Gateway) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("topiclab_requests", "Requests by endpoint, status and model",
                                ["endpoint", "status", "model"], registry=self.registry)
        self.latency = Histogram("topiclab_request_seconds", "Request latency",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.variant_items = Counter("topiclab_variant_items",
                                     "Answers given (status 200; batch items count one "
                                     "each) by canary variant", ["variant"],
                                     registry=self.registry)
        self.registry.register(_StateCollector(gateway))


class _StateCollector:
    """Values read at scrape time: cache, canary, request-log queue, loaded models."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self):
        g = self.gateway
        state = g.holder.state
        yield CounterMetricFamily("topiclab_cache_hits", "Answers served from the cache",
                                  value=g.cache.hits)
        yield CounterMetricFamily("topiclab_cache_misses", "Answers computed (not cached)",
                                  value=g.cache.misses)
        yield GaugeMetricFamily("topiclab_cache_entries", "Answers in the cache",
                                value=len(g.cache))
        yield GaugeMetricFamily("topiclab_cache_bytes", "About what the cached answers hold",
                                value=g.cache.bytes)
        # the share in effect, as /readyz's `canary_percent`: the stored one was exported,
        # 10 % while the candidate it was set for was gone and production took everything
        yield GaugeMetricFamily("topiclab_canary_percent",
                                "Share of traffic the candidate gets now (%; 0 while the "
                                "candidate served is not the one canary set was run for)",
                                value=state.canary_share)
        yield GaugeMetricFamily("topiclab_canary_percent_set",
                                "Canary share canary set stored (%; applies only while "
                                "the candidate it was set for is served)",
                                value=state.canary_percent)
        counts = {v: g.variant_counts.get(v, 0) for v in (canary.PRODUCTION, canary.CANDIDATE)}
        total = sum(counts.values())
        yield GaugeMetricFamily("topiclab_canary_share_measured",
                                "Share of answers that went to the candidate (0-1)",
                                value=counts[canary.CANDIDATE] / total if total else 0.0)
        yield CounterMetricFamily("topiclab_request_log_dropped",
                                  "Log entries and feedback dropped (queue full)",
                                  value=g.writer.dropped)
        yield CounterMetricFamily("topiclab_request_log_unlogged",
                                  "Requests refused before a key was known (401, a repeated "
                                  "X-API-Key, the service starting) left out of the log past "
                                  "600 a minute (topiclab_requests_total counts them all)",
                                  value=g.unlogged)
        yield CounterMetricFamily("topiclab_request_log_written",
                                  "Log entries and feedback written to the store",
                                  value=g.writer.written)
        yield CounterMetricFamily("topiclab_request_log_pruned",
                                  "Old request-log rows deleted (retention)",
                                  value=g.writer.pruned)
        yield GaugeMetricFamily("topiclab_request_log_backlog",
                                "Log entries waiting to be written", value=g.writer.backlog)
        yield GaugeMetricFamily("topiclab_in_flight", "Requests being answered",
                                value=g.limit.in_flight)
        yield CounterMetricFamily("topiclab_model_reloads", "Times the served models changed",
                                  value=g.holder.reloads)
        info = GaugeMetricFamily("topiclab_model", "Model served per alias (1 = loaded; 0 = "
                                 "the alias names it but it cannot be loaded)",
                                 labels=["alias", "model_id"])
        for alias, lookup in (("production", state.production),
                              ("candidate", state.candidate)):
            if lookup is not None:
                info.add_metric([alias, lookup.model_id], 1)
        for alias, model_id in state.unloaded.items():
            info.add_metric([alias, model_id], 0)
        yield info


class Gateway:
    """Keys, throttling, canary, cache, logging around `core.serve.answers` for each request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ResponseCache(settings.cache_entries, settings.cache_bytes)
        self.holder = ModelHolder(poll_s=settings.poll_s, on_change=self._changed)
        self.writer = StoreWriter(max_queue=settings.log_queue,
                                  interval_s=settings.log_interval_s,
                                  keep_days=settings.log_keep_days,
                                  keep_rows=settings.log_keep_rows,
                                  prune_every_s=settings.log_prune_s)
        # Several workers share their keys' buckets (a file `serve` makes); one keeps
        # them in memory, ~1 µs a take against ~17 µs p50 (`throttle.SharedRateLimiter`).
        self.rates: throttle.RateLimiter | throttle.SharedRateLimiter = (
            throttle.SharedRateLimiter(settings.rates_file) if settings.rates_file
            else throttle.RateLimiter())
        self.limit = throttle.ConcurrencyLimit(settings.max_in_flight)
        # Requests refused before a key was known (401, …) are logged at most this fast:
        # a flood of bad keys filled the log's queue (real requests' entries dropped past
        # 50,000) and then its 5,000,000-row cap, pruning the real traffic's history.
        self.unkeyed_log = throttle.TokenBucket(settings.unkeyed_log_per_minute)
        self.unlogged = 0
        # Answers that compute (not cache hits) run at most this many at once: each one
        # sweeps every campaign's fingerprint, and 32 at once on 2 cores thrashed the
        # memory and the GIL (stored neighbours fell from 27 to 6 answers a second).
        self.compute = threading.BoundedSemaphore(settings.compute_slots)
        self.variant_counts: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self.metrics = Metrics(self)
        self._threads: ThreadPoolExecutor | None = None
        self.started_at = time.monotonic()     # `start` sets it again: the load's clock

    def _changed(self, old: Served, new: Served) -> None:
        if old.production is not new.production or old.candidate is not new.candidate:
            self.cache.clear()                 # another model, or new topic names
        if old.starting:
            log.warning(*self._start_ended(new))
        elif old.model_ids != new.model_ids:
            log.warning("scoring service: now serving production=%s candidate=%s",
                        *new.model_ids)

    def _start_ended(self, new: Served) -> tuple:
        """The log line of the end of the start: ready (the models named, and how long the
        load took) or not and why. `serve` said where it listens at once, then nothing
        until "now serving …", and nothing at all without a production model, while every
        request was told "the service is starting" (21 s on the demo on a busy 2-core
        machine, minutes at 100,000 campaigns)."""
        took = time.monotonic() - self.started_at
        if new.ready:
            return ("scoring service: ready after %.1f s, serving production=%s "
                    "candidate=%s", took, *new.model_ids)
        return ("scoring service: started after %.1f s but not ready (/readyz answers 503): "
                "%s", took, new.problem or NO_PRODUCTION)

    def starting(self) -> tuple[str, int]:
        """While the first load runs: what is being done, for how long so far, and when to
        retry (seconds; as long again as it has taken, 1 to `STARTING_RETRY_CAP_S`). It said
        "retry in a few seconds" and `Retry-After: 5` however long the load had taken (21 s
        for the demo on a busy 2-core machine, minutes at 100,000 campaigns)."""
        took = time.monotonic() - self.started_at
        retry = min(STARTING_RETRY_CAP_S, max(1, math.ceil(took)))
        return (f"{serving.STARTING}, for {took:.1f} s so far; retry in {retry} s"
                f"{' or later' if retry == STARTING_RETRY_CAP_S else ''}", retry)

    def start(self) -> None:
        """Start the background threads; the models load in the poller's first round."""
        self.started_at = time.monotonic()
        self._threads = ThreadPoolExecutor(max(1, self.settings.max_in_flight),
                                           thread_name_prefix="topiclab-answer")
        self.holder.start()
        self.writer.start()

    def stop(self) -> None:
        self.holder.stop()
        self.writer.stop()
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on one of the gateway's threads, with the caller's context variables.
        asyncio's executor directly: Starlette's `run_in_threadpool` (anyio) looked up its
        backend, task and limiter on every call, ~10% of the event loop's time under load."""
        threads = self._threads
        if threads is None:
            raise RuntimeError("the gateway is not started")
        return await asyncio.get_running_loop().run_in_executor(
            threads, contextvars.copy_context().run, fn, *args)

    # -- one request ------------------------------------------------------------------
    async def handle(self, request: Request, endpoint: str) -> Response:
        outcome = Outcome(endpoint, request_id(request))
        status, body, headers = 500, {"error": INTERNAL_ERROR}, {}
        slot = False
        try:
            # The cache's generation first, then the snapshot: a swap (and its clear) after
            # this keeps this request's answers out of the cache (`ResponseCache.put`).
            outcome.cache_generation = self.cache.generation
            state = self.holder.state          # this request's models, whatever reloads
            self._admit(request, state, outcome)
            slot = self.limit.try_acquire()
            if not slot:
                n = self.limit.limit
                raise AnswerError(503, f"More than {counted(n, 'request')} "
                                       f"{plural(n, 'is', 'are')} in flight; retry shortly.",
                                  retry_after="1")
            status, body = await self._answer(request, state, outcome)
        except AnswerError as err:
            status, body = err.status, {"error": err.message}
            if status == 429:
                headers["Retry-After"] = err.retry_after or "1"
            elif status == 503:
                headers["Retry-After"] = err.retry_after or "5"
        except StoreBusyError:  # answers do not read the store; should one, it is not a bug
            log.warning("scoring service: %s found the store busy (request %s)", endpoint,
                        outcome.request_id)
            status, body = 503, {"error": "The store is busy (another process, e.g. an "
                                          "import, holds it); retry shortly."}
            headers["Retry-After"] = "5"
        except Exception:  # a bug: logged here with its trace, never sent to the client
            log.exception("scoring service: %s failed (request %s)", endpoint,
                          outcome.request_id)
            status, body = 500, {"error": INTERNAL_ERROR}
        finally:
            if slot:
                self.limit.release()
        return self._finish(outcome, status, body, headers)

    def _admit(self, request: Request, state: Served, outcome: Outcome) -> None:
        """What the headers alone refuse, before the request takes an in-flight slot or a
        token: the service starting, the key (401) and its role (403), a query string, no
        production model, the body's type, encoding or declared size. A wrong or missing
        key took a slot first, so while the slots were full it was told 503 "retry
        shortly" rather than that its key is bad. This is synchronous on purpose: it
        never awaits, so a flood of refused requests holds nothing between them (each
        costs a header read and at most one SHA-256 of a key of at most 200 characters,
        `keys.find`), and every request let in still needs a slot."""
        if state.starting:   # no key is known yet: a 401 would tell a client to give up
            problem, retry = self.starting()
            raise AnswerError(503, f"Not ready: {problem}.", retry_after=str(retry))
        key = keys.find(one_api_key(request), state.keys)
        if key is None:
            given = "missing" if not request.headers.get("x-api-key") else "unknown or revoked"
            elsewhere = (" (the Authorization header is not read)" if given == "missing"
                         and request.headers.get("authorization") else "")
            raise AnswerError(401, f"API key {given}: send a valid key in the X-API-Key "
                                   f"header{elsewhere} (`python -m core keys create NAME`).")
        outcome.key = key
        problem = keys.stored_problem(key)
        if problem:
            raise AnswerError(403, f"Key {key.name!r} is stored with a {problem}, which "
                                   "`keys create` refuses: revoke it and create it again "
                                   "(`python -m core keys revoke NAME`).")
        if outcome.endpoint == "feedback" and not key.can("feedback"):
            raise AnswerError(403, f"Key {key.name!r} ({key.role.replace('_', ' ')}) may not "
                                   "send feedback: that needs an account_manager or "
                                   "data_scientist key.")
        refuse_query_string(request)
        if not state.ready:
            raise AnswerError(503, "No production model is loaded" + (
                f" ({state.problem})" if state.problem else ": train one and promote it "
                "(`python -m core promote MODEL_ID`)") + ".")
        refuse_body_headers(request, self.settings.max_body_bytes)

    async def _answer(self, request: Request, state: Served, outcome: Outcome
                      ) -> tuple[int, dict]:
        key = outcome.key
        assert key is not None     # `_admit` let it in
        # Refused before any work (`_admit`: starting, key, role, query string, no
        # production model, a body of another type, compressed or declared too large, and
        # no free slot): no token taken.
        # One token before the body is read: a key over its rate was let send its whole
        # body first (holding an in-flight slot while a slow one trickled in), only to be
        # refused then. The token is kept whatever the body turns out to be.
        self._charge(key, 1)
        payload = await self._read_json(request)
        # A batch of n items counts as n requests against the key's rate; a body that
        # `_batch_answer` refuses (or `items` sent to feedback) as one: it is only a 422.
        count = batch_size(payload) if outcome.endpoint in answers.ENDPOINTS else 1
        if count > 1:
            self._charge(key, count, paid=1)
        if outcome.endpoint == "feedback":
            return await self.in_thread(self._feedback, state, payload, outcome)
        if isinstance(payload, dict) and "items" in payload:
            return await self._watched(request, outcome, self._batch_answer, state, payload,
                                       outcome)
        # One query: parsed and looked up in the cache here, on the event loop (a dict
        # lookup; a hit sends the bytes encoded when it was first answered). An answer to
        # compute is computed here too when it is small (`inline`), else in a thread.
        query = answers.parse_query(outcome.endpoint, payload)
        variant, lookup, cache_key, cached = self._route(state, query, outcome)
        generation = outcome.cache_generation
        if cached is None and inline(outcome.endpoint, query):
            cached = self._compute(lookup, outcome.endpoint, query, cache_key, generation,
                                   wait=False, variant=variant)
        if cached is None:
            cached = await self.in_thread(self._compute, lookup, outcome.endpoint, query,
                                          cache_key, generation, True, variant)
        assert cached is not None  # a thread waits for its compute slot
        self._count(variant, 1)    # an answer given: a 404 or 422 is not one
        return 200, cached.encoded(lookup.model_id, variant)

    def _charge(self, key: keys.ApiKey, count: int, paid: int = 0) -> None:
        """Take `count` tokens (`paid` of them taken before) from the key's bucket, or
        refuse the request with 429 and how long to wait."""
        wait = self._take(key, count, paid)
        if wait > 0:
            # the wait in the body as in Retry-After, as the 503s say it (it said neither,
            # and "its rate of 1 requests a minute")
            what = f" (this batch counts as {count:,})" if count > 1 else ""
            retry = throttle.retry_after(wait)
            raise AnswerError(429, f"Key {key.name!r} is over its rate of "
                                   f"{counted(key.rate_per_minute, 'request')} a minute"
                                   f"{what}; retry in {retry} s.", retry_after=retry)

    def _take(self, key: keys.ApiKey, count: int, paid: int = 0) -> float:
        """`count` tokens from the key's bucket: 0, or the seconds until they are there."""
        try:
            return self.rates.take(key.name, key.rate_per_minute, count, paid)
        except throttle.RatesUnavailable as err:
            log.warning("scoring service: %s", err)
            raise AnswerError(503, "The rate limiter shared by the service's workers "
                                   "cannot be read; retry shortly.") from None

    async def _watched(self, request: Request, outcome: Outcome,
                       fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a thread (a batch), stopped between its items once the client
        hangs up: a 1,000-item suggest batch computes for minutes, holding an in-flight
        slot and the compute slots, and a client that timed out and retried started
        another one each time."""
        work = asyncio.ensure_future(self.in_thread(fn, *args))
        while not (await asyncio.wait({work}, timeout=DISCONNECT_CHECK_S))[0]:
            if await request.is_disconnected():
                outcome.abandoned = True
                break
        return await work

    async def _read_json(self, request: Request) -> Any:
        """The body as JSON, read within `body_timeout_s`: the request holds one of the
        in-flight slots while its body arrives, and 32 clients that stopped sending
        theirs half-way held every slot, the service answering everyone else 503."""
        limit = self.settings.max_body_bytes
        too_large = body_too_large(limit)
        chunks, size = [], 0
        seconds = self.settings.body_timeout_s
        try:
            async with asyncio.timeout(seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            raise AnswerError(408, f"The body did not arrive within {seconds:g} s "
                                   f"({size:,} bytes came); send it whole.") from None
        except ClientDisconnect:  # was logged as a bug, with its trace, and counted a 500
            raise AnswerError(499, f"The client closed the connection before its body "
                                   f"arrived whole ({size:,} bytes came).") from None
        body = b"".join(chunks)
        refuse_charset(request, body)
        if len(body) > DECODE_ON_LOOP_BYTES:
            # a 2.7 MB batch of keywords holding colons is read again by the standard
            # library (`decode_json`): 160 ms on the event loop, every client waiting
            return await self.in_thread(decode_json, body)
        return decode_json(body)

    def _batch_answer(self, state: Served, payload: dict, outcome: Outcome
                      ) -> tuple[int, dict]:
        if set(payload) != {"items"}:
            raise AnswerError(422, "A batch body has only `items`; put the other fields "
                                   "into each item.")
        items = payload["items"]
        if not isinstance(items, list) or not 1 <= len(items) <= answers.MAX_ITEMS:
            given = (f"{len(items):,} items" if isinstance(items, list)
                     else answers.json_type(items))
            raise AnswerError(422, f"field `items`: must be an array of 1 to "
                                   f"{answers.MAX_ITEMS:,} objects, not {given}")
        outcome.items = len(items)
        results = self._batch(state, items, outcome)
        return 200, EncodedBatch(results)

    def _batch(self, state: Served, items: list, outcome: Outcome) -> list[dict]:
        """Item by item: parse, pick the variant, use the cache; fingerprints that are not
        cached are computed together per model (pasted keywords folded in at once)."""
        results: list[dict | None] = [None] * len(items)
        pending: dict[str, list[tuple[int, Query, str, Any]]] = {}
        lookups = {}
        for i, raw in enumerate(items):
            outcome.check_client()
            try:
                query = answers.parse_query(outcome.endpoint, raw, f"items.{i}")
            except AnswerError as err:
                results[i] = item_error(i, err, outcome)
                continue
            variant, lookup, cache_key, cached = self._route(state, query, outcome)
            if cached is not None:
                results[i] = {"index": i, "status": 200, "model_id": lookup.model_id,
                              "variant": variant, **cached.answer}
            elif outcome.endpoint == "fingerprint":
                lookups[lookup.model_id] = lookup
                pending.setdefault(lookup.model_id, []).append((i, query, variant, cache_key))
            else:
                try:
                    computed = self._compute(lookup, outcome.endpoint, query, cache_key,
                                             outcome.cache_generation)
                except AnswerError as err:
                    results[i] = item_error(i, err, outcome)
                    continue
                assert computed is not None  # it waits for its compute slot
                results[i] = {"index": i, "status": 200, "model_id": lookup.model_id,
                              "variant": variant, **computed.answer}
        for model_id, group in pending.items():
            outcome.check_client()
            lookup = lookups[model_id]
            with self.compute:
                computed = answers.fingerprint_many(lookup, [q for _, q, _, _ in group])
            for (i, _, variant, cache_key), answer in zip(group, computed, strict=True):
                if isinstance(answer, AnswerError):
                    results[i] = item_error(i, answer, outcome)
                    continue
                cached = CachedAnswer(answer)
                self.cache.put(cache_key, cached, outcome.cache_generation, cached.size)
                results[i] = {"index": i, "status": 200, "model_id": model_id,
                              "variant": variant, **answer}
        answered = [r for r in results if r is not None]
        tally = collections.Counter(r["variant"] for r in answered if r["status"] == 200)
        for variant, count in tally.items():     # answers given, counted once per batch
            self._count(variant, count)
        return answered

    def _route(self, state: Served, query: Query, outcome: Outcome):
        """The variant and model for a query, its cache key and cached answer (or None).
        The caller counts the variant once the answer is given (`_count`)."""
        variant, lookup = state.pick(canary.sticky_key(query.campaign_id, query.keywords),
                                     query.campaign_id)
        cache_key = query.cache_key(outcome.endpoint, lookup.model_id)
        cached = self.cache.get(cache_key)
        outcome.served_by(variant, lookup.model_id, cached is not None)
        return variant, lookup, cache_key, cached

    def _count(self, variant: str, answers_: int) -> None:
        with self._count_lock:
            self.variant_counts[variant] = self.variant_counts.get(variant, 0) + answers_
        self.metrics.variant_items.labels(variant).inc(answers_)

    def _compute(self, lookup: Lookup, endpoint: str, query: Query, cache_key: tuple,
                 generation: int, wait: bool = True,
                 variant: str | None = None) -> CachedAnswer | None:
        """Answer one query that was not cached, and cache it unless the cache was cleared
        since `generation`. `wait=False` (on the event loop): None at once when every
        compute slot is taken, as the loop must never wait. `variant`: the one request's,
        whose body is then encoded with the answer (a batch item has none)."""
        if not self.compute.acquire(blocking=wait):
            return None
        try:
            cached = CachedAnswer(answers.answer(lookup, endpoint, query),
                                  None if variant is None else (lookup.model_id, variant))
        finally:
            self.compute.release()
        self.cache.put(cache_key, cached, generation, cached.size)
        return cached

    def _feedback(self, state: Served, payload: Any, outcome: Outcome) -> tuple[int, dict]:
        body = answers.parse_feedback(payload)
        try:
            review.check_neighbor_pair(body.campaign_id, body.neighbor_id)
        except InputError as err:
            raise AnswerError(422, f"field `neighbor_id`: {err}") from None
        # The model that served (and serves) this campaign: the same sticky choice.
        variant, lookup = state.pick(canary.sticky_key(body.campaign_id), body.campaign_id)
        outcome.served_by(variant, lookup.model_id)
        for field_name in ("campaign_id", "neighbor_id"):
            campaign_id = getattr(body, field_name)
            if campaign_id not in lookup.index.position_:
                raise AnswerError(404, f"field `{field_name}`: campaign {campaign_id!r} is "
                                       f"not scored under model {lookup.model_id}.")
        assert outcome.key is not None
        queued = self.writer.put(Feedback(lookup.model_id, body.campaign_id, body.neighbor_id,
                                          body.useful, outcome.key.name, outcome.key.role))
        if not queued:
            raise AnswerError(503, "Feedback cannot be taken right now (the store is busy "
                                   "and the queue is full); retry shortly.")
        # `queued`, not `recorded`: the writer adds it within about a flush interval, and
        # drops it should the model be deleted meanwhile (`request_log._write`).
        return 202, {"queued": True, "model_id": lookup.model_id, "variant": variant,
                     "campaign_id": body.campaign_id, "neighbor_id": body.neighbor_id,
                     "useful": body.useful}

    def _finish(self, outcome: Outcome, status: int, body: dict | bytes | EncodedBatch,
                headers: dict[str, str]) -> Response:
        seconds = time.perf_counter() - outcome.started
        if status >= 400 and isinstance(body, dict):
            body = {**body, "request_id": outcome.request_id}
        model = outcome.model_header
        self.metrics.requests.labels(outcome.endpoint, str(status), model).inc()
        self.metrics.latency.labels(outcome.endpoint).observe(seconds)
        entries = outcome.log_entries(status, seconds * 1000)
        if outcome.key is None and self.unkeyed_log.take() > 0:
            self.unlogged += len(entries)   # counted in /metrics, as every request is
        else:
            for entry in entries:
                self.writer.put(entry)
        headers = {**headers, "X-Request-Id": outcome.request_id, "X-Model-Id": model,
                   "X-Variant": ", ".join(outcome.variants) or "none"}
        if isinstance(body, EncodedBatch):
            if len(body.blocks) > 1:     # written block by block, as the client reads them
                return StreamingResponse(body.stream(), status_code=status, headers={
                    **headers, "Content-Length": str(body.size)}, media_type="application/json")
            body = body.blocks[0]
        if not isinstance(body, bytes):
            body = encode(body)
        return Response(body, status_code=status, headers=headers,
                        media_type="application/json")


def item_error(index: int, err: AnswerError, outcome: Outcome) -> dict:
    """A batch item's error, shaped as a request's error body (`error` and `request_id`,
    `Gateway._finish`) with its index and status: the request id was only in the
    response's header, so a client that logs failed items one by one lost it."""
    return {"index": index, "status": err.status, "error": err.message,
            "request_id": outcome.request_id}


class CachedAnswer:
    """One answer as the cache keeps it: the plain values (for batches) and, per variant,
    the response body encoded once (a cache hit sends these bytes: no dict copy, no JSON
    encoding)."""

    __slots__ = ("_encoded", "answer", "size")

    def __init__(self, answer: dict, served: tuple[str, str] | None = None) -> None:
        self.answer = answer
        self._encoded: dict[tuple[str, str], bytes] = {}
        # About what it holds, for the cache's byte budget: its values took 1.5 times their
        # JSON (200 neighbours: 159 KB for 109 KB), and a single request's body is kept
        # encoded too. `served` (model id, variant) of a single request: the body it sends
        # is encoded now and sized, rather than the values encoded once more only to size
        # them (0.2 ms for 200 rows); a batch item's values are encoded to size them.
        body = self.encoded(*served) if served else encode(answer)
        self.size = len(body) * 5 // 2

    def encoded(self, model_id: str, variant: str) -> bytes:
        body = self._encoded.get((model_id, variant))
        if body is None:
            body = self._encoded[(model_id, variant)] = encode(
                {"model_id": model_id, "variant": variant, **self.answer})
        return body


class EncodedBatch:
    """A batch's answer, `{"items": […], "count": n, "failed": f}` as `encode` writes it,
    encoded item by item in the batch's thread and kept in blocks of about `ANSWER_BLOCK`
    bytes. A 1,000-item batch of 200 neighbours each (105 MB) was encoded by one orjson
    call on the event loop (which holds the GIL throughout) and written at once, copied
    whole into the transport's buffer: every other client waited 0.35-1.3 s. Between
    items the thread lets the loop run, and the loop writes one block at a time."""

    __slots__ = ("blocks", "size")

    def __init__(self, results: list[dict]) -> None:
        failed = sum(r["status"] != 200 for r in results)
        self.blocks: list[bytes] = []
        parts, pending = [b'{"items":['], 0
        for i, result in enumerate(results):
            part = encode(result)
            parts.append(b"," + part if i else part)
            pending += len(part)
            if pending >= ANSWER_BLOCK:
                self.blocks.append(b"".join(parts))
                parts, pending = [], 0
        parts.append(b'],"count":%d,"failed":%d}' % (len(results), failed))
        self.blocks.append(b"".join(parts))
        self.size = sum(map(len, self.blocks))

    async def stream(self):
        """The blocks, each let go once written (the answer is not held twice)."""
        while self.blocks:
            yield self.blocks.pop(0)


def decode_json(body: bytes) -> Any:
    """A request body's JSON, refusing an object that repeats a key: the last value won
    without a word (`{"n": 3, "n": 50}` was 50 neighbours). orjson reads it but cannot
    say whether a key repeated, and json.loads with a hook that checks took 4x orjson's
    time on a 1,000-item batch of stored campaigns (0.40 against 0.10 ms). So the
    standard library reads it again only when the body has more colons than the keys
    read (0.14 ms): every key is followed by one colon, so as many colons as keys means
    no key was dropped (a colon inside a string, e.g. in a keyword, costs the re-read)."""
    if (found := containers(body)) > MAX_CONTAINERS:
        raise AnswerError(422, f"The body holds {found:,} JSON objects and arrays; a valid "
                               f"one holds at most {2 + 2 * answers.MAX_ITEMS:,} (the body, "
                               "`items`, and per item an object and its `keywords`), so it "
                               "is refused unread.")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:  # what orjson refuses (NaN, lone surrogates)
        return _standard_json(body)
    if body.count(b":") != _keys_read(payload):
        _standard_json(body)        # refuses a repeated key; the values are orjson's
    return payload


def containers(body: bytes) -> int:
    """How many objects and arrays the JSON text opens, read with numpy, which lets go of
    the GIL: 4 MB of `[]` or `{"a":{}}` took orjson 0.65-1.6 s holding it, the event
    loop answering nobody meanwhile, though no valid body holds more than 2,002. Up to
    `MAX_CONTAINERS` `{` and `[` bytes, their count (cheap; brackets inside strings
    too); past it, the bytes are scanned and brackets inside strings left out (exact for
    any valid JSON: keywords such as `[exact match]` do not count)."""
    brackets = body.count(b"{") + body.count(b"[")
    if brackets <= MAX_CONTAINERS:
        return brackets
    data = np.frombuffer(body, dtype=np.uint8)
    quotes = data == 0x22
    if b"\\" in body:     # a quote after an odd run of backslashes is inside its string
        at = np.flatnonzero(quotes)
        plain = np.maximum.accumulate(np.where(data != 0x5C, np.arange(len(data)), -1))
        run = at - 1 - plain[np.maximum(at - 1, 0)]
        quotes[at[(run % 2 == 1) & (at > 0)]] = False
    outside = np.cumsum(quotes, dtype=np.int64) % 2 == 0
    return int(np.count_nonzero(((data == 0x7B) | (data == 0x5B)) & outside))


def _keys_read(payload: Any) -> int:
    """The keys of the body's object and of the objects in its `items` (the only objects
    a valid body holds; any other makes the count short, so `decode_json` re-reads)."""
    if not isinstance(payload, dict):
        return 0
    items = payload.get("items")
    inner = sum(len(i) for i in items if isinstance(i, dict)) if isinstance(items, list) else 0
    return len(payload) + inner


class _RepeatedKey(ValueError):
    """An object of the body gives the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def refuse_other_utf(body: bytes) -> None:
    """A body in UTF-16 or UTF-32 (with or without a byte-order mark), which the standard
    library reads by guessing the encoding from its first bytes (`json.detect_encoding`):
    such bodies were answered, though JSON on the wire must be UTF-8 (RFC 8259 §8.1). A
    UTF-8 byte-order mark is tolerated (the RFC lets a parser ignore it): read as absent.
    The guess looks only at where the first four bytes hold NULs, so bytes that are no
    text in the encoding guessed (binary data, NUL-led garbage) are named as not UTF-8,
    not as UTF-16/32 text (`not_utf8`)."""
    encoding = json.detect_encoding(body)
    if encoding in ("utf-8", "utf-8-sig"):
        return
    if not reads_as_json_text(body, encoding):
        raise not_utf8(body)
    name = encoding.upper()
    mark = "with" if name in ("UTF-16", "UTF-32") else "no"
    raise AnswerError(422, f"The body is {name} text ({mark} byte-order mark), and JSON "
                           "must be UTF-8 (RFC 8259): send its text as UTF-8.")


def reads_as_json_text(body: bytes, encoding: str) -> bool:
    """Whether the body is text in `encoding` that JSON could be: it decodes, starts as a
    JSON value does (the guess assumes an ASCII first character), and holds no control
    character JSON never has unescaped (U+0000-U+001F but tab, LF and CR)."""
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        return False
    start = text.lstrip(" \t\n\r")[:1]
    return bool(start) and start in _JSON_STARTS and _JSON_CONTROL.search(text) is None


def not_utf8(body: bytes) -> AnswerError:
    """The 422 of a body that is no UTF-8 text: the first byte UTF-8 cannot read, or, for
    bytes that read as UTF-8, the first NUL (JSON text never holds one: binary data)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        return AnswerError(422, f"The body is not UTF-8 (byte {body[err.start]:#04x} at "
                                f"position {err.start:,}), and JSON must be UTF-8 (RFC "
                                "8259): send its text as UTF-8.")
    nul = body.find(b"\0")
    return AnswerError(422, f"The body is not UTF-8 text: it holds a NUL byte (at position "
                            f"{nul:,}), as binary data does and JSON text never does; send "
                            "JSON as UTF-8 text (RFC 8259).")


def _standard_json(body: bytes) -> Any:
    """The body as the standard library reads it, refusing a repeated key by name (and any
    encoding but UTF-8, which it would have guessed and read)."""
    refuse_other_utf(body)
    if not body.strip():   # was "not valid JSON (Expecting value: line 1 column 1 (char 0))"
        raise AnswerError(422, "The body is empty" + (" but for white space" if body else "")
                          + ": send a JSON object, such as {\"campaign_id\": \"C00042\"}.")
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey as err:
        raise AnswerError(422, f"The body gives the key {quoted(err.args[0])} twice in one "
                               "object, and only one value can count; send each field "
                               "once.") from None
    except UnicodeDecodeError:
        raise not_utf8(body) from None
    except ValueError as err:
        raise AnswerError(422, f"The body is not valid JSON ({err}).") from None
    except RecursionError:  # orjson stops at 1,024 levels, json.loads at ~1,000 frames
        raise AnswerError(422, "The body is not valid JSON (nested too deeply).") from None


def batch_size(payload: Any) -> int:
    """The items of a well-formed batch body (the checks of `Gateway._batch_answer`), else 1."""
    if not isinstance(payload, dict) or set(payload) != {"items"}:
        return 1
    items = payload["items"]
    return len(items) if isinstance(items, list) and 1 <= len(items) <= answers.MAX_ITEMS \
        else 1


def inline(endpoint: str, query: Query) -> bool:
    """Whether a query not in the cache is answered on the event loop itself rather than in
    a thread: one fingerprint or neighbours query, of a stored campaign or of at most
    `INLINE_KEYWORDS` keywords and `INLINE_CHARACTERS` characters (words spaCy has not seen
    are tokenised there; ~2 and ~4 ms of CPU at 100,000 campaigns). Handing those
    to a thread cost more than the answer (the loop and the threads trading the GIL): at
    concurrency 8, one worker, 100,000 campaigns, stored neighbours took 4.0 ms of service
    CPU a request in threads and 2.9 ms on the loop, pasted keywords 9.5 and 5.1 ms.
    Suggest (~200 ms), batches, feedback and long keyword lists stay in threads, and so
    does a query that finds every compute slot taken (`Gateway._compute`)."""
    keywords = query.keywords
    return endpoint != "suggest" and (keywords is None or (
        len(keywords) <= INLINE_KEYWORDS and sum(map(len, keywords)) <= INLINE_CHARACTERS))


def encode(body: dict) -> bytes:
    """An answer as JSON bytes, with orjson: the same values as `json.dumps` (floats in
    their shortest exact form, UTF-8 unescaped) in a tenth of the time — a 1,000-item
    batch's 50,000 weights took ~25 ms with the standard library. Answers hold no NaN
    (`answers.plain`); a numpy number is written as its value, as `json.dumps` wrote a
    numpy float."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def one_api_key(request: Request) -> str | None:
    """The request's X-API-Key, refused when the header comes more than once: the first
    was used silently, so a proxy adding its own key (or a client's default beside a
    per-call one) decided which key was charged and which role applied."""
    given = request.headers.getlist("x-api-key")
    if len(given) > 1:
        raise AnswerError(400, f"The X-API-Key header is sent {len(given)} times; send it "
                               "once, with one key.")
    return given[0] if given else None


def body_too_large(limit: int) -> AnswerError:
    """The 413 of a body over `limit` bytes, said or found as it arrives, in the unit
    `TOPICLAB_SERVICE_MAX_BODY_MB` sets it in (`body_limit_text`): the default was
    "larger than 4,096 KiB", a figure no setting or page names."""
    return AnswerError(413, f"The body is larger than the service's limit of "
                            f"{body_limit_text(limit)}; send fewer items per batch.")


def body_limit_text(limit: int) -> str:
    """`limit` bytes as `TOPICLAB_SERVICE_MAX_BODY_MB` sets it: "4 MB", "0.3 MB" (MB of
    2**20 bytes, as every `_MB` setting counts them; the setting's 0.3 is 314,572 bytes,
    said back as 0.3); a limit under 0.1 MB (tests set a few kB) in bytes."""
    megabytes = limit / 2**20
    if megabytes >= 0.1:
        return f"{megabytes:,.0f} MB" if megabytes >= 1000 else f"{megabytes:.4g} MB"
    return f"{limit:,} bytes"


def refuse_body_headers(request: Request, limit: int) -> None:
    """What the headers alone show about the body, before a token is taken and the body
    read: it is no JSON (`refuse_media_type`), it is compressed (gzip was read as text:
    "not valid JSON"), or it says it is larger than `limit` bytes."""
    refuse_media_type(request)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise AnswerError(415, f"The body is sent with Content-Encoding {encoding!r}, "
                               "which the service does not read; send it uncompressed.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit)


def refuse_media_type(request: Request) -> None:
    """A body its Content-Type says is no JSON is refused (415) naming the type: `curl -d
    'a=b'` sends `application/x-www-form-urlencoded`, and such a body was read as JSON.
    No Content-Type at all is read as JSON, as FastAPI reads a JSON body (and as most
    JSON APIs do): the body says what it is, and a client that sends none declares no
    other type. Two charsets declared are refused (`declared_charset`); which one is
    read is `refuse_charset`'s."""
    for given in request.headers.getlist("content-type"):
        media_type = given.split(";", 1)[0].strip()
        if media_type and media_type.lower() != JSON_MEDIA_TYPE:
            raise AnswerError(415, f"The body is sent as Content-Type {quoted(media_type)}, "
                                   f"but the service reads only {JSON_MEDIA_TYPE} (with or "
                                   "without charset=utf-8): send the body as JSON, with "
                                   f"Content-Type: {JSON_MEDIA_TYPE}.")
    declared_charset(request)


def declared_charset(request: Request) -> str:
    """The one charset the request's Content-Type declares (`utf-8` when it names none,
    as JSON's media type has no charset parameter and means UTF-8), refused (400) when its
    Content-Type headers, or one header's parameters, declare two different ones: only
    the first was read, so `charset=utf-8` then `charset=latin-1` sent a Latin-1 body
    that was read as UTF-8 without a word."""
    declared: dict[str, str] = {}      # the charset as compared -> as it was sent
    for given in request.headers.getlist("content-type") or [""]:
        named = _CHARSET.findall(given) or ["utf-8"]
        for name in named:
            declared.setdefault(_charset_name(name), name)
    if len(declared) > 1:
        *first, last = map(quoted, declared.values())
        raise AnswerError(400, f"The Content-Type declares {len(declared)} charsets, "
                               f"{', '.join(first)} and {last} (a header "
                               "without one means utf-8), and only one can be read; send "
                               "one Content-Type: application/json, with charset=utf-8 or "
                               "no charset.")
    return next(iter(declared))


def _charset_name(name: str) -> str:
    """A charset as Python's codecs name it (`UTF8`, `utf-8` are one: `utf-8`), else as
    sent in lower case."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def refuse_charset(request: Request, body: bytes) -> None:
    """A body its Content-Type says is in another charset than UTF-8 (`charset=latin-1`),
    and holding bytes beyond ASCII, where the two differ: JSON is UTF-8 (RFC 8259), so
    reading it as UTF-8 would garble its text or fail (was a 422 `not valid JSON ('utf-8'
    codec can't decode byte 0xe9 …)` that named neither the charset nor UTF-8)."""
    found = _CHARSET.search(request.headers.get("content-type", ""))
    charset = found.group(1).lower() if found else "utf-8"
    # A NUL byte is ASCII, but never in UTF-8 JSON (it must be escaped): a `charset=utf-16`
    # body of ASCII text (`{\0"\0…`) passed as if it read alike, and was decoded as UTF-16.
    if charset not in _UTF8_NAMES and not (body.isascii() and b"\0" not in body):
        raise AnswerError(415, f"The body is sent as charset={charset} (its Content-Type), "
                               "but JSON must be UTF-8 (RFC 8259): send its text as UTF-8, "
                               "with charset=utf-8 or no charset.")


def refuse_query_string(request: Request) -> None:
    """A POST's query string is refused: only the JSON body is read, and
    `/v1/neighbors?n=2` answered 10 neighbours without a word."""
    if request.url.query:
        raise AnswerError(400, f"The query string {quoted(request.url.query)} is not read: "
                               "the service reads only the JSON body, so put those fields "
                               "there.")


def request_id(request: Request) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; models load when it starts (the lifespan), not at import."""
    gateway = Gateway(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(gateway.start)
        try:
            yield
        finally:
            await asyncio.to_thread(gateway.stop)

    # redirect_slashes=False: `/v1/neighbors/` was a 307 to `/v1/neighbors`, which many
    # clients do not follow for a POST (or follow without the body); now a 404 naming the
    # path without the slash (`http_error`).
    app = FastAPI(title="Topic Lab scoring service", version=API_VERSION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, redirect_slashes=False,
                  description="Fingerprints, neighbours and suggestions of ad campaigns. "
                              "Send your key in the X-API-Key header.")
    app.state.gateway = gateway

    def route(endpoint: str) -> Callable:
        async def handler(request: Request) -> Response:
            return await gateway.handle(request, endpoint)
        handler.__name__ = endpoint
        handler.__doc__ = _DOCS[endpoint]
        return handler

    for endpoint in (*answers.ENDPOINTS, "feedback"):
        app.add_api_route(f"/{API_VERSION}/{endpoint}", route(endpoint), methods=["POST"],
                          openapi_extra=_OPENAPI_BODY[endpoint])

    def _plain_headers(state: Served, rid: str) -> dict[str, str]:
        """The headers every answer has (docs/service.md): here the production model's, as no
        canary choice was made (X-Variant was missing)."""
        production = state.model_ids[0]
        return {"X-Request-Id": rid, "X-Model-Id": production or "none",
                "X-Variant": canary.PRODUCTION if production else "none"}

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        """The process is up (it may not have a model yet: see /readyz); `worker` is its
        process id (with --workers N, N processes answer); `problem`: why a model an alias
        names is not served (None when all are)."""
        state = gateway.holder.state
        problem = gateway.starting()[0] if state.starting else state.problem
        return JSONResponse({"status": "ok", "worker": os.getpid(), "problem": problem},
                            headers=_plain_headers(state, request_id(request)))

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        """200 when a production model is loaded and answering, 503 (with why) when not;
        `canary_percent`: the share the candidate gets now (0 without a candidate served),
        `canary_percent_set`: the share `canary set` stored, `canary_set_for`: the
        candidate it was stored for (it applies only while that model is the candidate)."""
        state = gateway.holder.state
        production, candidate = state.model_ids
        body = {"ready": state.ready, "production": production, "candidate": candidate,
                "canary_percent": state.canary_share,
                "canary_percent_set": state.canary_percent,
                "canary_set_for": state.canary_for, "problem": state.problem,
                "worker": os.getpid()}
        rid = request_id(request)
        headers = _plain_headers(state, rid)
        if state.starting:
            body["problem"], retry = gateway.starting()
            headers["Retry-After"] = str(retry)
        elif not state.ready:
            body["problem"] = state.problem or NO_PRODUCTION
        if not state.ready:   # an error body as every other (it had neither `error` nor id)
            body.update(error=f"Not ready: {body['problem']}.", request_id=rid)
        return JSONResponse(body, status_code=200 if state.ready else 503, headers=headers)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        return Response(generate_latest(gateway.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST,
                        headers=_plain_headers(gateway.holder.state, request_id(request)))

    # HEAD too: load balancers and uptime checkers probe with HEAD (it was a 405). Left out
    # of /openapi.json, where a second operation of the same id made FastAPI warn.
    for path, endpoint in (("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)):
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        rid = request_id(request)
        path = request.url.path
        routes = {getattr(r, "path", None) for r in app.routes}
        hint = (f"; the endpoint is {path.rstrip('/')}, without the trailing slash."
                if path.endswith("/") and path.rstrip("/") in routes else
                "; see /openapi.json.")
        # 405: the methods the path takes, said and in `Allow` (RFC 9110 requires it; the
        # header Starlette set was dropped, and the message did not say to use POST)
        allowed = sorted({m for r in app.routes if getattr(r, "path", None) == path
                          for m in getattr(r, "methods", None) or ()})
        message = {404: f"No endpoint {path}{hint}",
                   405: f"{request.method} is not allowed on {path}; use "
                        f"{' or '.join(allowed)}."}
        headers = _plain_headers(gateway.holder.state, rid)
        if err.status_code == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        return JSONResponse({"error": message.get(err.status_code, str(err.detail)),
                             "request_id": rid}, status_code=err.status_code,
                            headers=headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, err: Exception) -> Response:
        rid = request_id(request)
        log.exception("scoring service: unhandled error (request %s)", rid, exc_info=err)
        return JSONResponse({"error": INTERNAL_ERROR, "request_id": rid}, status_code=500,
                            headers=_plain_headers(gateway.holder.state, rid))

    return app


_DOCS = {
    "fingerprint": "Topic weights and top topics (with names) of a stored campaign "
                   "(`campaign_id`) or of pasted `keywords`, with the unknown words of "
                   "pasted ones (a stored campaign's `unknown_words` and `unknown` are "
                   "null: not read, as that costs ~150x this lookup; /v1/suggest lists "
                   "them). Batch: `{\"items\": […]}`.",
    "neighbors": "The `n` most similar stored campaigns with similarity and performance, as "
                 "the CLI's `neighbors`; filters `exclude_account`, `min_terms` and "
                 "`min_similarity` (those below it left out, the rest marked "
                 "`similar_enough` at it; by default none left out, marked at 0.60).",
    "suggest": "Suggested actions with their evidence and the unknown words, as the CLI's "
               "`suggest`.",
    "feedback": "Record whether a suggested neighbour was useful, against the model that "
                "serves that campaign. Needs an account_manager or data_scientist key.",
}

def _query_schema(endpoint: str) -> dict:
    """The JSON schema of one query to `endpoint`: /v1/fingerprint's without the fields it
    refuses (`answers.parse_query`), which the API description listed as accepted."""
    schema = Query.model_json_schema()
    if endpoint == "fingerprint":
        for name in answers.NEIGHBOR_FIELDS:
            schema["properties"].pop(name)
    return schema


def _body_schema(endpoint: str) -> dict:
    """One query, or a batch of them (`{"items": […]}`)."""
    query = _query_schema(endpoint)
    batch = {"type": "object", "required": ["items"], "additionalProperties": False,
             "properties": {"items": {"type": "array", "minItems": 1,
                                      "maxItems": answers.MAX_ITEMS, "items": query}}}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"oneOf": [query, batch]}}}}}


_OPENAPI_BODY = {
    **{e: _body_schema(e) for e in answers.ENDPOINTS},
    "feedback": {"requestBody": {"required": True, "content": {"application/json": {
        "schema": FeedbackBody.model_json_schema()}}}},
}


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          announce: Callable[[], None] | None = None) -> None:
    """Run the service with uvicorn until interrupted (Ctrl-C / SIGTERM). `announce` (the
    CLI's "scoring service on http://…" line) is called once the settings and the address
    are checked: called first, it said the service was on an address it then refused."""
    import uvicorn

    os.environ.pop(RATES_FILE_ENV, None)   # one worker: its buckets in memory
    Settings.from_env()  # a bad TOPICLAB_SERVICE_* number: one line here, not in each worker
    check_address(host, port)
    if announce is not None:
        announce()
    # Concurrency comes from requests in threads (and workers), not from BLAS threads inside
    # one answer: both at once oversubscribe the cores. Env for spawned workers, the call
    # for this process (numpy is loaded already).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    threadpool_limits(1)
    # proxy_headers=False: nothing reads the client's address, and uvicorn's X-Forwarded-*
    # middleware ran on every request.
    if workers <= 1:
        uvicorn.run("core.serve.service:create_app", factory=True, host=host, port=port,
                    log_level="warning", access_log=False, proxy_headers=False)
        return
    # uvicorn.run's own multi-worker path, with one fix: uvicorn 0.54 binds the shared
    # socket with protocol 0, so asyncio never sets TCP_NODELAY on the connections it
    # accepts, and every keep-alive request after the first waited ~40 ms for the
    # client's delayed ACK (Kludex/uvicorn#3149; measured: a cache hit took 44 ms with
    # 2 workers, 0.6 ms with 1). The same descriptor as a socket object reads its
    # protocol (TCP) from the kernel.
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("core.serve.service:create_app", factory=True, host=host,
                            port=port, workers=workers, log_level="warning",
                            access_log=False, proxy_headers=False)
    # The workers (each builds its own app: the factory, imported by name in each process)
    # share the keys' buckets in a file of this run, gone when it stops: a worker
    # uvicorn restarts finds the buckets as they were.
    with tempfile.TemporaryDirectory(prefix="topiclab-serve-") as folder:
        rates_file = str(Path(folder) / "rates.sqlite")
        throttle.SharedRateLimiter.create(rates_file)
        os.environ[RATES_FILE_ENV] = rates_file
        try:
            with suppress(KeyboardInterrupt):
                Multiprocess(config, sockets=[bind_tcp(config)]).run()
        finally:
            os.environ.pop(RATES_FILE_ENV, None)


def check_address(host: str, port: int) -> None:
    """Refuse an address the service cannot listen on before uvicorn starts: a host that
    does not resolve (`--host 'bad host'`) or a port another process holds printed
    uvicorn's log line, the poller's "now serving …", a nanobind leak report, and exit 3."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise InputError(f"--host {host!r} is not an address this machine can listen on "
                         f"({getattr(err, 'strerror', None) or err}); use 127.0.0.1 (this "
                         "machine only), 0.0.0.0 (every interface) or a name that "
                         "resolves") from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as err:
            held = (" (another process listens there: stop it, or pick another --port)"
                    if err.errno == errno.EADDRINUSE else "")
            raise InputError(f"cannot listen on {host_port(host, port)}: {err.strerror}{held}"
                             ) from None


def host_port(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 address in brackets (`[::1]:8000`; was
    `http://::1:8000`, which no client reads)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def bind_tcp(config: Any) -> socket.socket:
    """uvicorn's `config.bind_socket()`, as a socket that knows it is TCP (see `serve`),
    so the connections it accepts get TCP_NODELAY."""
    bound = config.bind_socket()
    sock = socket.socket(fileno=bound.detach())
    sock.set_inheritable(True)
    return sock
