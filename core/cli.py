"""`python -m core …`: the same pipeline as the app, headless, for schedulers and CI.

Every command prints JSON on stdout (strict JSON: NaN and infinities become null), or
with `--format csv` the bytes of the app's CSV download. A problem the user can fix
prints `error: <message>` on stderr and exits 1; progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import TopicLabError

COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace], Any]):
        COMMANDS[name] = fn
        return fn
    return register


@dataclass(frozen=True)
class CsvOutput:
    """What a command returns to print CSV bytes (`core.export`) instead of JSON."""

    data: bytes


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf, also numpy's) and missing marker
    (pd.NA, NaT) turned into None, and numpy scalars into Python ones, so that
    `json.dumps(..., allow_nan=False)` never fails nor prints the invalid `NaN`."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    import numpy as np
    import pandas as pd
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, (datetime.date, datetime.time)):
        return None if value is pd.NaT else str(value)  # as before: default=str
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def to_json(payload: Any) -> str:
    """Strict JSON text of a command's result (anything unknown printed as its text)."""
    return json.dumps(json_safe(payload), indent=2, default=str, ensure_ascii=False,
                      allow_nan=False)


class UsageError(TopicLabError):
    """A command-line argument that is missing or out of range (printed as `error: …`)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error: …` line and exit 1, like every other
    fixable problem (argparse's own default is a usage dump and exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def whole(minimum: int, maximum: int = 1_000_000) -> Callable[[str], int]:
    """An argparse `type=` for a whole number in [minimum, maximum]; the message names
    the value, argparse adds the argument's name."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be from {minimum:,} to {maximum:,}, not {value:,}")
        return value
    return parse


