"""The Spark session Topic Lab runs on, and how a Spark job reports progress and fails.

Spark is an optional part (`make spark` installs `requirements-spark.txt` and, where it is
missing, Debian's headless JRE): nothing here imports pyspark at module level, and a run
that needs it says in one line how to get it.

Where Spark runs: `--spark-master` / the engine's `master` param, else
`TOPICLAB_SPARK_MASTER`, else `local[*]` (every core of this machine). One session per
process and master; the `core` package itself is shipped to the executors as a zip
(`addPyFile`), so a cluster only needs Python 3.11 with `requirements.txt` installed.

A job runs in a worker thread under its own job group while the calling thread polls
Spark's status tracker and reports `progress(done, total, message)`; when `progress`
raises (a Cancel click, Ctrl-C), the job group is cancelled and the exception goes on.
A failed job becomes one `SparkJobError` line saying why (executor lost, out of memory,
an error in a task) instead of a Java stack trace.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import shlex
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from core.errors import InputError, TopicLabError, shown
from core.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
T = TypeVar("T")

_POLL_S = 0.5
HEARTBEAT_S = 10.0   # a progress line at least this often while a job runs
_lock = threading.RLock()
_session: Any = None
_session_master: str | None = None
_holds: dict[int, int] = {}   # thread id -> runs of that thread using the session (`holds`)


class SparkUnavailable(TopicLabError):
    """pyspark or Java is missing: the message says how to install it."""


class SparkJobError(TopicLabError):
    """A Spark job failed or was lost; the message says why in one line."""


class SparkBusy(TopicLabError):
    """Another run of this process uses the session on another master: switching would
    stop it (`get`)."""


def holds(work: Callable[..., T]) -> Callable[..., T]:
    """Mark `work` (a training, a scoring) as using the process's session while it runs:
    `get` on another master then refuses rather than stop the session under it. The app
    runs every visitor's work in one process, and one visitor's "Spark master" stopped
    the session another's training was running on (`the job was cancelled`)."""
    @functools.wraps(work)
    def holding(*args: Any, **kwargs: Any) -> T:
        me = threading.get_ident()
        with _lock:
            _holds[me] = _holds.get(me, 0) + 1
        try:
            return work(*args, **kwargs)
        finally:
            with _lock:
                _holds[me] -= 1
                if not _holds[me]:
                    del _holds[me]
    return holding


def _held_elsewhere() -> bool:
    """Whether a run of another thread uses the session now (call with `_lock` held)."""
    me = threading.get_ident()
    return any(count for thread, count in _holds.items() if thread != me)


# The master URLs Spark accepts (SparkContext's local patterns, spark-submit's rule for
# the rest: "yarn" or spark://, k8s://); local with 0 threads is refused by Spark too.
_MASTER_URL = re.compile(
    r"local(\[(\*|[1-9]\d*)(\s*,\s*[1-9]\d*)?\])?"
    r"|local-cluster\[\s*[1-9]\d*\s*,\s*[1-9]\d*\s*,\s*[1-9]\d*\s*\]"
    r"|yarn|(spark|k8s)://\S+")


def master(explicit: str | None = None) -> str:
    """Where Spark runs: the explicit value, else `TOPICLAB_SPARK_MASTER`, else local[*]
    (a blank value counts as unset, as a blank export dir does)."""
    for configured in (explicit, os.environ.get("TOPICLAB_SPARK_MASTER")):
        if configured and configured.strip():
            return configured.strip()
    return DEFAULT_MASTER


def check_master(url: Any, what: str = "the Spark master") -> None:
    """Refuse a master URL Spark would reject, before the JVM starts: `bogus` was
    reported as "is Java 17 installed?" and `local[0]` as a bare Py4JJavaError."""
    if not isinstance(url, str) or not _MASTER_URL.fullmatch(url.strip()):
        raise InputError(
            f"{what} {url!r} is not a Spark master URL: use local[*], local[N] (N at least "
            "1), spark://host:7077, yarn or k8s://https://host:443")


_CONNECT_TIMEOUT_S = 3.0
_STANDALONE_PORT = 7077


