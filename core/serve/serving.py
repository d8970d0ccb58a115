"""What the scoring service serves, reloaded while it runs.

`Served` is an immutable snapshot: the loaded production and candidate models (with their
topic names and brand index), the canary share and the active API keys. A request takes
the current snapshot once, at its start, and uses it to the end, so a request in flight
finishes on the model it started with.

A background poller looks every `poll_s` (0.5 s) at the store's serving-generation file,
which every transaction that moves an alias, changes the canary share, a key, a topic
name, a brand list or a dataset's currency replaces after its commit
(`store.mark_serving_change`): a tiny file read, no connection, so the poller never keeps
the store's lock busy. When it changed — or, every `full_check_s` (10 s), when the store
file itself changed (a change made some other way) — it reads the aliases, the canary
share, the keys, the topic names, the brand lists and the currencies on one short
read-only connection, loads any new model while the old snapshot keeps answering, and
swaps in the new snapshot with one assignment. So a promotion is served within about
poll_s plus the new model's load time (none when it was the loaded candidate). A store
that is busy is skipped until the next round; a production model that cannot be loaded
(whatever the error: a damaged folder raises the libraries' own) leaves the previous one
serving, a candidate none (the canary is off: never the old candidate answering as the
new one), with the reason kept for /healthz, /readyz and /metrics. It is tried again
after `full_check_s`, then twice as long each time up to `RETRY_CAP_S` (10 minutes), and
at once when a file in its folder changes (it was every full check: seconds of CPU and a
warning every 10 s at 100,000 campaigns).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core import config
from core.data import store
from core.errors import StoreBusyError, TopicLabError
from core.serve import brand_lists, canary, keys, registry
from core.serve.lookup import Lookup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One consistent view of what answers requests."""

    production: Lookup | None = None
    candidate: Lookup | None = None
    canary_percent: float = 0.0
    keys: dict[str, keys.ApiKey] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    problem: str | None = None            # why a model the aliases name is not served
    unloaded: dict[str, str] = field(default_factory=dict)  # alias -> model it names, not served
    loaded_at: float = field(default_factory=time.time)
    starting: bool = False                # before the poller's first read: nothing known yet
    canary_for: str | None = None         # the candidate `canary set` stored the share for

    @property
    def ready(self) -> bool:
        return self.production is not None

    @property
    def canary_share(self) -> float:
        """The share of traffic the candidate gets now: the configured one while the
        candidate it was set for is loaded, else 0 (`pick` sends it all to production).
        /readyz showed the configured share after the candidate alias was cleared, as if
        the canary were on, and a pipeline moving the alias gave its model the share.
        Also 0 while the candidate is a model of another dataset than production's
        (production moved to another dataset after `canary set`): campaign ids name other
        campaigns there, and the candidate answered a share of traffic from them."""
        return self.canary_percent if self.candidate is not None \
            and self.candidate.model_id == self.canary_for \
            and (self.production is None
                 or self.candidate.dataset == self.production.dataset) else 0.0

    @property
    def model_ids(self) -> tuple[str | None, str | None]:
        return (self.production.model_id if self.production else None,
                self.candidate.model_id if self.candidate else None)

    def pick(self, sticky_key: str, campaign_id: str | None = None) -> tuple[str, Lookup]:
        """The variant and model for a request (candidate only when one is loaded and the
        canary is on). A stored campaign only one of them has scored goes to that one,
        whatever its bucket: a candidate trained on another version of the data (the
        pipeline's) lacks some of production's campaigns and has newer ones production
        lacks, and the canary turned lookups of either into 404s."""
        assert self.production is not None
        if self.canary_share <= 0:
            return canary.PRODUCTION, self.production
        chosen = canary.variant(sticky_key, self.canary_percent)
        if campaign_id is not None:
            if chosen == canary.CANDIDATE and not _scored(self.candidate, campaign_id):
                chosen = canary.PRODUCTION
            elif chosen == canary.PRODUCTION and not _scored(self.production, campaign_id) \
                    and _scored(self.candidate, campaign_id):
                chosen = canary.CANDIDATE
        return chosen, self.candidate if chosen == canary.CANDIDATE else self.production