def number(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type=` for a finite number in [minimum, maximum] (no nan or inf)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum:g} to {maximum:g}, "
                                             f"not {text}")
        return value
    return parse


def emit(payload: Any) -> None:
    if isinstance(payload, CsvOutput):
        sys.stdout.flush()
        sys.stdout.buffer.write(payload.data)
        sys.stdout.buffer.flush()
        return
    print(to_json(payload))


def progress_line(done: int, total: int, message: str = "") -> None:
    """A progress line on stderr, rewritten in place on a terminal."""
    end = "\r" if sys.stderr.isatty() and done < total else "\n"
    pct = 100 * done / total if total else 100
    print(f"[{pct:5.1f}%] {message}", end=end, file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------------

@command("ingest")
def _ingest(args: argparse.Namespace) -> Any:
    from core import ingest
    return ingest.import_paths(args.paths, args.dataset, encoding=args.encoding).to_dict()


@command("datasets")
def _datasets(args: argparse.Namespace) -> Any:
    from core import datasets
    return datasets.list_versions(args.name).to_dict(orient="records")


@command("sql")
def _sql(args: argparse.Namespace) -> Any:
    from core import sandbox
    result = sandbox.run_query(args.query, keep_spare=False)
    return {"rows": len(result.frame), "truncated": result.truncated, "capped": result.notice,
            "seconds": round(result.seconds, 4), "data": result.frame.to_dict(orient="records")}


@command("demo")
def _demo(args: argparse.Namespace) -> Any:
    from core import demo
    path = demo.write(args.out or demo.DEFAULT_PATH, n_campaigns=args.campaigns, seed=args.seed,
                      shift=args.shift)
    return {"path": str(path), "campaigns": args.campaigns, "shift": args.shift}


@command("init")
def _init(args: argparse.Namespace) -> Any:
    from core import bootstrap
    return bootstrap.ensure_demo(train_model=not args.no_train, progress=progress_line)


# --- models -------------------------------------------------------------------------------

def _spec(args: argparse.Namespace):
    from core.text import TextConfig
    from core.train import TrainSpec

    params = {}
    for name in ("alpha", "eta", "iterations", "passes", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    if getattr(args, "spark_master", None):
        params["master"] = args.spark_master
    text = TextConfig(language=args.language) if args.language else TextConfig()
    extra = {"sample": args.sample} if getattr(args, "sample", None) is not None else {}
    return TrainSpec(dataset=args.dataset, version=args.version, engine=args.engine,
                     k=getattr(args, "k", 20), params=params, text=text, **extra)


@command("train")
def _train(args: argparse.Namespace) -> Any:
    from core import train
    result = train.train(_spec(args), progress_line)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return result.to_dict()


@command("sweep")
def _sweep(args: argparse.Namespace) -> Any:
    from core import sweep
    alphas = [_number_or_text(a) for a in args.alphas] if args.alphas else None
    return sweep.sweep(_spec(args), args.ks, seeds=args.seeds, alphas=alphas,
                       progress=progress_line).to_dict()


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


@command("models")
def _models(args: argparse.Namespace) -> Any:
    from core import metrics, registry
    table = registry.list_models(args.dataset)
    records = table.drop(columns=["params", "timings"]).to_dict(orient="records")
    for record in records:  # poor scores explained in words
        record["notes"] = metrics.explain(record["metrics"])
    return records


@command("topics")
def _topics(args: argparse.Namespace) -> Any:
    from core import carry, naming, registry
    model = registry.load(registry.resolve(args.model_id))
    topics = naming.describe(model, n_words=args.words)
    new = carry.new_topics(model, topics)
    return {"model_id": model.model_id, "topics": [
        {"topic": t.topic, "name": t.name, "automatic_name": t.automatic,
         "label": t.label, "carried_from": t.carried_from, "confirmed": t.confirmed,
         **({"new": t.topic in new} if new is not None else {}),
         "top_words": t.words, "relevant_words": t.relevant_words} for t in topics]}


@command("label-topic")
def _label_topic(args: argparse.Namespace) -> Any:
    from core import registry
    model_id = registry.resolve(args.model_id)
    registry.set_topic_label(model_id, args.topic, args.name)
    return {"model_id": model_id, "topic": args.topic, "name": args.name}


@command("promote")
def _promote(args: argparse.Namespace) -> Any:
    from core import deploy
    return deploy.promote(args.model_id, args.alias, progress_line,
                          other_dataset=args.other_dataset)


@command("delete-model")
def _delete_model(args: argparse.Namespace) -> Any:
    from core import registry
    registry.delete(args.model_id)
    return {"deleted": args.model_id}


@command("score")
def _score(args: argparse.Namespace) -> Any:
    if args.engine == "spark":
        from core import spark_engine
        return spark_engine.score(args.model_id, progress_line, master=args.spark_master)
    from core import score
    return score.score_dataset(args.model_id, progress_line)


# --- lookup -------------------------------------------------------------------------------

def _lookup(args: argparse.Namespace):
    from core.lookup import Lookup
    return Lookup(args.model)


@command("find")
def _find(args: argparse.Namespace) -> Any:
    return _lookup(args).search(args.text, args.limit).to_dict(orient="records")


@command("fingerprint")
def _fingerprint(args: argparse.Namespace) -> Any:
    from core import registry, score
    if args.campaign_id and (args.text or args.file):
        raise TopicLabError("give a campaign id, --text or --file, not several")
    keywords = None if args.campaign_id else _keywords_from(args)  # bad input fails fast
    model = registry.load(registry.resolve(args.model))
    names = registry.topic_names(model)
    if keywords is None:
        stored = score.load_fingerprints(model.model_id)
        i = stored.index_of(args.campaign_id)
        weights, oov, unknown = stored.weights[i], float(stored.oov_share[i]), []
    else:
        fp = score.fold_in(model, keywords)
        weights, oov, unknown = fp.weights, fp.oov_share, fp.unknown_tokens
        report = fp.unknown_report()
    order = sorted(range(len(weights)), key=lambda t: -weights[t])
    return {"model_id": model.model_id, "campaign_id": args.campaign_id,
            "oov_share": round(oov, 4), "unknown_words": unknown,
            **({} if args.campaign_id else {"unknown": report}),
            "fingerprint": [round(float(w), 5) for w in weights],
            "top_topics": [{"topic": t, "name": names[t], "weight": round(float(weights[t]), 4)}
                           for t in order[:5]]}


def _keywords_from(args: argparse.Namespace) -> list[str]:
    from core import encodings, files, score
    if args.file:  # a regular file within the import limit, decoded as imports are
        text, warnings = encodings.decode(files.read_limited(args.file), args.file)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    elif args.text is not None:
        text = args.text
    else:
        raise TopicLabError("give a campaign id, --text \"kw1, kw2\" or --file PATH")
    return score.split_keywords(text)


@command("neighbors")
def _neighbors(args: argparse.Namespace) -> Any:
    if args.format == "csv" and len(args.campaign_ids) > 1:
        raise TopicLabError("--format csv writes one campaign's neighbours (as the Lookup "
                            "page's download does); give one campaign id per call")
    lookup = _lookup(args)
    for campaign_id in args.campaign_ids:
        lookup.check(campaign_id)
    if args.format == "csv":
        from core import export
        return CsvOutput(export.csv_bytes(lookup.neighbors(
            args.campaign_ids[0], args.n, exclude_account=args.exclude_account,
            min_terms=args.min_terms, min_similarity=args.min_similarity)))
    return [{"campaign_id": cid, "model_id": lookup.model_id,
             "min_similarity": args.min_similarity,
             "neighbors": lookup.neighbors(cid, args.n, exclude_account=args.exclude_account,
                                           min_terms=args.min_terms,
                                           min_similarity=args.min_similarity
                                           ).to_dict(orient="records")}
            for cid in args.campaign_ids]


@command("suggest")
def _suggest(args: argparse.Namespace) -> Any:
    keywords = None if args.campaign_id else _keywords_from(args)  # bad input fails fast
    lookup = _lookup(args)
    if keywords is None:
        result = lookup.campaign(args.campaign_id, args.n, min_similarity=args.min_similarity)
    else:
        result = lookup.keywords(keywords, args.n, min_similarity=args.min_similarity)
    if args.format == "csv":
        from core import actions, export
        return CsvOutput(export.csv_bytes(actions.to_frame(result.suggestions.actions)))
    return {"model_id": lookup.model_id, **result.to_dict(lookup.topic_names)}


@command("ngrams")
def _ngrams(args: argparse.Namespace) -> Any:
    from core import ngrams
    return ngrams.report(args.campaign_id, args.account, dataset=args.dataset,
                         version=args.version, top=args.top)


@command("map")
def _map(args: argparse.Namespace) -> Any:
    from core import campaign_map
    result = campaign_map.campaign_map(args.model_id)
    clusters = result.clusters.to_dict(orient="records")
    if args.clusters:
        return clusters
    return {"model_id": result.model_id, "campaigns": result.total,
            "drawn": len(result.points), "method": result.method, "cached": result.cached,
            "note": result.note, "clusters": clusters,
            "points": result.points[["campaign_id", "x", "y", "topic", "cluster"]]
            .to_dict(orient="records")}


# --- lifecycle ----------------------------------------------------------------------------

@command("pipeline")
def _pipeline(args: argparse.Namespace) -> Any:
    from core import pipeline
    overrides = {"engine": args.engine} if args.engine else {}
    if args.spark_master:
        overrides["params"] = {"master": args.spark_master}
    return pipeline.run(args.dataset, args.paths, tolerance=args.tolerance,
                        overrides=overrides or None, progress=progress_line,
                        log=lambda line: print(line, file=sys.stderr))


@command("drift")
def _drift(args: argparse.Namespace) -> Any:
    from core import drift
    return drift.check(args.dataset, args.version, args.model).to_dict()


@command("audit")
def _audit(args: argparse.Namespace) -> Any:
    from core import audit
    return audit.entries(args.limit, args.action).to_dict(orient="records")


# --- scoring service --------------------------------------------------------------------

@command("serve")
def _serve(args: argparse.Namespace) -> Any:
    from core import service
    if not 1 <= args.port <= 65535 or args.workers < 1:
        raise TopicLabError("--port must be 1-65535 and --workers at least 1")
    print(f"Topic Lab scoring service on http://{args.host}:{args.port} "
          f"({args.workers} worker(s)); Ctrl-C stops it.", file=sys.stderr, flush=True)
    service.serve(args.host, args.port, args.workers)
    return {"stopped": f"http://{args.host}:{args.port}"}


@command("keys")
def _keys(args: argparse.Namespace) -> Any:
    from core import keys
    if args.keys_command == "create":
        return keys.create(args.name, args.role, args.rate)
    if args.keys_command == "revoke":
        return keys.revoke(args.name)
    return keys.list_keys().to_dict(orient="records")


@command("canary")
def _canary(args: argparse.Namespace) -> Any:
    from core import canary
    if args.canary_command == "set":
        return canary.set_percent(args.percent)
    return {"canary_percent": canary.get_percent()}


def _add_training_args(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    from core.engines import DEFAULT_ENGINE, ENGINES

    p.add_argument("--dataset", required=True)
    p.add_argument("--version", type=whole(1, 2**31 - 1),
                   help="dataset version (default: the latest)")
    p.add_argument("--engine", default=DEFAULT_ENGINE, choices=sorted(ENGINES))
    if not sweep:
        p.add_argument("--k", type=int, default=20, help="number of topics")
        p.add_argument("--seed", type=whole(0, 2**31 - 1))
        p.add_argument("--alpha", type=_number_or_text)
    p.add_argument("--eta", type=float)
    p.add_argument("--iterations", type=int)
    p.add_argument("--passes", type=int, help="gensim only")
    p.add_argument("--language", choices=["auto", "en", "ja"])
    p.add_argument("--sample", type=int,
                   help="campaigns the metrics are measured on when there are more "
                        "(default 20000)")
    _add_spark_master(p)


def _add_spark_master(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spark-master", help="Spark master URL for --engine spark (default: "
                                          "$TOPICLAB_SPARK_MASTER, else local[*])")


def _add_floor_arg(p: argparse.ArgumentParser, default: float | None = None) -> None:
    from core.neighbors import MIN_SIMILARITY
    if default is None:
        p.add_argument("--min-similarity", type=number(0.0, 1.0), default=MIN_SIMILARITY,
                       help=f"learn only from neighbours at or above this similarity "
                            f"(default {MIN_SIMILARITY}, measured by "
                            "bench/similarity_floor.py)")
    else:
        p.add_argument("--min-similarity", type=number(0.0, 1.0), default=default,
                       help=f"leave out neighbours below this similarity (default {default}; "
                            f"{MIN_SIMILARITY} is the floor suggested actions use)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core",
                                     description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="import files or folders as a new dataset version")
    p.add_argument("paths", nargs="+", help="CSV/TSV/Parquet files, Google Ads exports, folders")
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--encoding", default="auto",
                   help="encoding of text files without a byte-order mark, e.g. utf-8, "
                        "cp932 (Shift-JIS), euc_jp, cp1252 (Latin-1); default: auto, which "
                        "reads UTF-8 or a checked guess and refuses when unsure")

    p = sub.add_parser("datasets", help="list dataset versions")
    p.add_argument("name", nargs="?", help="only this dataset")

    p = sub.add_parser("sql", help="run one read-only SQL query against the store")
    p.add_argument("query")

    p = sub.add_parser("train", help="train one model and register it")
    _add_training_args(p)

    p = sub.add_parser("sweep", help="train a grid of K (and alpha) × seeds, pick the best")
    _add_training_args(p, sweep=True)
    p.add_argument("--ks", type=int, nargs="+", required=True, help="values of K")
    p.add_argument("--seeds", type=whole(0, 2**31 - 1), nargs="+", default=[0, 1])
    p.add_argument("--alphas", nargs="+", help="alpha values to try as well")

    p = sub.add_parser("models", help="list registered models with aliases and metrics")
    p.add_argument("--dataset")

    p = sub.add_parser("topics", help="each topic's id, name and top words")
    p.add_argument("model_id", nargs="?", default="production", help="id or alias")
    p.add_argument("--words", type=whole(1, 1000), default=10)

    p = sub.add_parser("label-topic", help="name a topic")
    p.add_argument("model_id")
    p.add_argument("topic", type=int)
    p.add_argument("name")

    p = sub.add_parser("promote", help="point an alias at a model (production is scored)")
    p.add_argument("model_id")
    p.add_argument("--alias", default="production", choices=["production", "candidate"])
    p.add_argument("--other-dataset", action="store_true",
                   help="confirm replacing a production model of another dataset")

    p = sub.add_parser("delete-model", help="delete a model (never the production one)")
    p.add_argument("model_id")

    p = sub.add_parser("score", help="batch-score a model's dataset (default: production)")
    p.add_argument("model_id", nargs="?")
    p.add_argument("--engine", choices=["local", "spark"], default="local",
                   help="where to fold the campaigns in (spark: in Spark tasks)")
    _add_spark_master(p)

    p = sub.add_parser("find", help="campaigns whose id or name contains TEXT")
    p.add_argument("text")
    p.add_argument("--limit", type=whole(1), default=20)
    p.add_argument("--model", help="model id or alias (default: production)")

    p = sub.add_parser("fingerprint", help="a campaign's topic fingerprint, stored or folded in")
    p.add_argument("campaign_id", nargs="?")
    p.add_argument("--text", help='keywords of a new campaign: "kw1, kw2, …"')
    p.add_argument("--file", help="a text file with one keyword per line")
    p.add_argument("--model", help="model id or alias (default: production)")

    p = sub.add_parser("neighbors", help="most similar campaigns, one JSON object per id")
    p.add_argument("campaign_ids", nargs="+")
    p.add_argument("-n", type=whole(1), default=10)
    p.add_argument("--exclude-account", action="store_true",
                   help="leave out campaigns of the same account")
    p.add_argument("--min-terms", type=whole(0), default=0, help="neighbours need this many terms")
    _add_floor_arg(p, default=0.0)
    p.add_argument("--model", help="model id or alias (default: production)")
    p.add_argument("--format", choices=["json", "csv"], default="json",
                   help="csv: the Lookup page's neighbours download (one campaign id)")

    p = sub.add_parser("suggest", help="suggested actions with their evidence")
    p.add_argument("campaign_id", nargs="?")
    p.add_argument("--text", help='keywords of a new campaign: "kw1, kw2, …"')
    p.add_argument("--file", help="a text file with one keyword per line")
    p.add_argument("-n", type=whole(1), default=10, help="neighbours to learn from")
    _add_floor_arg(p)
    p.add_argument("--model", help="model id or alias (default: production)")
    p.add_argument("--format", choices=["json", "csv"], default="json",
                   help="csv: the Lookup page's actions download")

    p = sub.add_parser("ngrams", help="1-3 word fragments of a campaign's or an account's "
                       "search terms, and the wasteful ones as safe negatives")
    p.add_argument("campaign_id", nargs="?")
    p.add_argument("--account", help="every campaign of this account together")
    p.add_argument("--dataset", help="dataset name (default: the default dataset)")
    p.add_argument("--version", type=int, help="dataset version (default: newest)")
    p.add_argument("--top", type=int, default=50, help="costliest fragments listed")

    p = sub.add_parser("map", help="campaign map (2-D projection, cached with the model) "
                       "and clusters of campaigns")
    p.add_argument("model_id", nargs="?", help="model id or alias (default: production)")
    p.add_argument("--clusters", action="store_true",
                   help="print only the clusters (size, top topics, median rates)")

    p = sub.add_parser("pipeline", help="import → train → evaluate → gate → promote → score")
    p.add_argument("--dataset", required=True)
    p.add_argument("--from", dest="paths", nargs="+", metavar="PATH",
                   help="files or folders to import first as a new version")
    p.add_argument("--tolerance", type=number(0, 2), default=0.02,
                   help="how much lower NPMI than production still promotes")
    from core.engines import ENGINES
    p.add_argument("--engine", choices=sorted(ENGINES),
                   help="train with this engine (default: the dataset's saved settings)")
    _add_spark_master(p)

    p = sub.add_parser("drift", help="drift of a dataset version against the production model")
    p.add_argument("--dataset", required=True)
    p.add_argument("--version", type=whole(1, 2**31 - 1), help="default: the latest")
    p.add_argument("--model", help="model id or alias (default: production)")

    p = sub.add_parser("audit", help="the audit log, newest first")
    p.add_argument("--limit", type=whole(1), default=100)
    p.add_argument("--action", help="only this action (import, train, promote, …)")

    p = sub.add_parser("demo", help="write a synthetic demo corpus (e.g. a drifted next month)")
    p.add_argument("--out", help="Parquet file to write (default: the committed demo corpus)")
    p.add_argument("--campaigns", type=whole(1), default=3000)
    p.add_argument("--seed", type=whole(0, 2**31 - 1), default=7)
    p.add_argument("--shift", type=number(0, 1), default=0.0,
                   help="0 = the committed corpus; up to 1 = a strongly changed next month")

    p = sub.add_parser("init", help="import the demo corpus (and train a production model) "
                                    "when the store is empty")
    p.add_argument("--no-train", action="store_true", help="only import the demo corpus")

    p = sub.add_parser("serve", help="run the scoring service (HTTP/JSON API) with uvicorn")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=whole(1, 65535), default=8000)
    p.add_argument("--workers", type=whole(1, 64), default=1,
                   help="worker processes (each has its own cache, rates and metrics)")

    p = sub.add_parser("keys", help="API keys of the scoring service")
    keys_sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = keys_sub.add_parser("create", help="make a key and print it once")
    k.add_argument("name")
    k.add_argument("--role", default="account_manager",
                   choices=["scorer", "account_manager", "data_scientist"],
                   help="scorer keys only read answers; feedback needs account_manager+")
    k.add_argument("--rate", type=int, default=600, help="requests per minute")
    keys_sub.add_parser("list", help="every key, without secrets")
    k = keys_sub.add_parser("revoke", help="revoke a key for good")
    k.add_argument("name")

    p = sub.add_parser("canary", help="share of service traffic sent to the candidate model")
    canary_sub = p.add_subparsers(dest="canary_command", required=True, metavar="ACTION")
    c = canary_sub.add_parser("set", help="send PERCENT of traffic to the candidate (0 = off)")
    c.add_argument("percent", type=float)
    canary_sub.add_parser("show", help="the current share")
    return parser


def clean_at_start() -> None:
    """Remove what a crashed save left in the models folder (see core.orphans)."""
    from core import orphans
    orphans.clean()


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from core import auth
        auth.set_user(auth.local_user())  # explicit: core has no default user
        if args.command != "demo":  # the only command that does not use the store
            clean_at_start()
        emit(COMMANDS[args.command](args))
    except TopicLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0
