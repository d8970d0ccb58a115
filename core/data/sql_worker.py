"""The process that runs one user SQL query for `core.data.sandbox`, and nothing else.

Why a process of its own: DuckDB refuses, within one process, a second connection to
the same file with another configuration (read-only next to read-write, or another
`memory_limit`/`threads`): "Can't open a connection to same database file with a
different configuration". So a sandbox connection inside the app would have to share
the store's one in-process lock and make every other page wait on someone's query.
Across processes DuckDB allows many readers, so here the query gets its own read-only
connection with its own budget, and the app's other reads go on meanwhile. The OS
limits this process's memory (RLIMIT_DATA), DuckDB gets `memory_limit` and `threads`,
results are streamed in Arrow batches and capped by rows and bytes, and a timer
interrupts execution and fetching; the parent kills the process if even that fails.

Protocol: a JSON request on stdin; on stdout one JSON header line, then (when `ok`) an
Arrow IPC stream with the rows. Imports only duckdb and pyarrow, before reading the
request, so a spare worker started ahead of time answers at once.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import threading
import time
from typing import Any

ALLOWED_STATEMENTS = ("SELECT", "EXPLAIN")

# Functions and catalog views that reveal server paths (the store file, the temp and
# extension folders, `allowed_paths`) or run SQL built from strings, which would get
# round this list, and the file readers that DuckDB still lets read its own store file
# with external access off (its raw bytes, free blocks of deleted rows included).
# Checked on DuckDB's own parse tree, so nesting does not hide them.
REFUSED_FUNCTIONS = frozenset({
    "duckdb_settings", "current_setting", "pg_settings", "duckdb_databases",
    "pragma_database_list", "duckdb_extensions", "duckdb_temporary_files",
    "duckdb_secrets", "which_secret", "duckdb_logs", "duckdb_log_contexts",
    "query", "query_table", "read_blob", "read_text",
})


class Refused(Exception):
    """The query is not allowed; the message says why."""


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _names(node: Any) -> set[str]:
    """Every function and table name in a serialised parse tree, lower-cased."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("function_name", "table_name"):
                if isinstance(item.get(key), str):
                    found.add(item[key].lower())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check(con: Any, sql: str) -> None:
    """One read statement, calling nothing that reveals paths; else `Refused`."""
    import duckdb

    if not sql or not sql.strip():
        raise Refused("The query is empty: write a SELECT statement.")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise Refused(f"The query could not be parsed: {_summary(err)}") from None
    if not statements:  # only `;` or comments: "holds 0 statements" said nothing useful
        raise Refused("The query is empty (no statement, only `;` or comments): write a "
                      "SELECT statement.")
    if len(statements) > 1:
        raise Refused(f"Run one statement at a time; this text holds {len(statements)} "
                      "statements.")
    statement = statements[0]
    kind = statement.type.name if hasattr(statement.type, "name") else str(statement.type)
    if kind not in ALLOWED_STATEMENTS:
        name = statement.query.split(None, 1)[0].upper()
        raise Refused(
            "Only read queries (SELECT, WITH … SELECT, EXPLAIN) are allowed here; this is "
            f"{_article(name)} {name} statement. The store cannot be changed from the SQL "
            "editor.")
    body = statement.query
    if kind == "EXPLAIN":
        body = re.sub(r"^\s*explain(\s+analy[sz]e)?\s+", "", body, flags=re.IGNORECASE)
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [body]).fetchall()[0][0])
    if tree.get("error"):
        raise Refused(f"The query could not be checked: {tree.get('error_message')}")
    refused = sorted(_names(tree) & REFUSED_FUNCTIONS)
    if refused:
        raise Refused(f"{refused[0]}() is not available in the SQL editor: it shows server "
                      "settings or file paths, reads files, or runs SQL built from text.")


def _article(word: str) -> str:
    """"an ATTACH", "an UPDATE" but "a USE", "a COPY": the refusal read "a ATTACH"."""
    spoken_vowel = word[:1] in "AEIO" or (word[:1] == "U" and not word.startswith("US"))
    return "an" if word and spoken_vowel else "a"


def _summary(err: BaseException) -> str:
    """DuckDB's message with its hints (`Did you mean "campaigns"?`, `Candidate bindings:
    "name"`) on one line: its first paragraph, before the `LINE 1:` excerpt. Only the
    first line was kept, so a misspelt table or column was named without the fix."""
    paragraph = str(err).strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines() if line.strip())