def _scored(lookup: Lookup, campaign_id: str) -> bool:
    return campaign_id in lookup.index.position_


# What a request, /healthz and /readyz hear before the first read: a valid key was a 401
# "unknown or revoked" (the keys were not read yet) and /readyz said "no production model:
# train one and promote it" while it loaded (seconds at 100,000 campaigns).
# The gateway adds how long it has been loading and when to retry (`Gateway.starting`).
STARTING = "the service is starting: its models and keys are being loaded"


@dataclass(frozen=True)
class Polled:
    """What the poller compares between rounds."""

    aliases: dict[str, str]
    canary_percent: float
    keys: dict[str, keys.ApiKey]
    labels: dict[str, tuple]             # model id -> its topic names, as stored
    brands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # account -> phrases
    canary_for: str | None = None        # the model the share was set for
    currencies: dict[str, str] = field(default_factory=dict)  # dataset -> its cost's currency


def read_settings(wait_s: float) -> Polled:
    """Aliases, canary share, active keys, topic names, brand lists and the datasets'
    currencies (suggest's reasons quote amounts in them), on one read-only connection."""
    with store.connect(read_only=True, wait_s=wait_s) as con:
        aliases = dict(con.execute("SELECT alias, model_id FROM aliases").fetchall())
        labels: dict[str, list] = {}
        for model_id, topic, label in con.execute(
                "SELECT model_id, topic, label FROM topic_labels WHERE list_contains(?, "
                "model_id) ORDER BY model_id, topic", [list(aliases.values())]).fetchall():
            labels.setdefault(model_id, []).append((topic, label))
        stored = canary.read_stored(con)
        currencies = dict(con.execute("SELECT name, currency FROM dataset_currency").fetchall())
        return Polled(aliases, stored.percent, keys.active_keys(con),
                      {m: tuple(v) for m, v in labels.items()}, brand_lists.read_lists(con),
                      stored.set_for, currencies)


def store_signature() -> tuple:
    """(size, mtime) of the store file and its write-ahead log: any commit changes one of
    them (the service's own request log too, so this is only the slow safety net)."""
    path = str(config.db_path())
    signature = []
    for name in (path, path + ".wal"):
        try:
            st = os.stat(name)
            signature.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            signature.append(None)
    return tuple(signature)


def _refreshed(lookup: Lookup, renamed: bool, brands: dict[str, tuple[str, ...]] | None,
               currency: str | None) -> Lookup:
    """The same loaded model with its topic names read again (someone named a topic), its
    brand index built from new brand lists and/or its dataset's currency as now set: a
    shallow copy, so requests holding the old snapshot keep the old names and brands."""
    fresh = copy.copy(lookup)
    fresh.currency = currency
    if renamed:
        fresh.topic_names = registry.topic_names(lookup.model)
    if brands is not None:
        fresh.use_brand_lists(brands)
    return fresh


RETRY_CAP_S = 600.0   # a model that cannot load is tried again at most this far apart


@dataclass
class _Failure:
    """A model that could not be loaded: why, its folder then, and when to try again."""

    reason: str
    folder: tuple | None
    delay_s: float
    retry_at: float


def folder_signature(model_id: str) -> tuple | None:
    """(path, size, mtime) of every file in a model's folder (None: no folder). A repair,
    a restore or a rewrite changes it, so a model that could not be loaded is tried again
    at once then, not only when its back-off ends."""
    root = registry.model_dir(model_id)
    if not root.is_dir():
        return None
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):   # a file removed meanwhile
                st = os.stat(os.path.join(folder, name))
                found.append((os.path.relpath(os.path.join(folder, name), root),
                              st.st_size, st.st_mtime_ns))
    return tuple(sorted(found))