def check_reachable(url: str, timeout_s: float = _CONNECT_TIMEOUT_S) -> None:
    """A standalone master (`spark://host:port`, or `h1:port,h2:port` for standby
    masters) must accept a TCP connection before the JVM starts: with nothing listening,
    Spark retried for about a minute before its error. Something else listening there (the
    master's web UI on 8080, any web server) passed that check and Spark retried for its
    minute too, then said "the master did not answer": so the listener is asked, in
    Spark's own RPC protocol, whether it is a master (`_not_spark`). Other masters are not
    checked here; a Kubernetes master's API server must accept one too (`_check_k8s`)."""
    if url.startswith("k8s://"):
        _check_k8s(url, timeout_s)
        return
    if not url.startswith("spark://"):
        return
    reasons, others = [], []
    for address in url[len("spark://"):].split(","):
        host, port = _host_port(url, address)
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as conn:
                other = _not_spark(conn, host, port, timeout_s)
        except OSError as err:
            reasons.append(f"{host}:{port} {_socket_reason(err, timeout_s)}")
            continue
        if other is None:
            return
        others.append(f"{host}:{port} {other}")
    if others:
        raise SparkJobError(
            f"Spark could not start on {url}: no Spark master there "
            f"({'; '.join(others + reasons)}); the master URL names the port in the "
            "master's log line \"Starting Spark master at spark://…\", 7077 by default, "
            "not its web UI's")
    raise SparkJobError(f"Spark could not start on {url}: the master did not answer "
                        f"({'; '.join(reasons)}; is it running, and reachable from this "
                        "machine at that host and port?)")


def _check_k8s(url: str, timeout_s: float) -> None:
    """`k8s://https://host:443` must name an API server this machine reaches: a host that
    does not resolve (or nothing listening) printed a Java stack trace after ~30 s and then
    `Py4JJavaError: An error occurred while calling None…JavaSparkContext`, no reason."""
    host, port = _k8s_host_port(url)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise SparkJobError(
            f"Spark could not start on {url}: the Kubernetes API server {host}:{port} "
            f"{_socket_reason(err, timeout_s)} (is the URL right, and the cluster reachable "
            "from this machine?)") from None


def _k8s_host_port(url: str) -> tuple[str, int]:
    """(host, port) of a k8s:// master's API server; Spark reads `k8s://host:port` as
    https, and the port defaults to the scheme's (443, or 80 for http)."""
    from urllib.parse import urlsplit

    rest = url[len("k8s://"):].strip()
    try:
        parts = urlsplit(rest if "://" in rest else f"https://{rest}")
        host, port = parts.hostname, parts.port   # a port that is not a number: ValueError
    except ValueError:
        host, port = None, None
    if not host or parts.scheme not in ("https", "http"):
        raise InputError(f"the Spark master {url!r} is not a Kubernetes master URL: use "
                         "k8s://https://host:443 (the cluster's API server)")
    return host, port or (80 if parts.scheme == "http" else 443)


def check_yarn_config(url: str) -> None:
    """Master `yarn` needs the cluster's Hadoop configuration (`HADOOP_CONF_DIR` or
    `YARN_CONF_DIR`): without either, spark-submit exited with a Java stack trace and the
    run said "the Java process could not start (is Java 17 installed?)"."""
    if url.strip() != "yarn":
        return
    if any((os.environ.get(name) or "").strip() for name in ("HADOOP_CONF_DIR",
                                                              "YARN_CONF_DIR")):
        return
    raise SparkJobError(
        "Spark could not start on yarn: neither HADOOP_CONF_DIR nor YARN_CONF_DIR is set; "
        "set one to the folder holding the cluster's yarn-site.xml and core-site.xml")