def _connect(request: dict[str, Any]) -> Any:
    """A read-only connection with the budget set and its configuration locked."""
    import duckdb

    deadline = time.monotonic() + float(request["timeout_s"])
    config = {
        "memory_limit": f"{max(16, request['memory_mb'] // 2)}MB",
        "threads": int(request["threads"]),
        "temp_directory": "",  # nothing spills to disk; no path to show either
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
    }
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(request["db_path"], read_only=True, config=config)
            break
        except duckdb.IOException as err:
            text = str(err).lower()
            if "lock" not in text or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.5)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run(request: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Run the query; the header for the parent and an Arrow table (or None)."""
    import pyarrow as pa

    row_cap, byte_cap = int(request["row_cap"]), int(request["byte_cap"])
    timeout_s = float(request["timeout_s"])
    con = _connect(request)
    check(con, request["sql"])
    timer = threading.Timer(timeout_s, con.interrupt)
    started = time.perf_counter()
    timer.start()
    batches, rows, size, capped = [], 0, 0, None
    try:
        reader = _readable(con.sql(request["sql"])).to_arrow_reader(1024)
        schema = reader.schema
        for batch in reader:
            if rows + batch.num_rows > row_cap:
                batch = batch.slice(0, row_cap - rows)
                capped = "rows"
            if size + batch.nbytes > byte_cap:
                batch = _fit(batch, byte_cap - size)
                capped = "bytes"
            batches.append(batch)
            rows += batch.num_rows
            size += batch.nbytes
            if capped:
                break
        table = pa.Table.from_batches(batches, schema=schema)
    except Exception as err:  # duckdb raises OSError too (Arrow buffers): sort by text
        return _failure(err), None
    finally:
        timer.cancel()
    seconds = time.perf_counter() - started
    header = {"ok": True, "rows": rows, "bytes": size, "capped": capped,
              "seconds": seconds, "peak_mb": _rss_mb()}
    return header, table


# DuckDB types that Arrow gets without what they mean: a TIMETZ as a plain time (its
# offset dropped), a BIT as the bytes DuckDB stores it in (shown as base64).
_AS_TEXT = ("time with time zone", "bit")


def _readable(rel: Any) -> Any:
    """The query's relation with its TIMETZ and BIT values (at any depth) cast to DuckDB's
    own text of them (`12:34:56+05:30`, `0101`); the same relation when it has none."""
    targets = [_text_type(kind) for kind in rel.types]
    if not any(targets):
        return rel
    return rel.project(", ".join(
        f"{f'CAST(#{i} AS {target})' if target else f'#{i}'} AS {_quoted(name)}"
        for i, (name, target) in enumerate(zip(rel.columns, targets, strict=True), 1)))


def _text_type(kind: Any) -> str | None:
    """The type `kind` becomes with each TIMETZ or BIT in it as VARCHAR, or None when it
    holds neither."""
    if kind.id in _AS_TEXT:
        return "VARCHAR"
    children = kind.children if kind.id in ("list", "array", "struct", "map", "union") else []
    if not any(_text_type(child) for _, child in children if not isinstance(child, int)):
        return None
    if kind.id == "union":  # a member's text is how the page shows a UNION anyway
        return "VARCHAR"
    inner = [_text_type(child) or str(child) for _, child in children
             if not isinstance(child, int)]
    if kind.id == "list":
        return f"{inner[0]}[]"
    if kind.id == "array":
        return f"{inner[0]}[{children[1][1]}]"
    if kind.id == "map":
        return f"MAP({inner[0]}, {inner[1]})"
    return "STRUCT(" + ", ".join(f"{_quoted(name)} {target}" for (name, _), target
                                 in zip(children, inner, strict=True)) + ")"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _failure(err: BaseException) -> dict[str, Any]:
    """The header for a query that stopped: timeout, memory, or its own error."""
    import duckdb

    text = _summary(err)
    if isinstance(err, duckdb.InterruptException) or "interrupt" in text.lower():
        return {"ok": False, "kind": "timeout", "peak_mb": _rss_mb()}
    if isinstance(err, (duckdb.OutOfMemoryException, MemoryError)) \
            or "out of memory" in text.lower():
        return {"ok": False, "kind": "memory", "peak_mb": _rss_mb()}
    return {"ok": False, "kind": "failed", "message": text, "peak_mb": _rss_mb()}


def _fit(batch: Any, room: int) -> Any:
    """The longest head of `batch` whose Arrow size fits in `room` bytes."""
    low, high = 0, batch.num_rows
    while low < high:
        mid = (low + high + 1) // 2
        if batch.slice(0, mid).nbytes <= room:
            low = mid
        else:
            high = mid - 1
    return batch.slice(0, low)


def _limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def main() -> int:
    import duckdb  # noqa: F401  (imported before the request arrives: a spare is warm)
    import pyarrow  # noqa: F401

    text = sys.stdin.read()
    if not text.strip():  # a spare whose parent exited without a query
        return 0
    request = json.loads(text)
    # The allowance for Python, duckdb and pyarrow themselves is added to the budget.
    _limit_memory(int(request["memory_mb"]) + int(request["base_mb"]))
    out = sys.stdout.buffer
    try:
        header, table = run(request)
    except Refused as err:
        header, table = {"ok": False, "kind": "refused", "message": str(err)}, None
    except Exception as err:  # reported to the parent as one line, never a traceback
        header, table = _failure(err), None
    out.write(json.dumps(header).encode() + b"\n")
    if table is not None:
        import pyarrow as pa

        with pa.ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table)
    out.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Tearing down duckdb and pyarrow at exit takes longer than the query; the answer
    # is written, and the connection was read-only, so nothing is lost by skipping it.
    os._exit(code)