def load_failure(model_id: str, err: Exception) -> str:
    """Why `model_id` could not be loaded: our own errors say it; a damaged folder raises
    the libraries' own (a truncated counts.npz: `BadZipFile`), named with the folder."""
    if isinstance(err, TopicLabError):
        return str(err)
    return (f"its artifact in {registry.model_dir(model_id)} is damaged "
            f"({err.__class__.__name__}: {err})")


def _freeze_heap() -> None:
    """Move every object alive now (the loaded models: ~170,000 containers at 100,000
    campaigns) out of the garbage collector's sight. Each full collection walked them all
    (~0.12 s, holding the GIL) and answers that fill the cache trigger one every few
    batches; refcounting still frees a model that is dropped. Unfrozen and collected
    first, so the cycles of a model loaded before are freed at the next load."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelHolder:
    """Holds the current `Served` snapshot and keeps it up to date."""

    def __init__(self, poll_s: float = 0.5, wait_s: float = 1.0,
                 on_change: Callable[[Served, Served], None] | None = None,
                 full_check_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state = Served(problem=STARTING, starting=True)
        self._clock = clock                  # monotonic seconds (tests pass their own)
        self.poll_s, self.wait_s, self.full_check_s = poll_s, wait_s, full_check_s
        self.on_change = on_change
        self.reloads = 0                     # model changes after the first load
        self._settings = Polled({}, 0.0, {}, {})
        self._signature: tuple | None = None  # the store file when last read
        self._generation: str | None = None  # the serving-generation token when last read
        self._checked_at = float("-inf")       # last full check (monotonic)
        self.reads = 0                       # rounds that opened the store
        self._first_done = False
        self._failed: dict[str, _Failure] = {}   # models that could not be loaded
        self._lock = threading.Lock()        # one refresh at a time
        self._stop = threading.Event()
        self.first_round = threading.Event()   # set once the first load was tried
        self._thread: threading.Thread | None = None

    def refresh(self, force: bool = True) -> bool:
        """Read the settings and swap in a new snapshot if anything changed; True if so.
        Unless `force`, the store is opened only when the serving generation changed, or
        at a full check when the store file changed (or a model failed to load)."""
        with self._lock:
            old = self.state
            # Both stats before reading: a change committed meanwhile is seen next round.
            generation, signature = store.serving_generation(), store_signature()
            now = self._clock()
            if not force and generation == self._generation:
                if now - self._checked_at < self.full_check_s:
                    return False
                if signature == self._signature and not self._retry_due(old, now):
                    self._checked_at = now
                    return False
            try:
                settings = read_settings(self.wait_s)
            except StoreBusyError:
                return False
            self.reads += 1
            self._generation, self._signature, self._checked_at = generation, signature, now
            if settings == self._settings and not self._retry_due(old, now) \
                    and not old.starting:   # an empty store still ends the start
                return False
            renamed = {m for m in set(settings.labels) | set(self._settings.labels)
                       if settings.labels.get(m) != self._settings.labels.get(m)}
            brands = settings.brands if settings.brands != self._settings.brands else None
            loaded: dict[str, Lookup] = {}
            for lookup in (old.production, old.candidate):
                if lookup is None or lookup.model_id in loaded:
                    continue
                changed = lookup.model_id in renamed
                # `set_currency` (Explore): suggest's reasons quoted the old one until restart
                currency = settings.currencies.get(lookup.dataset)
                stale = changed or brands is not None or currency != lookup.currency
                loaded[lookup.model_id] = (_refreshed(lookup, changed, brands, currency)
                                           if stale else lookup)
            problems: dict[str, str] = {}
            aliases = settings.aliases
            production = self._load("production", aliases, loaded, old.production,
                                    problems, settings.brands)
            candidate = self._load("candidate", aliases, loaded, None, problems,
                                   settings.brands)
            self._failed = {m: f for m, f in self._failed.items() if m in aliases.values()}
            new = Served(production, candidate, settings.canary_percent, settings.keys,
                         aliases, "; ".join(problems.values()) or None,
                         {alias: aliases[alias] for alias in problems},
                         canary_for=settings.canary_for)
            self._settings = settings
            self.state = new                  # the swap: one reference assignment
            if any(lk is not None and lk is not old.production and lk is not old.candidate
                   for lk in (production, candidate)):
                _freeze_heap()
            if new.model_ids != old.model_ids and self._first_done:
                self.reloads += 1
            self._first_done = True
            if self.on_change:
                self.on_change(old, new)
            return True

    def _retry_due(self, state: Served, now: float) -> bool:
        """Whether a model the aliases name but that is not served should be tried again:
        its back-off ended or its folder changed. Each try reads the whole model (seconds
        of CPU at 100,000 campaigns) and logs a warning; it was every full check (10 s)."""
        for model_id in state.unloaded.values():
            failure = self._failed.get(model_id)
            if failure is None or now >= failure.retry_at or \
                    folder_signature(model_id) != failure.folder:
                return True
        return False

    def _load(self, alias: str, aliases: dict[str, str], loaded: dict[str, Lookup],
              previous: Lookup | None, problems: dict[str, str],
              brands: dict[str, tuple[str, ...]]) -> Lookup | None:
        """The model `alias` names, loaded; when it cannot be, `previous` (the one serving
        so far: production keeps answering; the candidate passes None, so a moved
        candidate alias never leaves the old candidate serving as if it were the new one)
        with the reason in `problems`. Any error counts: a damaged folder raises the
        libraries' own (a truncated counts.npz: `BadZipFile`), and one escaping here
        stopped every reload, keys and promotions included. A model that failed is tried
        again after `full_check_s`, then twice as long each time up to `RETRY_CAP_S`, or
        at once when its folder changes (`_retry_due`)."""
        model_id = aliases.get(alias)
        if model_id is None:
            return None
        if model_id in loaded:
            return loaded[model_id]
        failure, now = self._failed.get(model_id), self._clock()
        folder = folder_signature(model_id)
        waiting = failure is not None and now < failure.retry_at and folder == failure.folder
        if waiting:
            reason = failure.reason                # in its back-off: not read again
        else:
            try:
                lookup = Lookup(model_id)
                lookup.prepare_serving(brands)   # answers never read the store
                self._failed.pop(model_id, None)
                return lookup
            except Exception as err:
                reason = load_failure(model_id, err)
            delay = min(RETRY_CAP_S, failure.delay_s * 2) if failure and \
                folder == failure.folder else self.full_check_s
            self._failed[model_id] = _Failure(reason, folder, delay, now + delay)
        # the one serving so far, with this round's names and brands when it has them
        kept = loaded.get(previous.model_id, previous) if previous else None
        then = (f"still serving {kept.model_id}" if kept else
                "the canary is off: production answers every request"
                if alias == "candidate" else "nothing is served")
        problems[alias] = f"{alias} {model_id} cannot be loaded, {then}: {reason}"
        if not waiting:
            log.warning("scoring service: %s (tried again in %.0f s, or when its folder "
                        "changes)", problems[alias], self._failed[model_id].delay_s)
        return kept

    def start(self) -> None:
        """Start polling (the first round loads the models at once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="topiclab-model-poller",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling and give the heap `_freeze_heap` froze back to the collector:
        Python does not collect frozen objects as it exits, and DuckDB's bindings then
        printed a page of "nanobind: leaked 27 instances!" after every Ctrl-C of `serve`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        gc.unfreeze()

    def _run(self) -> None:
        """Load at once (the server already answers /healthz meanwhile), then poll."""
        try:  # the service writes (request log): make sure its tables exist
            store.ensure_schema()
        except TopicLabError as err:
            log.warning("scoring service: %s", err)
        while True:
            try:
                self.refresh(force=not self._first_done)
            except Exception:  # keep polling: the next round may succeed
                log.exception("scoring service: reload failed")
            self.first_round.set()
            if self._stop.wait(self.poll_s):
                return
