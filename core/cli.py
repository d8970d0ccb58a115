"""`python -m core …`: the same pipeline as the app, headless, for schedulers and CI.

Every command prints JSON on stdout (strict JSON: NaN and infinities become null), or
with `--format csv` the bytes of the app's CSV download. A problem the user can fix
prints `error: <message>` on stderr and exits 1; progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core import config, jsonable
from core.errors import InputError, TopicLabError, counted
from core.plain_text import given_id, hidden_pattern

Handler = Callable[[argparse.Namespace], Any]


# --- how a command is declared --------------------------------------------------------------
# A command is its handler plus the arguments it reads, declared together in one decorator;
# `build_parser` only assembles them. Arguments whose choices or defaults come from a core
# module (engines, the similarity floor) are given as a function that returns them, called
# when the parser is built, so that importing this module stays cheap.

@dataclass(frozen=True)
class Arg:
    """One `add_argument` call, kept beside the command that reads it."""

    flags: tuple[str, ...]
    options: dict[str, Any]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.options)


def arg(*flags: str, **options: Any) -> Arg:
    """`arg("--k", type=int, default=20)` is `parser.add_argument("--k", type=int, default=20)`."""
    return Arg(flags, options)


ArgSpec = Arg | Callable[[], Sequence[Arg]]  # a function: arguments built with the parser


@dataclass(frozen=True)
class Action:
    """A second-level word of a command (`keys create`, `canary show`) with its arguments."""

    name: str
    help: str
    args: tuple[ArgSpec, ...] = ()


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Handler
    args: tuple[ArgSpec, ...] = ()
    actions: tuple[Action, ...] = ()  # read by the handler as `args.<name>_command`
    uses_store: bool = True           # False: the stale-save clean-up at start is skipped


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, *args: ArgSpec, actions: Sequence[Action] = (),
            uses_store: bool = True) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `python -m core NAME`, taking the
    arguments `args` (in this order, as `--help` lists them)."""
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(name, help, fn, tuple(args), tuple(actions), uses_store)
        return fn
    return register


def _add_args(parser: argparse.ArgumentParser, specs: Sequence[ArgSpec]) -> None:
    for spec in specs:
        for one in ([spec] if isinstance(spec, Arg) else spec()):
            one.add_to(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every registered command, in the order they are declared."""
    parser = _Parser(prog="python -m core", description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help)
        _add_args(p, cmd.args)
        if cmd.actions:
            words = p.add_subparsers(dest=f"{cmd.name}_command", required=True,
                                     metavar="ACTION")
            for action in cmd.actions:
                _add_args(words.add_parser(action.name, help=action.help), action.args)
    return parser


@dataclass(frozen=True)
class CsvOutput:
    """What a command returns to print CSV bytes (`core.data.export`) instead of JSON."""

    data: bytes


def json_safe(value: Any) -> Any:
    """`value` ready for `json.dumps(..., allow_nan=False)` (`core.jsonable.plain`):
    dates as `str` prints them, objects it does not know left to `to_json`."""
    return jsonable.plain(value, other=lambda unknown: unknown)


def to_json(payload: Any) -> str:
    """Strict JSON text of a command's result (anything unknown printed as its text), with
    the hidden characters `json.dumps` leaves raw (C1 controls such as the one-byte CSI
    U+009B, zero-width and direction marks) escaped as `\\u009b`: it escapes only those
    below U+0020, and the text goes to a terminal."""
    text = json.dumps(json_safe(payload), indent=2, default=str, ensure_ascii=False,
                      allow_nan=False)
    if _plain_lines(text):
        return text
    # json.dumps escaped the ones below U+0020 in strings: what is left of them is the
    # layout's line breaks; the others can only be inside strings
    return hidden_pattern().sub(
        lambda m: m.group() if m.group() < " " else json.dumps(m.group()).strip('"'), text)


def _plain_lines(text: str) -> bool:
    """Whether every line of `text` is printable (str.isprintable, in C): then it holds no
    hidden character but its line breaks, and `hidden_pattern`'s Unicode table (~0.1 s to
    build) is not needed, as for most Japanese output."""
    return all(line.isprintable() for line in text.split("\n"))


def printable(text: str) -> str:
    """A message line for the terminal: control and invisible characters from a file or
    folder name, a cell or an argument written as escapes (`\\x1b`, `\\u200b`), so that
    an error or warning quoting them cannot recolour, retitle or clear the terminal; line
    breaks are kept."""
    if _plain_lines(text):
        return text
    return hidden_pattern().sub(
        lambda m: m.group() if m.group() == "\n" else
        m.group().encode("unicode_escape").decode("ascii"), text)


class UsageError(TopicLabError):
    """A command-line argument that is missing or out of range (printed as `error: …`)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error: …` line and exit 1, like every other
    fixable problem (argparse's own default is a usage dump and exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def integer(text: str) -> int:
    """An argparse `type=` for any whole number, in ASCII digits (`config.read_whole`):
    `type=int` read '٥' as 5."""
    try:
        return config.read_whole(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}"
                                         f"{config.digits_hint(text)}") from None


def real(text: str) -> float:
    """An argparse `type=` for any number, in ASCII (`config.read_number`); ranges are
    checked where the value is used."""
    try:
        return config.read_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}"
                                         f"{config.digits_hint(text)}") from None


def whole(minimum: int, maximum: int = 1_000_000) -> Callable[[str], int]:
    """An argparse `type=` for a whole number in [minimum, maximum]; the message names
    the value, argparse adds the argument's name."""
    def parse(text: str) -> int:
        try:
            value = config.read_whole(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}"
                                             f"{config.digits_hint(text)}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be from {minimum:,} to {maximum:,}, not {value:,}")
        return value
    return parse


def number(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type=` for a finite number in [minimum, maximum] (no nan or inf)."""
    def parse(text: str) -> float:
        try:
            value = config.read_number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}"
                                             f"{config.digits_hint(text)}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum:g} to {maximum:g}, "
                                             f"not {text}")
        return value
    return parse


def percent(text: str) -> float:
    """An argparse `type=` for a share in percent: `20` or `20%` (how a share is usually
    written; float() alone refused `50%` with "invalid float value"). The range is checked
    where the share is used, for the CLI and Python alike."""
    try:
        return config.read_number(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a percentage such as 20 or 20%, not {text!r}"
            f"{config.digits_hint(text)}") from None


def _number_or_text(value: str) -> float | str:
    try:
        return config.read_number(value)
    except ValueError:
        return value


def emit(payload: Any) -> None:
    """Print the answer and flush it, so a write that fails does so here, where `main`
    reports it: a block-buffered stdout (a file, without PYTHONUNBUFFERED) failed only at
    Python's flush at exit, "Exception ignored … OSError" and exit status 120."""
    if isinstance(payload, CsvOutput):
        sys.stdout.flush()
        sys.stdout.buffer.write(payload.data)
        sys.stdout.buffer.flush()
        return
    print(to_json(payload))
    sys.stdout.flush()