def _rpc_probe(host: str, port: int, request_id: bytes) -> bytes:
    """The request a Spark driver sends a master first (one RPC frame: "does an endpoint
    named Master exist?", as Spark's own `RpcEndpointVerifier.CheckExistence`). A master
    answers true and logs only that a client disconnected, as for any driver."""
    def utf(text: str) -> bytes:          # Java's DataOutputStream.writeUTF
        data = text.encode()
        return struct.pack(">H", len(data)) + data

    body = (b"\x00"                                    # no sender address: a client
            + b"\x01" + utf(host) + struct.pack(">i", port) + utf("endpoint-verifier")
            + b"\xac\xed\x00\x05sr\x00=org.apache.spark.rpc.netty.RpcEndpointVerifier"
            + b"$CheckExistence\x4a\xa5\x1e\x9e\xe4\xc1\x9a\xc4\x02\x00\x01L\x00\x04name"
            + b"t\x00\x12Ljava/lang/String;xpt\x00\x06Master")
    head = b"\x03" + request_id + struct.pack(">i", len(body))   # 3: an RPC request
    return struct.pack(">q", 8 + len(head) + len(body)) + head + body


def _first_bytes(conn: socket.socket) -> bytes:
    """The first bytes (up to a frame's header) a listener sends before it closes or the
    socket's timeout passes."""
    reply = b""
    try:
        while len(reply) < 9:
            chunk = conn.recv(512)
            if not chunk:
                break
            reply += chunk
    except TimeoutError:
        pass
    return reply


def _not_spark(conn: socket.socket, host: str, port: int, timeout_s: float) -> str | None:
    """What answered at host:port when it is certainly not a Spark master, else None.

    Only a reply that is not Spark's counts: Spark answers every RPC frame with a frame
    (8-byte length, a message type), a master with auth or TLS on may answer otherwise
    or not at all, and a slow one may not answer within `timeout_s`: those are let through
    to Spark, as before this check. A listener silent after the frame is sent an empty line
    too (a line-based server answers only then; a Spark master has answered already)."""
    conn.settimeout(timeout_s)
    try:
        conn.sendall(_rpc_probe(host, port, os.urandom(8)))
        reply = _first_bytes(conn)
        if not reply:      # a line-based server (Python's http.server) waits for its line
            conn.sendall(b"\r\n\r\n")
            reply = _first_bytes(conn)
    except OSError:
        return None
    if not reply or reply[:1] in (b"\x15", b"\x16"):      # nothing, or a TLS record
        return None
    if len(reply) >= 9 and 9 <= struct.unpack(">q", reply[:8])[0] < 2**31 and reply[8] < 32:
        return None                                       # a Spark RPC frame
    if reply.startswith(b"HTTP/") or reply.lstrip().startswith(b"<"):   # HTTP/0.9: a page
        status = reply.lstrip().splitlines()[0].decode("latin-1")[:60]
        return (f"is a web server (it answered {status!r}; the web UI or REST port of a "
                "Spark master?)")
    return f"answered in another protocol than Spark's ({reply[:20]!r})"


