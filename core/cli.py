"""`python -m core …`: the same pipeline as the app, headless, for schedulers and CI.

Every command prints JSON on stdout. A problem the user can fix prints
`error: <message>` on stderr and exits 1; progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from core.errors import TopicLabError

COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace], Any]):
        COMMANDS[name] = fn
        return fn
    return register


def emit(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str, ensure_ascii=False))


def progress_line(done: int, total: int, message: str = "") -> None:
    """A progress line on stderr, rewritten in place on a terminal."""
    end = "\r" if sys.stderr.isatty() and done < total else "\n"
    pct = 100 * done / total if total else 100
    print(f"[{pct:5.1f}%] {message}", end=end, file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------------

@command("ingest")
def _ingest(args: argparse.Namespace) -> Any:
    from core import ingest
    return ingest.import_paths(args.paths, args.dataset).to_dict()


@command("datasets")
def _datasets(args: argparse.Namespace) -> Any:
    from core import datasets
    return datasets.list_versions(args.name).to_dict(orient="records")


@command("sql")
def _sql(args: argparse.Namespace) -> Any:
    from core import sandbox
    result = sandbox.run_query(args.query)
    return {"rows": len(result.frame), "truncated": result.truncated,
            "seconds": round(result.seconds, 4), "data": result.frame.to_dict(orient="records")}


@command("init")
def _init(args: argparse.Namespace) -> Any:
    from core import bootstrap
    return bootstrap.ensure_demo(train=not args.no_train, progress=progress_line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="import files or folders as a new dataset version")
    p.add_argument("paths", nargs="+", help="CSV/TSV/Parquet files, Google Ads exports, folders")
    p.add_argument("--dataset", required=True, help="dataset name")

    p = sub.add_parser("datasets", help="list dataset versions")
    p.add_argument("name", nargs="?", help="only this dataset")

    p = sub.add_parser("sql", help="run one read-only SQL query against the store")
    p.add_argument("query")

    p = sub.add_parser("init", help="import the demo corpus (and train a production model) "
                                    "when the store is empty")
    p.add_argument("--no-train", action="store_true", help="only import the demo corpus")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        emit(COMMANDS[args.command](args))
    except TopicLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0