# Whether a progress line on the terminal waits to be rewritten (it ends in "\r").
_terminal = {"line_open": False}


def progress_line(done: int, total: int, message: str = "") -> None:
    """A progress line on stderr, rewritten in place on a terminal, where each erases the
    rest of the one before (ESC [K): "[100.0%] Saving the model…" showed "…d perplexity…"
    after it, left by the longer "Measuring coherence and perplexity…"."""
    pct = 100 * done / total if total else 100
    line = f"[{pct:5.1f}%] {printable(message)}"
    if not sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
        return
    _terminal["line_open"] = done < total
    if done < total:  # a line wider than the terminal wraps, and "\r" rewrote its last row
        line = cut_to_width(line, _terminal_columns() - 1)
    print(f"{line}\x1b[K", end="\r" if done < total else "\n", file=sys.stderr, flush=True)


def _terminal_columns() -> int:
    """The width of the terminal stderr writes to (80 when it cannot tell)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except OSError:
        return 80


def cut_to_width(text: str, columns: int) -> str:
    """`text` in at most `columns` terminal cells, ending in "…" when cut; East Asian wide
    characters (a Japanese dataset's name) take two cells."""
    import unicodedata

    widths = [2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text]
    if sum(widths) <= columns:
        return text
    used, kept = 1, 0   # the "…" takes one cell
    for width in widths:
        if used + width > columns:
            break
        used += width
        kept += 1
    return text[:kept] + "…"


def end_progress_line() -> None:
    """End a progress line left open on the terminal, so that an error after it is a line
    of its own (it was written over the progress line, and under a shorter error its
    tail stayed: "error: interrupted; nothing was written" ran on into "…30/30")."""
    if _terminal["line_open"]:
        _terminal["line_open"] = False
        print(file=sys.stderr, flush=True)


# --- arguments several commands share --------------------------------------------------------

SEED = whole(0, 2**31 - 1)
VERSION = whole(1, 2**31 - 1)
MODEL = arg("--model", help="model id or alias (default: production)")
DATASET = arg("--dataset", required=True, help="dataset name (`datasets` lists them)")
ENCODING_HELP = ("encoding of text files without a byte-order mark, e.g. utf-8, cp932 "
                 "(Shift-JIS), euc_jp, cp1252 (Latin-1); default: auto, which reads UTF-8 or "
                 "a checked guess and refuses when unsure")
KEYWORDS = (arg("--text", help='keywords of a new campaign: "kw1, kw2, …"'),
            arg("--file", help="a file of the new campaign's keywords: one per line, or "
                               "an export of one campaign (a Keyword Planner download, CSV "
                               "or Excel: its keyword column)"),
            arg("--encoding", help=f"for --file: {ENCODING_HELP}"))
SPARK_MASTER = arg("--spark-master", help="Spark master URL for --engine spark (default: "
                                          "$TOPICLAB_SPARK_MASTER, else local[*])")
EXPORT_DIR = arg("--export-dir", help="for --engine spark: where the Parquet exports and "
                                      "encoded counts live, a local folder or a Hadoop URI "
                                      "(default: $TOPICLAB_SPARK_EXPORT_DIR, else "
                                      "$TOPICLAB_HOME/parquet)")


def _export_dir(args: argparse.Namespace):
    """The command's `--export-dir` in force while it runs (only with the Spark engine;
    an engine left to the dataset's settings may be Spark)."""
    from core.data import spark_export
    location = getattr(args, "export_dir", None)
    if location is not None and args.engine not in (None, "spark"):
        raise TopicLabError(f"--export-dir is for --engine spark, not {args.engine}")
    return spark_export.chosen(location)


# `train` and `pipeline` fit a K no one chose the same way (`core.ops.train.train_fitted`)
K_HELP = ("number of topics (default: the dataset's saved settings, else what its campaigns "
          "and words hold at 3 and 10 per topic, at most 20, and 2/3 of that while its "
          "topics' diversity is below the floor 0.7)")


def _training_args(sweep: bool = False) -> Callable[[], list[Arg]]:
    """`train`'s and `sweep`'s arguments (a sweep takes K, seeds and alphas as lists)."""
    def build() -> list[Arg]:
        from core.model import shown_words
        from core.model.engines import DEFAULT_ENGINE, ENGINES
        from core.model.text import LANGUAGES
        single = [] if sweep else [
            arg("--k", type=integer, help=K_HELP),
            arg("--seed", type=SEED, help="random seed (default: the engine's)"),
            arg("--alpha", type=_number_or_text,
                help="document-topic prior (default: the engine's; gensim also takes "
                     "symmetric, asymmetric or auto)")]
        return [DATASET,
                arg("--version", type=VERSION, help="dataset version (default: the latest)"),
                arg("--engine", default=DEFAULT_ENGINE, choices=sorted(ENGINES),
                    help="default %(default)s"),
                *single,
                arg("--eta", type=real, help="topic-word prior (default: the engine's)"),
                arg("--iterations", type=integer,
                    help="training iterations (default: the engine's)"),
                arg("--passes", type=integer, help="gensim only"),
                arg("--spare-share", type=real,
                    help="tomotopy only: train this share of K more topics and keep the K "
                         "most coherent and distinct (0: exactly K)"),
                arg("--hidden-spares", action="store_true",
                    help="tomotopy only, with --spare-share: keep the spare topics hidden, "
                         "for similar campaigns only (the K shown are the same)"),
                arg("--diversify", action="store_true",
                    help="tomotopy only: merge topics that share top words and re-split "
                         "another, kept only if neither diversity nor NPMI falls and one rises"),
                arg("--shown-words", choices=list(shown_words.CHOICES),
                    help="the 10 words each topic shows: coherent (default: of its 20 most "
                         "probable, those most used together, from 1,000 training "
                         "campaigns) or its most probable"),
                arg("--language", choices=list(LANGUAGES),
                    help="tokenizer language (default auto: detected from the text)"),
                arg("--sample", type=integer,
                    help="campaigns the metrics are measured on when there are more "
                         "(default 20000)"),
                SPARK_MASTER, *([] if sweep else [EXPORT_DIR])]
    return build


def _floor_arg(default: float | None = None) -> Callable[[], list[Arg]]:
    """`--min-similarity`: by default the floor suggested actions use."""
    def build() -> list[Arg]:
        from core.model.neighbors import MIN_SIMILARITY
        if default is None:
            return [arg("--min-similarity", type=number(0.0, 1.0), default=MIN_SIMILARITY,
                        help=f"learn only from neighbours at or above this similarity "
                             f"(default {MIN_SIMILARITY}, measured by "
                             "bench/similarity_floor.py)")]
        return [arg("--min-similarity", type=number(0.0, 1.0), default=default,
                    help=f"leave out neighbours below this similarity, and mark those kept "
                         f"similar_enough (default {default}: all, marked at "
                         f"{MIN_SIMILARITY}, the floor suggested actions use)")]
    return build


def _engine_choice() -> list[Arg]:
    from core.model.engines import ENGINES
    return [arg("--engine", choices=sorted(ENGINES),
                help="train with this engine (default: the dataset's saved settings)")]


# --- data ---------------------------------------------------------------------------------

def _no_patterns(paths: Sequence[str] | None, reader: str) -> None:
    """A quoted `"exports/*.csv"` reaches the command unexpanded and said only "no such
    file or folder": named as a pattern, in `read_terms`' words (`files.check_not_a_pattern`)."""
    from core.data import files
    for path in paths or ():
        files.check_not_a_pattern(path, reader, "it without quotes",
                                  aside=" and a shell leaves a quoted one as it is")


@command("ingest", "import files or folders as a new dataset version",
         arg("paths", nargs="+", help="CSV/TSV/Parquet files, Google Ads or Microsoft "
             "Advertising reports, folders"),
         arg("--dataset", required=True, help="dataset name"),
         arg("--encoding", default="auto", help=ENCODING_HELP))
def _ingest(args: argparse.Namespace) -> Any:
    from core.data import ingest
    _no_patterns(args.paths, "ingest")
    return ingest.import_paths(args.paths, args.dataset, encoding=args.encoding).to_dict()


@command("datasets", "list dataset versions",
         arg("name", nargs="?", help="only this dataset"))
def _datasets(args: argparse.Namespace) -> Any:
    from core.data import datasets
    versions = datasets.list_versions(args.name)
    if args.name is not None and versions.empty:
        datasets.get(args.name)  # a typo is "No dataset named …, known: …", not []
    return versions.to_dict(orient="records")


@command("sql", "run one read-only SQL query against the store",
         arg("query", help='one SELECT statement, e.g. "SELECT * FROM campaigns LIMIT 5"'))
def _sql(args: argparse.Namespace) -> Any:
    from core.data import sandbox
    return sandbox.run_query(args.query, keep_spare=False).to_dict()


# --- models -------------------------------------------------------------------------------

# `train`'s and `sweep`'s options that only some engines take, by engine parameter.
_ENGINE_OPTIONS = {"passes": "--passes", "spare_share": "--spare-share",
                   "hidden_spares": "--hidden-spares", "diversify": "--diversify",
                   "master": "--spark-master"}


def _check_engine_options(engine: str, params: dict[str, Any]) -> None:
    """`--passes` with tomotopy named the engine's parameters as a Python list
    (['k', 'alpha', …, 'progress_every']); say which engines take the option instead."""
    from core.model.engines import ENGINES, engines_taking
    if engine not in ENGINES:
        return  # argparse's choices refused it already; make_engine names it otherwise
    for param, option in _ENGINE_OPTIONS.items():
        takers = engines_taking(param)
        if param in params and engine not in takers:
            raise TopicLabError(f"{option} is for {' or '.join(f'--engine {e}' for e in takers)}"
                                f", not {engine}")


def _spec(args: argparse.Namespace):
    from core.model.text import TextConfig
    from core.ops.train import TrainSpec

    params = {}
    for name in ("alpha", "eta", "iterations", "passes", "seed", "spare_share"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    if getattr(args, "spark_master", None):
        params["master"] = args.spark_master
    if getattr(args, "shown_words", None):
        params["shown_words"] = args.shown_words
    for flag in ("diversify", "hidden_spares"):
        if getattr(args, flag, False):
            params[flag] = True
    _check_engine_options(args.engine, params)
    text = TextConfig(language=args.language) if args.language else TextConfig()
    extra = {"sample": args.sample} if getattr(args, "sample", None) is not None else {}
    if getattr(args, "k", None) is not None:  # a sweep has --ks instead
        extra["k"] = args.k
    return TrainSpec(dataset=args.dataset, version=args.version, engine=args.engine,
                     params=params, text=text, **extra)


@command("train", "train one model and register it",
         _training_args())
def _train(args: argparse.Namespace) -> Any:
    from core.ops import train
    fitted = args.k is None and not train.has_saved_settings(args.dataset)
    if args.k is None:  # the K the pipeline and the Train page start from, not always 20
        args.k = train.saved_settings(args.dataset, args.version).k
    with _export_dir(args):  # a K no one chose is fitted to the data as the pipeline does
        result = (train.train_fitted if fitted else train.train)(_spec(args), progress_line)
    for tried in result.tries[1:]:
        print(f"note: {tried['retrained']}: trained K = {tried['k']} as well",
              file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    return result.to_dict()


@command("sweep", "train a grid of K (and alpha) × seeds, pick the best",
         _training_args(sweep=True),
         arg("--ks", type=integer, nargs="+",
             help="values of K (default: half the dataset's K, itself and half as much "
                  "again, as far as its campaigns hold them; the Train page offers the same)"),
         arg("--seeds", type=SEED, nargs="+", default=[0, 1],
             help="random seeds, each K trained once per seed (default 0 1)"),
         arg("--alphas", nargs="+", help="alpha values to try as well"))
def _sweep(args: argparse.Namespace) -> Any:
    from core.data import datasets
    from core.ops import sweep, train
    alphas = [_number_or_text(a) for a in args.alphas] if args.alphas else None
    ks = args.ks or sweep.suggested_ks(train.saved_settings(args.dataset, args.version).k,
                                       int(datasets.get(args.dataset, args.version).campaigns))
    return sweep.sweep(_spec(args), ks, seeds=args.seeds, alphas=alphas,
                       progress=progress_line).to_dict()


@command("models", "list registered models with aliases and metrics",
         arg("--dataset", help="only this dataset's models"))
def _models(args: argparse.Namespace) -> Any:
    from core.data import datasets
    from core.model import metrics
    from core.serve import registry
    table = registry.list_models(args.dataset)
    if args.dataset is not None and table.empty:
        datasets.get(args.dataset)  # a typo is "No dataset named …", not [] (no models)
    records = table.drop(columns=["params", "timings"]).to_dict(orient="records")
    for record in records:  # poor scores explained in words
        record["notes"] = metrics.explain(record["metrics"], record["k"])
    return records


@command("topics", "each topic's id, name and top words",
         arg("model_id", nargs="?", default="production", help="id or alias"),
         arg("--words", type=whole(1, 1000), default=10,
             help="top words listed per topic (default %(default)s)"))
def _topics(args: argparse.Namespace) -> Any:
    from core.ops import carry
    from core.serve import naming, registry
    model = registry.load(registry.resolve(args.model_id))
    topics = naming.describe(model, n_words=args.words)
    new = carry.new_topics(model, topics)
    return {"model_id": model.model_id, "topics": [
        {"topic": t.topic, "name": t.name, "automatic_name": t.automatic,
         "label": t.label, "carried_from": t.carried_from, "confirmed": t.confirmed,
         **({"new": t.topic in new} if new is not None else {}),
         "top_words": t.words, "relevant_words": t.relevant_words} for t in topics]}


@command("label-topic", "name a topic",
         arg("model_id", help="model id or alias"),
         arg("topic", type=integer, help="topic number (as `topics` lists them)"),
         arg("name", help='the name; "" removes it'))
def _label_topic(args: argparse.Namespace) -> Any:
    from core.serve import registry
    model_id = registry.resolve(args.model_id)
    stored = registry.set_topic_label(model_id, args.topic, args.name)
    # What was stored, not what was typed: "  " removed the name, " Roof " is "Roof".
    return {"model_id": model_id, "topic": args.topic, "name": stored or None,
            **({} if stored else {"removed": True})}


@command("promote", "point an alias at a model (production is scored)",
         arg("model_id", help="model id, or 'candidate'"),
         arg("--alias", default="production", choices=["production", "candidate"],
             help="default %(default)s"),
         arg("--other-dataset", action="store_true",
             help="confirm replacing a production model of another dataset"),
         arg("--force", action="store_true",
             help="promote to production even if the model does not pass the pipeline's "
                  "quality gate against the current production model"))
def _promote(args: argparse.Namespace) -> Any:
    from core.ops import deploy
    result = deploy.promote(args.model_id, args.alias, progress_line,
                            other_dataset=args.other_dataset, require_gate=not args.force)
    if result.warning:   # the first production model below the diversity floor
        print(f"warning: {printable(result.warning)}", file=sys.stderr)
    return result.to_dict()


@command("rebind", "a model's topics on another version of its dataset, as a new model "
                   "(scored; promote it to answer that version's campaigns)",
         arg("model_id", help="model id or alias"),
         arg("--version", type=VERSION, help="dataset version (default: the latest)"))
def _rebind(args: argparse.Namespace) -> Any:
    from core.ops import rebind
    return rebind.rebind(args.model_id, args.version, progress_line).to_dict()


@command("delete-model", "delete a model (never the production one)",
         arg("model_id", help="model id (not an alias)"))
def _delete_model(args: argparse.Namespace) -> Any:
    from core.ops import drift
    from core.serve import registry
    left = registry.delete(args.model_id)
    # committed: no report is recorded against it any more, so the count holds
    kept = drift.kept_reports(args.model_id)
    return {"deleted": args.model_id, **({"drift_reports_kept": kept} if kept else {}),
            **left.report()}


@command("score", "batch-score a model's dataset (default: production)",
         arg("model_id", nargs="?", help="model id or alias (default: production)"),
         arg("--engine", choices=["local", "spark"], default="local",
             help="where to fold the campaigns in (spark: in Spark tasks)"),
         SPARK_MASTER, EXPORT_DIR)
def _score(args: argparse.Namespace) -> Any:
    with _export_dir(args):  # refuses --export-dir without --engine spark
        if args.engine == "spark":
            from core.ops import spark_engine
            return spark_engine.score(args.model_id, progress_line,
                                      master=args.spark_master).to_dict()
        from core.serve import score
        return score.score_dataset(args.model_id, progress_line).to_dict()


# --- lookup -------------------------------------------------------------------------------

def _lookup(args: argparse.Namespace):
    from core.serve.lookup import Lookup
    return Lookup(args.model)


def _encoding_only_with_file(args: argparse.Namespace) -> None:
    """--encoding without --file (with --text, a campaign id or --account) would be ignored."""
    if args.encoding is not None and not args.file:
        raise TopicLabError("--encoding is the encoding of --file; give it with --file only")


def _keywords_from(args: argparse.Namespace) -> list[str]:
    from core.data import files
    from core.serve import keyword_files, score
    if args.file:  # a regular file within the import limit: an export, or a list
        keywords, warnings = keyword_files.keywords_of_file(
            files.read_limited(files.given_path(args.file), args.file), args.file,
            args.encoding)
        for warning in warnings:
            print(f"warning: {printable(warning)}", file=sys.stderr)
    elif args.text is not None:
        keywords = score.split_keywords(args.text)
    else:
        raise TopicLabError("give a campaign id, --text \"kw1, kw2\" or --file PATH")
    if not keywords:  # it was the Lookup page's "No keywords were given: paste one …"
        raise InputError(f"--file {args.file} holds no keyword: give one keyword per line"
                         if args.file else f"--text {args.text!r:.80} holds no keyword: give "
                         "keywords separated by commas, \"kw1, kw2\"")
    return keywords


@command("find", "campaigns whose id or name contains TEXT",
         arg("text", help="part of a campaign id, name or account"),
         arg("--limit", type=whole(1), default=20, help="campaigns listed (default %(default)s)"),
         MODEL)
def _find(args: argparse.Namespace) -> Any:
    lookup = _lookup(args)
    found = lookup.search(args.text, args.limit).to_dict(orient="records")
    data = f"{lookup.dataset} v{lookup.version}"
    if not args.text.strip():  # `find ""` listed campaigns unasked, `find zzz` said only []
        print(f"note: no text given: the first campaigns of {data}", file=sys.stderr)
    elif not found:
        print(f"note: no campaign id, name or account of {data} contains "
              f"{printable(repr(args.text))}", file=sys.stderr)
    return found


@command("fingerprint", "a campaign's topic fingerprint, stored or folded in",
         arg("campaign_id", nargs="?", help="a stored campaign (or --text / --file)"),
         *KEYWORDS, MODEL)
def _fingerprint(args: argparse.Namespace) -> Any:
    from core.serve import registry, score
    if args.campaign_id and (args.text or args.file):
        raise TopicLabError("give a campaign id, --text or --file, not several")
    _encoding_only_with_file(args)
    args.campaign_id = given_id(args.campaign_id)  # trimmed, as an import trims ids
    keywords = None if args.campaign_id else _keywords_from(args)  # bad input fails fast
    model = registry.load(registry.resolve(args.model))
    names = registry.topic_names(model)
    if keywords is None:
        stored = score.load_fingerprints(model.model_id)
        i = stored.index_of(args.campaign_id)
        weights, oov = stored.weights[i], float(stored.oov_share[i])
        hidden = stored.hidden_share(i)
        fp = score.unknown_of_stored(model, args.campaign_id)   # why its words were unused
    else:
        fp = score.fold_in(model, keywords)
        weights, oov, hidden = fp.weights, fp.oov_share, fp.hidden_share
    return {"model_id": model.model_id, "campaign_id": args.campaign_id,
            "oov_share": round(oov, 4), "hidden_share": round(hidden, 4),
            "unknown_words": fp.unknown_words() if fp is not None else [],
            **({"unknown": fp.unknown_report()} if fp is not None else {}),
            "fingerprint": score.shown_weights(weights),
            "top_topics": score.top_topics(weights, names)}


def _once_each(ids: list[str]) -> list[str]:
    """Each id once, in the order given (`neighbors C1 C1` answered C1 twice), with a
    warning naming the ids given more than once."""
    once = list(dict.fromkeys(ids))
    if len(once) < len(ids):
        repeated = [cid for cid in once if ids.count(cid) > 1]
        print(f"warning: {', '.join(map(repr, repeated))} given more than once; answered once",
              file=sys.stderr)
    return once


@command("neighbors", "most similar campaigns, one JSON object per id",
         arg("campaign_ids", nargs="+", help="one or more stored campaigns"),
         arg("-n", type=whole(1), default=10, help="neighbours per campaign (default %(default)s)"),
         arg("--exclude-account", action="store_true",
             help="leave out campaigns of the same account"),
         arg("--min-terms", type=whole(0), default=0, help="neighbours need this many terms"),
         _floor_arg(default=0.0),
         MODEL,
         arg("--format", choices=["json", "csv"], default="json",
             help="csv: the Lookup page's neighbours download (one campaign id)"))
def _neighbors(args: argparse.Namespace) -> Any:
    args.campaign_ids = _once_each([given_id(cid) for cid in args.campaign_ids])
    if args.format == "csv" and len(args.campaign_ids) > 1:
        raise TopicLabError("--format csv writes one campaign's neighbours (as the Lookup "
                            "page's download does); give one campaign id per call")
    lookup = _lookup(args)
    for campaign_id in args.campaign_ids:
        lookup.check(campaign_id)
    if args.format == "csv":
        from core.data import export
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


@command("suggest", "suggested actions with their evidence",
         arg("campaign_id", nargs="?",
             help="a stored campaign (or --text / --file / --account)"), *KEYWORDS,
         arg("--account", help="every campaign of this account, ranked together"),
         arg("-n", type=whole(1), default=10, help="neighbours to learn from"),
         _floor_arg(),
         MODEL,
         arg("--format", choices=["json", "csv"], default="json",
             help="csv: the Lookup page's actions download"))
def _suggest(args: argparse.Namespace) -> Any:
    _encoding_only_with_file(args)
    args.campaign_id = given_id(args.campaign_id)  # trimmed, as an import trims ids
    if args.account is not None:
        if args.campaign_id or args.text or args.file:
            raise InputError("suggest: give --account, a campaign id, --text or --file, "
                             "not several")
        lookup = _lookup(args)
        account = lookup.account(args.account, args.n, min_similarity=args.min_similarity)
        if args.format == "csv":
            from core.data import export
            return CsvOutput(export.csv_bytes(account.to_frame()))
        return {"model_id": lookup.model_id, **account.to_dict()}
    keywords = None if args.campaign_id else _keywords_from(args)  # bad input fails fast
    lookup = _lookup(args)
    if keywords is None:
        result = lookup.campaign(args.campaign_id, args.n, min_similarity=args.min_similarity)
    else:
        result = lookup.keywords(keywords, args.n, min_similarity=args.min_similarity)
    if args.format == "csv":
        from core.data import export
        from core.model import actions
        return CsvOutput(export.csv_bytes(actions.to_frame(result.suggestions.actions)))
    answer = {"model_id": lookup.model_id, **result.to_dict(lookup.topic_names)}
    if keywords is None:   # as `fingerprint` says them (a stored fingerprint keeps the share)
        answer |= lookup.unknown_fields(args.campaign_id)
    return answer


@command("ngrams", "1-3 word fragments of a campaign's or an account's search terms, and "
         "the wasteful ones as safe negatives",
         arg("campaign_id", nargs="?", help="a campaign of the dataset (or --account)"),
         arg("--account", help="every campaign of this account together"),
         arg("--dataset", help="dataset name (default: the production model's, else demo)"),
         arg("--version", type=integer, help="dataset version (default: newest)"),
         arg("--top", type=integer, default=50, help="costliest fragments listed"))
def _ngrams(args: argparse.Namespace) -> Any:
    from core.serve import ngram_report
    return ngram_report.report(args.campaign_id, args.account, dataset=args.dataset,
                         version=args.version, top=args.top)


@command("map", "campaign map (2-D projection, cached with the model) and clusters of "
         "campaigns",
         arg("model_id", nargs="?", help="model id or alias (default: production)"),
         arg("--clusters", action="store_true",
             help="print only the clusters (size, top topics, median rates)"))
def _map(args: argparse.Namespace) -> Any:
    from core.serve import campaign_map
    result = campaign_map.campaign_map(args.model_id)
    if args.clusters:
        return result.clusters.to_dict(orient="records")
    return result.to_dict()


# --- lifecycle ----------------------------------------------------------------------------

@command("pipeline", "import → train → evaluate → gate → promote → score",
         DATASET,
         arg("--from", dest="paths", nargs="+", metavar="PATH",
             help="files or folders to import first as a new version"),
         arg("--tolerance", type=number(0, 2), default=0.02,
             help="how much lower NPMI than production still promotes (default %(default)s)"),
         arg("--k", type=integer, default=None, help=K_HELP),
         _engine_choice,
         SPARK_MASTER, EXPORT_DIR)
def _pipeline(args: argparse.Namespace) -> Any:
    from core.ops import pipeline
    overrides: dict[str, Any] = {"engine": args.engine} if args.engine else {}
    if args.k is not None:
        overrides["k"] = args.k
    if args.spark_master:
        overrides["params"] = {"master": args.spark_master}
    _export_dir_needs_spark_settings(args)
    _no_patterns(args.paths, "pipeline --from")
    with _export_dir(args):
        result = pipeline.run(args.dataset, args.paths, tolerance=args.tolerance,
                              overrides=overrides or None, progress=progress_line,
                              log=lambda line: print(printable(line), file=sys.stderr))
    for warning in result.warnings:   # as `train` prints them: a scheduler's log shows them
        print(f"warning: {printable(warning)}", file=sys.stderr)
    return result.to_dict()


def _export_dir_needs_spark_settings(args: argparse.Namespace) -> None:
    """`pipeline --export-dir` without `--engine` trains with the dataset's saved engine:
    when that is not Spark the flag was silently ignored. A dataset that is not there (a
    typo, no `--from`) is named as such first: it was said to be trained with the
    default engine."""
    if args.export_dir is None or args.engine:
        return
    from core.data import datasets
    from core.ops.train import saved_settings
    if not args.paths:
        datasets.get(args.dataset)
    engine = saved_settings(args.dataset).engine
    if engine != "spark":
        raise TopicLabError(f"--export-dir is for --engine spark, and {args.dataset} is "
                            f"trained with {engine} (its saved settings, else the default): "
                            "add --engine spark or leave --export-dir out")


@command("drift", "drift of a dataset version against the production model",
         DATASET,
         arg("--version", type=VERSION, help="default: the latest"),
         MODEL,
         arg("--other-dataset", action="store_true",
             help="measure against a model trained on another dataset"))
def _drift(args: argparse.Namespace) -> Any:
    from core.ops import drift
    return drift.check(args.dataset, args.version, args.model,
                       other_dataset=args.other_dataset).to_dict()


@command("audit", "the audit log, newest first",
         arg("--limit", type=whole(1), default=100, help="entries listed (default %(default)s)"),
         arg("--action", help="only this action (import, train, promote, …)"))
def _audit(args: argparse.Namespace) -> Any:
    from core.data import audit
    return audit.records(args.limit, args.action)


@command("demo", "write a synthetic demo corpus (e.g. a drifted next month)",
         arg("--out", help="Parquet file to write (default: the committed demo corpus)"),
         arg("--campaigns", type=whole(1), default=3000,    # demo.DEFAULT_CAMPAIGNS
             help="campaigns of the base corpus (default %(default)s)"),
         arg("--seed", type=SEED, default=7,                # demo.DEFAULT_SEED
             help="random seed (default %(default)s, the committed corpus)"),
         arg("--shift", type=number(0, 1), default=0.0,
             help="0 = the committed corpus; up to 1 = a strongly changed next month"),
         uses_store=False)
def _demo(args: argparse.Namespace) -> Any:
    from core.data import demo
    if args.out is None and (args.campaigns, args.seed, args.shift) != (
            demo.DEFAULT_CAMPAIGNS, demo.DEFAULT_SEED, 0.0):
        # Without --out only the committed corpus itself is written again (the same
        # bytes): `demo --shift 0.3` replaced it, the ground truth of the benchmarks.
        raise UsageError(f"give --out FILE: without it the committed demo corpus "
                         f"{demo.DEFAULT_PATH} would be replaced by another one (e.g. "
                         "python -m core demo --shift 0.3 --out next.parquet)")
    from core.data import files
    out = files.given_path(args.out) if args.out else demo.DEFAULT_PATH
    path = demo.write(out, n_campaigns=args.campaigns, seed=args.seed,
                      shift=args.shift)
    # What the file holds: a shift replaces campaigns and adds more (3,810 for 3,000 at 0.3)
    import pyarrow.parquet as pq
    written = pq.read_table(path, columns=["campaign_id"]).column(0).unique()
    return {"path": str(path), "campaigns": len(written), "shift": args.shift}


@command("init", "import the demo corpus (and train a production model) when the store is "
         "empty",
         arg("--no-train", action="store_true", help="only import the demo corpus"))
def _init(args: argparse.Namespace) -> Any:
    from core.ops import bootstrap
    report = bootstrap.ensure_demo(train_model=not args.no_train, progress=progress_line)
    warning = (report.get("promote") or {}).get("warning")
    if warning:   # the first production model below the diversity floor
        print(f"warning: {printable(warning)}", file=sys.stderr)
    return report


# --- scoring service --------------------------------------------------------------------

@command("serve", "run the scoring service (HTTP/JSON API) with uvicorn",
         arg("--host", default="127.0.0.1", help="address to bind (default loopback)"),
         arg("--port", type=whole(1, 65535), default=8000, help="default 8000"),
         arg("--workers", type=whole(1, 64), default=1,
             help="worker processes (each has its own cache and metrics; they share "
                  "the keys' rates)"))
def _serve(args: argparse.Namespace) -> Any:
    from core.serve import service
    if not 1 <= args.port <= 65535 or args.workers < 1:
        raise TopicLabError("--port must be 1-65535 and --workers at least 1")
    url = f"http://{service.host_port(args.host, args.port)}"
    service.serve(args.host, args.port, args.workers,
                  announce=lambda: _announce_service(url, args.workers))
    return {"stopped": url}


def _announce_service(url: str, workers: int) -> None:
    """The address, the worker count, and that the models load before it answers."""
    print(f"Topic Lab scoring service on {url} ({counted(workers, 'worker')}), loading its "
          f"models: it answers 503 \"starting\" until a line says it is ready; Ctrl-C stops "
          "it.", file=sys.stderr, flush=True)


@command("keys", "API keys of the scoring service", actions=[
    Action("create", "make a key and print it once", (
        arg("name", help="who or what the key is for"),
        arg("--role", default="account_manager",
            choices=["scorer", "account_manager", "data_scientist"],
            help="scorer keys only read answers; feedback needs account_manager+"),
        arg("--rate", type=integer, default=600, help="requests per minute"))),
    Action("list", "every key, without secrets"),
    Action("revoke", "revoke a key for good", (arg("name", help="the key's name"),))])
def _keys(args: argparse.Namespace) -> Any:
    from core.serve import keys
    if args.keys_command == "create":
        return keys.create(args.name, args.role, args.rate).to_dict()
    if args.keys_command == "revoke":
        return keys.revoke(args.name).to_dict()
    return keys.list_keys().to_dict(orient="records")


@command("canary", "share of service traffic sent to the candidate model", actions=[
    Action("set", "send PERCENT of traffic to the candidate (0 = off)",
           (arg("percent", type=percent, help="0 to 100, e.g. 10 or 10%"),)),
    Action("show", "the current share")])
def _canary(args: argparse.Namespace) -> Any:
    from core.serve import canary
    if args.canary_command == "set":
        return canary.set_percent(args.percent).to_dict()
    return canary.show()


@command("brands", "per-account brand lists (brand vs non-brand checks)", actions=[
    Action("set", "set an account's brand phrases (replaces its list)",
           (arg("account", help="an account of the stored data, or ~word for exports "
                                "without accounts"),
            arg("phrases", nargs="+", help='brand phrases, e.g. "smile co" smileco'))),
    Action("list", "every account's list, or one account's",
           (arg("account", nargs="?", help="only this account"),)),
    Action("clear", "remove an account's brand list",
           (arg("account", help="the account whose list is removed"),))])
def _brands(args: argparse.Namespace) -> Any:
    from core.serve import brand_lists
    if args.brands_command == "set":
        return {"account": args.account,
                "phrases": brand_lists.set_brand_list(args.account, args.phrases)}
    if args.brands_command == "clear":
        return {"account": args.account, "phrases": brand_lists.clear_brand_list(args.account)}
    if args.account is not None:
        return {"account": args.account, "phrases": brand_lists.listed(args.account)}
    lists = brand_lists.brand_lists()
    return [{"account": a, "phrases": p} for a, p in lists.items()]


# --- running a command ----------------------------------------------------------------------

def clean_at_start() -> None:
    """Remove what a crashed save left in the models folder (see core.data.orphans)."""
    from core.data import orphans
    orphans.clean()


def _stored_dataset_name(args: argparse.Namespace) -> None:
    """`--dataset` as the store spells it (`datasets.stored_name`: "ｄｅｍｏ" is demo, "my  data"
    is "my data"), so every command compares the stored name, as an import stores it."""
    if isinstance(getattr(args, "dataset", None), str):
        from core.data import datasets
        args.dataset = datasets.stored_name(args.dataset)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from core.data import auth
        auth.set_user(auth.local_user())  # explicit: core has no default user
        cmd = COMMANDS[args.command]
        _check_stdout()
        if cmd.uses_store:
            clean_at_start()
            _stored_dataset_name(args)
        result = cmd.run(args)
        try:
            emit(result)
        except BrokenPipeError:
            raise
        except OSError as err:
            return _output_failed(err)
    except TopicLabError as err:
        end_progress_line()
        print(f"error: {printable(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        end_progress_line()
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    return 0


def _check_stdout() -> None:
    """Refuse to run with standard output closed (`python -m core models >&-`): Python
    then sets `sys.stdout` to None and every print is dropped, so the answer (a new API
    key's only copy, an import's version number) was lost and the exit status said 0."""
    if sys.stdout is None:
        raise TopicLabError("standard output is closed, so the command's answer would be "
                            "lost: nothing was done (redirect it to a file, or to /dev/null "
                            "to discard it)")


def _output_failed(err: OSError) -> int:
    """The answer could not be written (a full disk, stdout opened read-only): say so on
    stderr and exit 1, not a traceback; the rest goes to /dev/null so that Python's flush
    at exit does not fail a second time."""
    print(f"error: the command ran, but its answer could not be written to standard output "
          f"({err.strerror or err})", file=sys.stderr)
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(devnull, sys.stdout.fileno())
    return 1


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`


def _reader_went_away() -> int:
    """The reader of stdout closed it (`python -m core sql … | head`): end quietly, as Unix
    tools do, instead of a BrokenPipeError traceback (and a second one when Python flushes
    stdout at exit, which writing the rest to /dev/null prevents)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # not a real file (a test's buffer): nothing is flushed to a pipe at exit
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    return SIGPIPE_EXIT