def _host_port(url: str, address: str) -> tuple[str, int]:
    """(host, port) of one `host[:port]` of a spark:// URL (Spark's default port 7077)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(f"spark://{address.strip()}")
        host, port = parts.hostname, parts.port   # a port that is not a number: ValueError
    except ValueError:
        host, port = None, None
    if not host:
        raise InputError(f"the Spark master {url!r} is not a Spark master URL: use "
                         "spark://host:7077")
    return host, port or _STANDALONE_PORT


def _socket_reason(err: OSError, timeout_s: float) -> str:
    """Why a connection failed, in a few words (refused, no such host, timed out)."""
    if isinstance(err, TimeoutError | socket.timeout):
        return f"did not answer within {timeout_s:g} s"
    if isinstance(err, socket.gaierror):
        return "is not a host name this machine can resolve"
    return f"refused the connection ({err.strerror or err})" if isinstance(
        err, ConnectionRefusedError) else f"could not be reached ({err.strerror or err})"


def driver_memory() -> str:
    """Driver JVM heap (`TOPICLAB_SPARK_DRIVER_MEMORY`, default 2g): it holds the K x V
    topic-word matrix of online LDA and the collected fingerprints. `lots` was reported
    as "is Java 17 installed?", so a size Spark cannot read is refused here."""
    value = os.environ.get("TOPICLAB_SPARK_DRIVER_MEMORY", "2g").strip()
    if not re.fullmatch(r"[1-9]\d*([kmgtp]b?|b)?", value, re.I):
        raise InputError(f"TOPICLAB_SPARK_DRIVER_MEMORY must be a size such as 2g or 4096m, "
                         f"not {shown(value)}")
    return value


def shuffle_partitions() -> str:
    """`TOPICLAB_SPARK_PARTITIONS` (default 8), a whole number of at least 1: `abc` or 0
    was a Java traceback at the first query."""
    value = os.environ.get("TOPICLAB_SPARK_PARTITIONS", "8").strip()
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"TOPICLAB_SPARK_PARTITIONS must be a whole number of at least 1, "
                         f"not {shown(value)}")
    return value


def java_path() -> str | None:
    """The `java` Spark will start: `$JAVA_HOME/bin/java`, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def check_available() -> None:
    """Raise `SparkUnavailable` naming what is missing and how to install it."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            "The Spark engine needs pyspark, which is not installed: run `make spark` "
            "(installs requirements-spark.txt and a Java 17 runtime).") from None
    if java_path() is None:
        raise SparkUnavailable(
            "The Spark engine needs Java 17, but `java` is not on PATH and JAVA_HOME is not "
            "set: run `make spark` (installs Debian's openjdk-17-jre-headless).")


def get(master_url: str | None = None, progress: Progress | None = None):
    """The process's SparkSession on `master_url` (see `master`), started on first use.

    Starting it (Java, then the session) takes half a minute and more on a busy machine,
    and the first Spark command sat that long without a word: `progress` is told before
    (what starts, that it takes a while) and after (in how many seconds). A session that
    is running already is returned without a word."""
    global _session, _session_master
    url = master(master_url)
    with _lock:
        if _session is not None and _session_master == url and _alive(_session):
            return _session
        check_master(url)
        memory, partitions = driver_memory(), shuffle_partitions()
        check_available()
        check_reachable(url)  # before the running session stops: it may be kept
        check_yarn_config(url)
        if _session is not None and _held_elsewhere() and _alive(_session):
            raise SparkBusy(
                f"Spark is running another training or scoring of this process on "
                f"{_session_master}; starting it on {url} would stop that run. Wait until "
                f"it ends, or use {_session_master} (--spark-master, TOPICLAB_SPARK_MASTER "
                "or the Train page's \"Spark master\").")
        if _session is not None:
            stop()
        from pyspark.sql import SparkSession

        # pyspark 4.3 warns on pandas 3 at every pandas UDF; the two uses here (Arrow
        # batches in, Arrow batches out) are tested for equality with local runs.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)

        # Python workers must run the same interpreter (and venv) as the driver.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = (SparkSession.builder.master(url).appName("topiclab")
                   .config("spark.driver.memory", memory)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   # Every task start reaches the status tracker: at the default 100 ms,
                   # tasks started within 100 ms of their stage showed "0 running" until
                   # one ended or an executor heartbeat (10 s) flushed them.
                   .config("spark.ui.liveUpdate.period", "0ms")
                   .config("spark.sql.shuffle.partitions", partitions)
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.executorEnv.OMP_NUM_THREADS", "1")
                   .config("spark.executorEnv.OPENBLAS_NUM_THREADS", "1"))
        java_options = _driver_java_options()
        if java_options:
            builder = builder.config("spark.driver.extraJavaOptions", java_options)
        report = progress or (lambda done, total, message: None)
        report(0, 1, f"Starting Spark on {url} (Java and a Spark session; the first start "
                     "takes half a minute or more)…")
        started = time.monotonic()
        with _submit_args_without_java_options():   # ours carry theirs (see above)
            session = _off_the_main_thread(lambda: _start(builder, url))
        _session, _session_master = session, url
        report(0, 1, f"Spark started on {url} in {time.monotonic() - started:.0f} s")
        return session


_LOG4J2 = Path(__file__).with_name("spark_log4j2.properties")


_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_LOG4J_SET = re.compile(r"(^|\s)-Dlog4j2?\.configurationFile=")


def _driver_java_options() -> str:
    """The driver JVM's options: the user's own `spark.driver.extraJavaOptions` from
    `spark-defaults.conf`, then those `PYSPARK_SUBMIT_ARGS` sets (`--driver-java-options`,
    `--conf spark.driver.extraJavaOptions=…`; Java takes the last of an option given
    twice, so theirs win over the file's), then Java's log through
    `spark_log4j2.properties` (ERROR and above on stderr), unless Spark's conf folder has
    a log4j2.properties of its own or their options name a log4j configuration. The
    builder's value replaces the defaults file's, so a user's options there
    (`-Duser.timezone=UTC`, a proxy) were dropped at every start, and one from
    `PYSPARK_SUBMIT_ARGS` (read after ours) replaced ours: now they come first and ours
    is appended (`_submit_args_without_java_options` takes theirs out of the variable).
    `-Dlog4j2.level=ERROR`, used before, is only read when log4j finds no configuration,
    and Spark then loads its default profile: its WARN lines reached the terminal at every
    start. The file is named as a URI, so a checkout path with spaces stays one option."""
    conf_dir = _spark_conf_dir()
    submitted, _ = submit_java_options(os.environ.get(_SUBMIT_ARGS, ""))
    theirs = " ".join(part for part in (
        spark_defaults(conf_dir).get(_JAVA_OPTIONS, "").strip(), submitted.strip()) if part)
    if _LOG4J_SET.search(theirs) or (
            conf_dir and (Path(conf_dir) / "log4j2.properties").is_file()):
        return theirs
    return f"{theirs} -Dlog4j.configurationFile={_LOG4J2.as_uri()}".strip()


_SUBMIT_ARGS = "PYSPARK_SUBMIT_ARGS"
_JAVA_FLAG = "--driver-java-options"
_SETTING_FLAGS = (_JAVA_FLAG, "--conf", "-c")   # spark-submit's, each with one value


def submit_java_options(args: str) -> tuple[str, str]:
    """(the driver Java options `args`, a `PYSPARK_SUBMIT_ARGS` value, sets, and `args`
    without them). As spark-submit reads them: `--driver-java-options X` and `--conf
    spark.driver.extraJavaOptions=X` (`=` forms and `-c` too) set one value, the last
    given wins; arguments after `pyspark-shell`, the application's, are left alone."""
    try:
        words = shlex.split(args)
    except ValueError as err:   # pyspark's own split failed with a traceback
        raise InputError(f"{_SUBMIT_ARGS} cannot be read as spark-submit's arguments "
                         f"({err}): {args!r}; quote as a shell does") from None
    value, kept, i = "", [], 0
    while i < len(words):
        flag, eq, attached = words[i].partition("=")
        if words[i] == "pyspark-shell":
            kept.extend(words[i:])
            break
        used = 1 if eq and flag.startswith("--") else 2
        if flag not in _SETTING_FLAGS or (eq and used == 2) or i + used > len(words):
            kept.append(words[i])
            i += 1
            continue
        given = attached if used == 1 else words[i + 1]
        key, _, setting = given.partition("=")
        if flag == _JAVA_FLAG:
            value = given
        elif key.strip() == _JAVA_OPTIONS:
            value = setting
        else:
            kept.extend(words[i:i + used])
        i += used
    return value.strip(), shlex.join(kept)


@contextmanager
def _submit_args_without_java_options() -> Iterator[None]:
    """`PYSPARK_SUBMIT_ARGS` without its driver Java options while Spark starts: pyspark
    passes that variable after the builder's settings, so its value replaced ours (and
    Java's log was Spark's WARN profile again); `_driver_java_options` carries theirs."""
    given = os.environ.get(_SUBMIT_ARGS)
    if given is None or not submit_java_options(given)[0]:
        yield
        return
    os.environ[_SUBMIT_ARGS] = submit_java_options(given)[1]
    try:
        yield
    finally:
        os.environ[_SUBMIT_ARGS] = given


def _spark_conf_dir() -> str | None:
    """The folder spark-submit reads `spark-defaults.conf` and `log4j2.properties` from."""
    return os.environ.get("SPARK_CONF_DIR") or (
        os.environ.get("SPARK_HOME") and os.path.join(os.environ["SPARK_HOME"], "conf"))


_CONTINUED = re.compile(r"(?<!\\)((?:\\\\)*)\\\n[ \t\f]*")   # an odd backslash ends the line
_PROPERTY = re.compile(r"((?:[^\s=:\\]|\\.)+)[ \t\f]*[=:]?[ \t\f]*(.*)")


def spark_defaults(conf_dir: str | None = None) -> dict[str, str]:
    """The settings of `spark-defaults.conf` in `conf_dir` (else Spark's conf folder),
    read as Spark reads it (a Java properties file: `#`/`!` comments, the key ended by
    `=`, `:` or blanks, a trailing backslash continuing the line, values trimmed); {}
    when there is none."""
    conf_dir = conf_dir if conf_dir is not None else _spark_conf_dir()
    if not conf_dir:
        return {}
    try:
        text = (Path(conf_dir) / "spark-defaults.conf").read_text("utf-8", errors="replace")
    except OSError:
        return {}
    settings: dict[str, str] = {}
    for line in _CONTINUED.sub(r"\1", text).splitlines():
        line = line.strip()
        if line and line[0] not in "#!" and (found := _PROPERTY.match(line)):
            settings[found.group(1).replace("\\", "")] = found.group(2).strip()
    return settings


def _start(builder, url: str):
    """Start the session (Java first when it is not running), quiet Java's log and ship
    `core` to the executors."""
    try:
        session = builder.getOrCreate()
    except Exception as err:  # the JVM did not start: say why in one line
        raise SparkJobError(f"Spark could not start on {url}: {_start_failure(url, err)}"
                            ) from err
    session.sparkContext.setLogLevel(_LOG_LEVEL)
    _quieted.clear()
    session.sparkContext.addPyFile(str(_core_zip()))
    return session


def _off_the_main_thread(work: Callable[[], T]) -> T:
    """Run `work` (starting Spark) in a thread of its own while this one waits for it.

    SparkContext puts its own Ctrl-C handler on the main thread when it is started there,
    and that handler calls Java from inside the signal: when Ctrl-C landed during another
    call to Java, py4j printed "reentrant call" and two tracebacks before "interrupted".
    Restoring this process's handler once the session had started left the session's
    own start (seconds) to Spark's handler, and a Ctrl-C then printed those tracebacks.
    Started in another thread, Spark installs no handler at all; Ctrl-C is this thread's
    KeyboardInterrupt while it waits, and `run_job` cancels its job group on it later."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run, name="spark-start", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(_POLL_S)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _start_failure(url: str, err: BaseException) -> str:
    """Why the session did not start: a cluster master that never answered stops the
    context after Spark's retries, which said only "Py4JJavaError: An error occurred"."""
    if not url.startswith("local") and re.search(
            r"stopped SparkContext|All masters are unresponsive|Failed to connect to master",
            str(err)):
        return ("the master did not answer (is it running, and reachable from this machine "
                "at that host and port?)")
    return explain(err)


def running():
    """The process's session if one is running, else None (never starts Spark)."""
    with _lock:
        return _session if _session is not None and _alive(_session) else None


def _alive(session) -> bool:
    try:
        return not session.sparkContext._jsc.sc().isStopped()
    except Exception:
        return False


def stop() -> None:
    """Stop the process's session (tests, and switching master)."""
    global _session, _session_master
    with _lock:
        if _session is not None:
            try:
                _session.stop()
            finally:
                _session, _session_master = None, None


def describe(session) -> dict[str, Any]:
    """Where a job ran: master, Spark version, application id, default parallelism."""
    sc = session.sparkContext
    return {"master": sc.master, "spark_version": session.version,
            "application_id": sc.applicationId, "parallelism": sc.defaultParallelism}


def _core_zip() -> Path:
    """The `core` package as a zip for the executors (cluster nodes have no checkout).

    Spark copies it when it is added, so its folder goes when this process exits (every
    CLI run and app start that used Spark left one in the temporary folder)."""
    package = Path(__file__).resolve().parent.parent  # core/, not core/model/
    folder = tempfile.mkdtemp(prefix="topiclab-spark-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = Path(folder) / "topiclab_core.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*.py")):
            archive.write(path, Path("core") / path.relative_to(package))
    return target


# --- running one job with progress and cancel ---------------------------------------------

def run_job(session, label: str, action: Callable[[], T], progress: Progress | None = None,
            expected_jobs: int = 1) -> T:
    """Run `action` (which starts Spark jobs) under its own job group, reporting progress.

    `expected_jobs` is how many Spark jobs the action is expected to start (online LDA
    starts about one per iteration), so the bar moves with finished jobs and, within a
    job, with its finished tasks. When `progress` raises, the group's jobs are cancelled,
    those it would start later too, and the exception propagates; a failed job raises
    `SparkJobError` with one line of reason.
    """
    sc = session.sparkContext
    _log_errors_again(sc)
    # Unique per call: a cancel is for the group's future jobs too, and Spark remembers it,
    # so a group named by thread, pid and id(action) (an address Python reuses) cancelled
    # a later job of the same label whose action landed at the same address.
    group = f"topiclab-{label}-{os.getpid()}-{uuid.uuid4().hex}"
    outcome: dict[str, Any] = {}

    def work() -> None:
        sc.setJobGroup(group, label, interruptOnCancel=True)
        try:
            outcome["value"] = action()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=work, name=f"spark-{label}", daemon=True)
    started = time.monotonic()
    thread.start()
    shown, shown_at = (-1, ""), started
    try:
        while thread.is_alive():
            thread.join(_POLL_S)
            if progress is not None and not _stopped(sc):
                try:
                    done, message = _status(sc, group, expected_jobs)
                except Exception:
                    if not _stopped(sc):
                        raise
                    continue     # stopped meanwhile: the job's own error says so below
                done = max(done, shown[0], 0)  # the bar only moves forward
                now = time.monotonic()
                if (done, message) != shown or now - shown_at >= HEARTBEAT_S:
                    # changes, and a line every HEARTBEAT_S while a long task runs on
                    progress(done, 1000, f"{label}: {message}, {now - started:.0f} s")
                    shown, shown_at = (done, message), now
    except BaseException:
        # The group's later jobs too: online LDA starts a job per iteration, and a cancel
        # that landed between two of them let the fit run to its end (Spark 4's call;
        # pyspark does not wrap it).
        if not _stopped(sc):     # a stopped context has no jobs left to cancel
            _quiet_while_cancelling(sc)
            sc._jsc.sc().cancelJobGroupAndFutureJobs(group)
        thread.join(60)
        raise
    if "error" in outcome:
        err = outcome["error"]
        if isinstance(err, TopicLabError):
            raise err
        raise SparkJobError(f"Spark job '{label}' failed: {_why(sc, err)}") from err
    return outcome["value"]


_LOG_LEVEL = "ERROR"          # Java's log level while no job is being cancelled
_quieted = threading.Event()  # set from a cancel until the next job starts


def _quiet_while_cancelling(sc) -> None:
    """Silence Java's log while a cancelled job's tasks stop: interrupted tasks log
    `ERROR ShuffleBlockFetcherIterator: Error occurred while fetching local blocks`, and
    Ctrl-C printed those after `error: interrupted; nothing was written`. The cancel
    itself is the one line the user sees; the next job logs errors again
    (`_log_errors_again`), and a job's failure is never told by these lines anyway."""
    try:
        sc.setLogLevel("OFF")
        _quieted.set()
    except Exception as err:   # the cancel goes on whatever the log does
        log.debug("could not quiet Spark's log: %s", err)


def _log_errors_again(sc) -> None:
    """Java's log level back to ERROR after `_quiet_while_cancelling`."""
    if _quieted.is_set():
        sc.setLogLevel(_LOG_LEVEL)
        _quieted.clear()


def _stopped(sc) -> bool:
    """Whether the SparkContext was stopped (by `stop`, or its Java process died): its
    status tracker and job groups are gone then."""
    try:
        return sc._jsc is None or bool(sc._jsc.sc().isStopped())
    except Exception:
        return True


@contextmanager
def cleaning_up(*steps: Callable[[], object]) -> Iterator[None]:
    """Run `steps` (unpersist, destroy a broadcast, remove a scratch folder) after the
    block; a step that fails is logged, never raised. When the block failed, its own error
    goes on: a session stopped during a scoring made `Broadcast.destroy` raise a Java
    NullPointerException, which was all the user saw of why the scoring failed. When it
    succeeded, its result is complete (a session that stopped just after the job made the
    same clean-up fail a scoring whose fingerprints had been read)."""
    try:
        yield
    except BaseException:
        for step in steps:
            quietly(step)
        raise
    for step in steps:
        quietly(step, after="a Spark job")


def quietly(step: Callable[[], object], after: str = "a failed Spark job") -> None:
    """Run a clean-up `step`: its own failure is logged, never raised in place of the
    error on its way or of a result (`cleaning_up`)."""
    try:
        step()
    except Exception as err:
        also = " also" if after == "a failed Spark job" else ""
        log.warning("cleaning up after %s%s failed: %s", after, also, explain(err))


def _status(sc, group: str, expected_jobs: int) -> tuple[int, str]:
    """(progress in thousandths, message) of a job group from the status tracker."""
    tracker = sc.statusTracker()
    jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(group)]
    jobs = [j for j in jobs if j is not None]
    finished = sum(1 for j in jobs if j.status in ("SUCCEEDED", "FAILED"))
    tasks_done = tasks_total = active = 0
    for job in jobs:
        if job.status != "RUNNING":
            continue
        for stage in _stages_to_run(sc, job):
            tasks_done += stage.numCompletedTasks()
            tasks_total += stage.numTasks()
            active += stage.numActiveTasks()
    within = tasks_done / tasks_total if tasks_total else 0.0
    share = min(1.0, (finished + within) / max(expected_jobs, finished + 1))
    message = f"{finished} Spark jobs done"
    if tasks_total:
        message += f", running one: {tasks_done}/{tasks_total} tasks done, {active} running"
    return round(999 * share), message


def _stages_to_run(sc, job) -> list:
    """A running job's stages, less those it skips: a shuffle's map stage, which Spark runs
    as a job of its own first, is listed again in the job after it (under a new id) and
    never runs there. Its tasks counted as never done, and the bar of a job stopped short
    (4/6 tasks at its end). A stage never submitted, before one that was, is such a
    stage: a job submits the stages it reads from first, and they have lower ids."""
    tracker = sc._jsc.statusTracker()   # pyspark's leaves out when a stage was submitted
    stages = [s for s in (tracker.getStageInfo(i) for i in sorted(job.stageIds))
              if s is not None]
    submitted = [i for i, s in enumerate(stages) if s.submissionTime() > 0]
    last = submitted[-1] if submitted else -1
    return [s for i, s in enumerate(stages) if i >= last or s.submissionTime() > 0]


_STOPPED = ("the Spark session stopped while the job ran (it was stopped, or its Java "
            "process died)")
_REASONS = (
    (re.compile(r"OutOfMemoryError|Java heap space|GC overhead", re.I),
     "out of memory (raise TOPICLAB_SPARK_DRIVER_MEMORY or spark.executor.memory)"),
    (re.compile(r"ExecutorLostFailure|executor lost|Lost executor", re.I),
     "an executor was lost (a worker died or was killed)"),
    (re.compile(r"SparkContext was shut down|stopped SparkContext|Py4JNetworkError|"
                r"Answer from Java side is empty", re.I), _STOPPED),
    (re.compile(r"cancelled (job|because)|was cancelled", re.I),
     "the job was cancelled"),
    (re.compile(r"JAVA_GATEWAY_EXITED|Java gateway process exited", re.I),
     "the Java process could not start (is Java 17 installed? `make spark`)"),
)


def _why(sc, err: BaseException) -> str:
    """Why a job failed: a stopped session fails its running job with whatever Spark
    hit next (an INTERNAL_ERROR about a null DAGScheduler), so when the context is stopped
    and the error names no better reason, that is the reason given."""
    if _stopped(sc) and not any(pattern.search(str(err)) for pattern, _ in _REASONS):
        return _STOPPED
    return explain(err)


def explain(err: BaseException) -> str:
    """One line saying why a Spark job failed, from the exception's (long) text."""
    text = str(err)
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    # A Python error inside a task: its last "SomeError: message" line is the reason.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line) and "py4j" not in line:
            return f"a task failed with {line[:300]}"
    first = lines[0] if lines else type(err).__name__
    return f"{type(err).__name__}: {first[:300]}"
