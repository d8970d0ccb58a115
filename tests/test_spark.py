"""The Spark engine on a real local Spark (`local[2]`): training, scoring, failure, registry.

One SparkSession and one trained Spark model serve the whole module (starting Spark and
training are the slow parts); the corpus is small and has three planted word groups.
`make test` installs pyspark (requirements-spark.txt), so in CI these tests run; they are
skipped only where pyspark is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import cli, config
from core.data import ingest, spark_export
from core.errors import Cancelled, TopicLabError
from core.model import spark_session
from core.ops import deploy, spark_engine
from core.ops.train import TrainSpec, build_corpus, train
from core.serve import registry, score

MASTER = "local[2]"
HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
needs_spark = pytest.mark.skipif(
    not HAVE_PYSPARK, reason="pyspark is not installed: `make spark` (make test does it)")
pytestmark = pytest.mark.spark

GROUPS = {
    "food": ["pizza", "pasta", "salad", "burger", "sushi", "noodle", "taco", "curry"],
    "money": ["mortgage", "loan", "credit", "bank", "insurance", "pension", "deposit", "tax"],
    "home": ["plumber", "roof", "boiler", "chimney", "drain", "faucet", "gutter", "furnace"],
}


def planted_rows(campaigns_per_group: int = 60, seed: int = 0, filtered: bool = False
                 ) -> pd.DataFrame:
    """Campaigns whose two-word keywords all come from one of three word groups; with
    `filtered`, also a word in every campaign ("acme", too common for the vocabulary) and
    one in a single campaign ("zeppelin", too rare)."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, words in GROUPS.items():
        for c in range(campaigns_per_group):
            cid = f"{group}-{c:03d}"
            for _ in range(10):
                a, b = rng.choice(words, 2, replace=False)
                rows.append({"campaign_id": cid, "campaign_name": f"{group} {c}",
                             "keyword": f"{a} {b}", "clicks": int(rng.integers(0, 50))})
            if filtered:
                rows.append({"campaign_id": cid, "campaign_name": f"{group} {c}",
                             "keyword": "acme" if c or group != "food" else "acme zeppelin",
                             "clicks": 1})
    return pd.DataFrame(rows)


class Started:
    """What starting the module's Spark printed: the progress lines `get` reported, and
    everything Java wrote on stderr (`tee_java_stderr`), then and since."""

    def __init__(self) -> None:
        self.progress: list[str] = []
        self.java = bytearray()
        self.teed = False          # whether this module started Java (and read its stderr)
        self.sigint_handler: object = None   # the main thread's, while the session started
        self.sigint_before: object = None    # the process's, before Spark started

    def __call__(self, done: int, total: int, message: str) -> None:
        self.progress.append(message)


def tee_java_stderr(started: Started) -> Callable[[], None]:
    """Start Java with a pipe as its stderr, read by a thread that keeps every byte in
    `started.java` and writes it on to this process's stderr (pytest's capture, as
    before). The JVM inherits fd 2 when it starts, so the pipe is its stderr for good; the
    returned function puts this process's own fd 2 back."""
    started.teed = True
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        while chunk := os.read(read_end, 65536):
            started.java.extend(chunk)
            os.write(saved, chunk)

    threading.Thread(target=pump, name="java-stderr", daemon=True).start()

    def restore() -> None:
        os.dup2(saved, 2)
    return restore


@contextmanager
def noting_the_sigint_handler(started: Started) -> Iterator[None]:
    """Note in `started` the main thread's Ctrl-C handler when the SparkSession is made
    (after its SparkContext started: the seconds a Ctrl-C met Spark's handler)."""
    from pyspark.sql import SparkSession

    made = SparkSession.__init__

    def noting(self, *args, **kwargs):
        started.sigint_handler = signal.getsignal(signal.SIGINT)
        made(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SparkSession, "__init__", noting)
        yield


USER_OPTION = "topiclab.test.user.option"
SUBMIT_OPTION = "topiclab.test.submit.option"


@pytest.fixture(scope="module")
def started() -> Started:
    return Started()


@pytest.fixture(scope="module")
def python_ctrl_c() -> Iterator[None]:
    """Python's own Ctrl-C handler while the module runs (restored after): a process
    started as a background job of a non-interactive shell (`.ci/run &`) inherits SIGINT
    ignored, and a check that Ctrl-C is still a KeyboardInterrupt after Spark started
    needs a process where it was one before."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def session(started, python_ctrl_c, tmp_path_factory):
    """The module's Spark. Its JVM compiles with C1 only: these jobs are tiny, and C2's
    compiler threads took CPU from the other test worker (the session and two trainings:
    113 → 70 CPU s, 64 → 50 s). Big jobs keep Java's default, which this does not change.
    What its start printed is kept in `started` (when this module starts Java)."""
    if not HAVE_PYSPARK:
        pytest.skip("pyspark is not installed: `make spark` (make test does it)")
    from pyspark import SparkContext

    mp = pytest.MonkeyPatch()
    mp.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1")   # read when the JVM starts
    conf = tmp_path_factory.mktemp("spark-conf")   # a user's own driver option (`USER_OPTION`)
    (conf / "spark-defaults.conf").write_text(
        f"spark.driver.extraJavaOptions  -D{USER_OPTION}=kept\n", "utf-8")
    mp.setenv("SPARK_CONF_DIR", str(conf))
    # and one in PYSPARK_SUBMIT_ARGS (`SUBMIT_OPTION`), which pyspark passes after ours
    mp.setenv("PYSPARK_SUBMIT_ARGS",
              f"--driver-java-options '-D{SUBMIT_OPTION}=kept -D{SUBMIT_OPTION}.2=kept' "
              "pyspark-shell")
    restore = tee_java_stderr(started) if SparkContext._gateway is None else None
    started.sigint_before = signal.getsignal(signal.SIGINT)
    try:
        try:
            with noting_the_sigint_handler(started):
                spark = spark_session.get(MASTER, started)
        finally:
            if restore:
                restore()
        yield spark
    finally:
        spark_session.stop()
        mp.undo()


@pytest.fixture(scope="module")
def spark_home(session, tmp_path_factory) -> tuple[Path, str, str]:
    """A store with the planted dataset and one Spark model trained through the CLI, and
    what that training printed on stderr (its progress lines)."""
    home = tmp_path_factory.mktemp("spark-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        path = home / "planted.csv"
        planted_rows(filtered=True).to_csv(path, index=False)
        ingest.import_paths([path], "planted")
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(["train", "--engine", "spark", "--dataset", "planted", "--k", "3",
                             "--seed", "1", "--spark-master", MASTER])
        assert code == 0, err.getvalue()
        model_id = json.loads(out.getvalue())["model_id"]
    finally:
        mp.undo()
    return home, model_id, err.getvalue()


@pytest.fixture
def home_with_model(spark_home, monkeypatch) -> str:
    home, model_id, _ = spark_home
    monkeypatch.setenv("TOPICLAB_HOME", str(home))
    return model_id


@needs_spark
def test_starting_spark_says_so_and_how_long_it_took(session, started):
    """The first Spark command sat ~30 s without a word while Java and the session
    started: now the start is announced and timed through `progress` (the CLI's lines,
    the Train page's bar); a session that is running already says nothing."""
    assert started.progress[0] == ("Starting Spark on local[2] (Java and a Spark session; "
                                   "the first start takes half a minute or more)…")
    assert re.fullmatch(r"Spark started on local\[2\] in \d+ s", started.progress[1])
    assert spark_session.get(MASTER, started) is session
    assert len(started.progress) == 2


@needs_spark
def test_java_prints_errors_only(session, started):
    """Java printed the WARN lines of Spark's default log profile at every start (the
    hostname's loopback address, no native Hadoop library, "Setting default log level to
    WARN"): now only errors reach stderr, and they still do."""
    if not started.teed:
        pytest.skip("Java was started before this module: its start-up lines are not here")
    log4j = session.sparkContext._jvm.org.apache.logging.log4j.LogManager.getLogger("check")
    log4j.warn("a warning nobody needs to see")
    log4j.error("an error the user must see")
    deadline = time.monotonic() + 10
    while b"an error the user must see" not in started.java and time.monotonic() < deadline:
        time.sleep(0.1)
    printed = started.java.decode(errors="replace")
    assert "ERROR check: an error the user must see" in printed, printed
    for noise in (r"\b(WARN|INFO)\b", "log4j profile", "Setting default log level"):
        assert not re.search(noise, printed), printed


def test_a_log4j2_properties_in_sparks_conf_folder_is_left_to_rule(tmp_path, monkeypatch):
    """Topic Lab's quiet log profile is passed unless Spark's conf folder has its own
    log4j2.properties (which `-Dlog4j.configurationFile` would override). No Spark."""
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)   # the module session's
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path / "with space"))
    option = spark_session._driver_java_options()
    assert option.startswith("-Dlog4j.configurationFile=file:///") and " " not in option
    assert Path(option.split("file://", 1)[1].replace("%20", " ")).is_file()
    (tmp_path / "with space").mkdir()
    (tmp_path / "with space" / "log4j2.properties").write_text("rootLogger.level = info\n")
    assert spark_session._driver_java_options() == ""


def test_a_users_driver_java_options_are_kept_and_ours_appended(tmp_path, monkeypatch):
    """Our log4j option replaced the user's `spark.driver.extraJavaOptions` of
    spark-defaults.conf (the builder's value wins over the file's): theirs now come first,
    ours after, and a log4j configuration of their own is left to rule. No Spark."""
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)   # the module session's
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    defaults = tmp_path / "spark-defaults.conf"
    defaults.write_text("# mine\nspark.executor.memory 3g\nspark.driver.extraJavaOptions = "
                        "-Duser.timezone=UTC \\\n    -Xss4m\n", "utf-8")
    option = spark_session._driver_java_options()
    assert option.startswith("-Duser.timezone=UTC -Xss4m -Dlog4j.configurationFile=file:/")
    defaults.write_text("spark.driver.extraJavaOptions -Dlog4j2.configurationFile=/my.xml",
                        "utf-8")
    assert spark_session._driver_java_options() == "-Dlog4j2.configurationFile=/my.xml"
    # PYSPARK_SUBMIT_ARGS's, as spark-submit reads them (the last given wins), after the
    # file's: pyspark passed them after ours, so they replaced ours and the file's
    defaults.write_text("spark.driver.extraJavaOptions -Duser.timezone=UTC", "utf-8")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master 'local[2]' --driver-java-options "
                       "'-Dold=1' --conf spark.driver.extraJavaOptions='-Da=1 -Db=2' --conf "
                       "spark.x=1 pyspark-shell app-arg --driver-java-options z")
    option = spark_session._driver_java_options()
    assert option.startswith("-Duser.timezone=UTC -Da=1 -Db=2 -Dlog4j.configurationFile=")
    assert spark_session.submit_java_options(os.environ["PYSPARK_SUBMIT_ARGS"])[1] == (
        "--master 'local[2]' --conf spark.x=1 pyspark-shell app-arg --driver-java-options z")
    for given in ("--driver-java-options=-Da=1 pyspark-shell",
                  "-c spark.driver.extraJavaOptions=-Da=1 pyspark-shell",
                  "--conf=spark.driver.extraJavaOptions=-Da=1 pyspark-shell"):
        assert spark_session.submit_java_options(given) == ("-Da=1", "pyspark-shell"), given
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-java-options '-Da=1 pyspark-shell")
    with pytest.raises(TopicLabError, match="PYSPARK_SUBMIT_ARGS cannot be read as "
                                            r"spark-submit's arguments \(No closing quotation"):
        spark_session._driver_java_options()


@needs_spark
def test_a_users_driver_java_option_reaches_the_driver_with_ours(session, started):
    """The module's Spark started with a spark-defaults.conf of the user's holding a
    driver option: the JVM has it, and our quiet log profile too."""
    if not started.teed:
        pytest.skip("Java was started before this module, without the user's option")
    system = session.sparkContext._jvm.java.lang.System
    assert system.getProperty(USER_OPTION) == "kept"
    assert system.getProperty("log4j.configurationFile").endswith("spark_log4j2.properties")
    # PYSPARK_SUBMIT_ARGS's --driver-java-options replaced ours (and the file's)
    assert system.getProperty(SUBMIT_OPTION) == system.getProperty(f"{SUBMIT_OPTION}.2") \
        == "kept"
    assert os.environ["PYSPARK_SUBMIT_ARGS"].startswith("--driver-java-options")  # put back


@needs_spark
def test_spark_training_writes_a_loadable_artifact_that_recovers_planted_groups(
        home_with_model):
    model = registry.load(home_with_model)
    assert model.manifest["engine"] == "spark" and model.k == 3
    assert type(model.engine).__name__ == "SparkLDA"
    np.testing.assert_allclose(model.engine.topic_term_.sum(axis=1), 1.0)
    assert model.engine.fit_info_["master"] == MASTER  # where it ran
    found = set()
    for words in model.top_words(6):
        owners = {g for g, members in GROUPS.items() if set(words) <= set(members)}
        assert len(owners) == 1, f"topic mixes groups: {words}"
        found |= owners
    assert found == set(GROUPS)
    # Tokens and vocabulary are those of a local run on the same data and settings.
    local, _ = build_corpus("planted", None, TrainSpec(dataset="planted").text)
    assert set(model.vocabulary) == set(local.vocabulary)
    assert model.encoder.tokenizer.language_ == local.tokenizer.language_
    for word in model.vocabulary:
        i, j = model.encoder.dictionary.token2id[word], local.dictionary.token2id[word]
        assert model.encoder.dictionary.dfs[i] == local.dictionary.dfs[j]
    assert model.manifest["metrics"]["npmi"] is not None
    # It is a model like any other: it folds pasted keywords in.
    fp = score.fold_in(model, ["sushi taco", "pizza curry"])
    assert np.argmax(fp.weights) == np.argmax(model.engine.topic_term_[
        :, model.encoder.dictionary.token2id["sushi"]])


@needs_spark
def test_spark_training_progress_only_moves_forward_and_ends_at_100(spark_home):
    """The CLI's progress lines of the fixture's training: every stage, encoding the
    counts included, stays within its slice of the bar (it once reached 159%); and the
    size and score warnings a local run gives."""
    printed = spark_home[2]
    shown = [float(m) for m in re.findall(r"^\[\s*([0-9.]+)%\]", printed, flags=re.M)]
    assert len(shown) > 5 and "] encode counts" in printed
    assert all(0 <= p <= 100 for p in shown), shown
    assert shown == sorted(shown) and shown[-1] == 100, shown
    # A local run's warnings too (Spark training gave none): 24 words for K = 3.
    assert "warning: The vocabulary has 24 words for 3 topics" in printed, printed


@needs_spark
def test_spark_artifact_is_complete_like_a_local_one(home_with_model):
    """Encoded counts, corpus frequencies, brand/place words and word vectors are saved as
    local engines save them, so Lookup, Topics and drift need not encode the campaigns
    again."""
    from core.data import datasets
    from core.model.corpus import EncodedCounts
    from core.serve import naming

    model = registry.load(home_with_model)
    saved = EncodedCounts.load(registry.model_dir(home_with_model))
    assert saved is not None
    ids, matrix, oov = model.encoder.encode_frame(datasets.terms("planted", 1), as_matrix=True)
    assert saved.campaign_ids == ids  # same campaigns, same (import) order
    assert (saved.matrix != matrix).nnz == 0 and saved.matrix.nnz > 0
    np.testing.assert_allclose(saved.oov_share, oov)
    cfs = model.encoder.dictionary.cfs
    sushi = model.encoder.dictionary.token2id["sushi"]
    assert cfs[sushi] == int(matrix[:, sushi].sum()) > 0
    assert "name_words" in model.manifest
    assert model.manifest["name_words"] == naming.detect_for(
        model.encoder, "planted", 1).to_dict()
    # word vectors for campaign vectors, learnt on the local sample (TextConfig default)
    vectors = model.encoder.word_vectors
    assert vectors is not None and vectors.shape[0] == len(model.encoder.vocabulary)
    assert np.abs(vectors[model.encoder.dictionary.token2id["sushi"]]).sum() > 0
    # the words each topic shows are judged on the local sample, as a local model's: too
    # few campaigns here to pick on, so the most probable, and the model says why
    assert model.engine.shown_words == "coherent" and not model.engine.words_picked
    assert "training campaigns are too few" in model.engine.fit_info_["shown_words"]
    # Where Spark wrote the counts is kept, so deleting the model removes them there.
    counts_at = model.engine.fit_info_["counts"]
    assert counts_at == spark_export.counts_location(home_with_model)
    assert (Path(counts_at) / "_SUCCESS").exists()


@needs_spark
def test_a_spark_models_npmi_is_the_one_the_quality_gate_counts(home_with_model):
    """The Compare table's NPMI of a Spark model was counted over its sample's training
    part, the gate's over the whole version (as a local model's is now): the two differed
    for one model. Both count over the whole version when it is no larger than the sample."""
    from core.model.text import TextConfig
    from core.ops import gate

    record = registry.get(home_with_model)
    corpus, _ = build_corpus("planted", 1, TextConfig.from_dict(record["text_config"]))
    recorded = record["metrics"]["npmi"]
    assert recorded == pytest.approx(gate.fit_on(corpus, home_with_model).npmi, abs=1e-9)


@needs_spark
def test_spark_and_local_models_split_pasted_unknown_words_alike(home_with_model):
    """A Spark model keeps the words its vocabulary filters dropped, as a local model does
    (`encoder/dropped.json`): pasted words were all "never seen" in a Spark model, so
    "acme" (in every campaign) and "zeppelin" (in one) were counted as new words."""
    from core.model.campaign_model import fold_in_keywords
    from core.ops.train import make_engine

    model = registry.load(home_with_model)
    local, _ = build_corpus("planted", None, TrainSpec(dataset="planted").text)
    assert model.encoder.dropped == local.encoder.dropped == {
        "acme": "too common", "zeppelin": "too rare"}
    engine = make_engine("gensim", k=3, passes=1, iterations=5).fit(local)
    pasted = ["sushi acme", "zeppelin pizza", "unheardof taco"]
    in_spark = score.fold_in(model, pasted)
    in_local = fold_in_keywords(local.encoder, engine, pasted, "local")
    assert in_spark.oov_share == in_local.oov_share == 0.5
    assert in_spark.unknown_report() == in_local.unknown_report()
    assert in_spark.unknown_report()["never_seen"] == ["unheardof"]


@needs_spark
def test_export_dir_can_be_a_hadoop_uri(home_with_model, tmp_path, monkeypatch):
    """With `--export-dir` a URI (over TOPICLAB_SPARK_EXPORT_DIR), the export is uploaded
    there through Hadoop's FileSystem API, and a model whose counts are not there is
    encoded again in Spark."""
    monkeypatch.setenv("TOPICLAB_SPARK_EXPORT_DIR", str(tmp_path / "from-env"))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["score", home_with_model, "--engine", "spark", "--spark-master",
                         MASTER, "--export-dir", tmp_path.as_uri() + "/"]) == 0
    result = json.loads(out.getvalue())
    assert "encode" in result["timings"] and result["campaigns"] == 180
    [folder] = [p for p in tmp_path.iterdir() if (p / "_SUCCESS").exists()]
    assert list(folder.glob("bucket=*/*.parquet"))           # the export, uploaded
    assert (tmp_path / "counts" / home_with_model / "_SUCCESS").exists()
    assert not (tmp_path / "from-env").exists()
    in_spark, local = _and_scored_locally(home_with_model)
    np.testing.assert_allclose(in_spark.weights, local.weights, atol=1e-6, rtol=0)


def _and_scored_locally(model_id: str):
    """The fingerprints Spark stored for `model_id`, and those a local scoring then stores."""
    in_spark = score.load_fingerprints(model_id)
    score.score_dataset(model_id)
    return in_spark, score.load_fingerprints(model_id)


@needs_spark
def test_a_finished_export_is_said_to_be_reused_not_exported(spark_home, home_with_model):
    """Training exported the version; a Spark scoring that finds that export in place
    said "Exporting planted v1 to Parquet for Spark…" all the same, though it wrote
    nothing."""
    assert "] Exporting planted v1 to Parquet" in spark_home[2]   # training wrote it
    other = train(TrainSpec(dataset="planted", engine="tomotopy", k=3,
                            params={"iterations": 20})).model_id
    lines: list[str] = []
    try:
        spark_engine.score(other, lambda done, total, message: lines.append(message),
                           master=MASTER)
    finally:
        registry.delete(other)
    assert "Reusing the export of planted v1 to Parquet (written by an earlier run)…" \
        in lines, lines
    assert not [m for m in lines if m.startswith("Exporting")], lines


@needs_spark
def test_counts_a_spark_scoring_wrote_elsewhere_go_with_the_model(home_with_model, tmp_path,
                                                                  capsys):
    """`score --engine spark --export-dir B` encodes a model's counts into B; a later
    `delete-model` without the flag looked only where training wrote them and under the
    export dir in force, so B kept them. The registry now remembers B."""
    from core.data import store
    from core.errors import NotFoundError

    other = train(TrainSpec(dataset="planted", engine="tomotopy", k=3,
                            params={"iterations": 20})).model_id
    elsewhere = tmp_path / "elsewhere"
    for model in (other, home_with_model):
        assert cli.main(["score", model, "--engine", "spark", "--spark-master", MASTER,
                         "--export-dir", str(elsewhere)]) == 0
    capsys.readouterr()
    assert (elsewhere / "counts" / other / "_SUCCESS").exists()
    assert cli.main(["delete-model", other]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": other}
    assert not (elsewhere / "counts" / other).exists()
    assert (elsewhere / "counts" / home_with_model / "_SUCCESS").exists()   # others' stay
    assert store.query_one("SELECT count(*) FROM spark_counts WHERE model_id = ?",
                           [other])[0] == 0
    with pytest.raises(NotFoundError):          # a model deleted meanwhile: no row
        registry.record_counts(other, str(elsewhere / "counts" / other))


@needs_spark
def test_counts_of_a_model_deleted_while_spark_scores_it_do_not_stay(home_with_model,
                                                                     monkeypatch):
    """`delete-model M` while Spark scores M. Deleted before the encode job wrote M's
    counts, they were written after the delete and stayed, recorded nowhere, when scoring
    failed ("deleted while it was being scored"); deleted after, the job failed with
    pyspark's `[PATH_NOT_FOUND] Path does not exist`. Now the counts go and the error is
    "deleted while it was being scored" both times."""
    from core.data import auth, store
    from core.errors import NotFoundError

    def tomotopy_model() -> str:
        return train(TrainSpec(dataset="planted", engine="tomotopy", k=3,
                               params={"iterations": 10})).model_id

    first, second = tomotopy_model(), tomotopy_model()
    record, encode = registry.record_counts, spark_engine._encode_job

    def record_then_delete(model_id, location):   # the delete lands before Spark writes
        record(model_id, location)
        registry.delete(model_id)

    def encode_then_delete(session, location, encoder, target):   # ... or after
        encode(session, location, encoder, target)
        with auth.use(auth.local_user()):     # the job's own thread has no user
            registry.delete(second)

    for doomed, module, name, stand_in in (
            (first, registry, "record_counts", record_then_delete),
            (second, spark_engine, "_encode_job", encode_then_delete)):
        with monkeypatch.context() as patched:
            patched.setattr(module, name, stand_in)
            with pytest.raises(NotFoundError, match="deleted while it was being scored"):
                spark_engine.score(doomed, master=MASTER)
    for doomed in (first, second):
        assert not Path(spark_export.counts_location(doomed)).exists()
        assert store.query_one("SELECT count(*) FROM spark_counts WHERE model_id = ?",
                               [doomed])[0] == 0
    assert not set(registry.list_models()["model_id"]) & {first, second}


@needs_spark
def test_two_spark_scorings_of_one_model_never_write_over_each_others_counts(
        home_with_model, tmp_path, monkeypatch):
    """Two `score --engine spark` of one model into one export dir both encoded straight
    into `counts/<model>` in overwrite mode, each deleting what the other was writing or
    reading. Now each encodes into its own scratch folder and moves it into place; when
    the other run got there first, its complete counts are kept and this run's dropped.
    No empty `scratch/` folder is left behind."""
    export = tmp_path / "shared-export"
    monkeypatch.setenv("TOPICLAB_SPARK_EXPORT_DIR", str(export))
    counts_at = Path(spark_export.counts_location(home_with_model))
    encode = spark_engine._encode_job

    def the_other_run_finishes_first(session, location, encoder, target):
        # the other process's run: its complete counts, marked, land while ours encodes
        encode(session, location, encoder, str(counts_at))
        (counts_at / "_written-by-the-other-run").write_text("mine")
        encode(session, location, encoder, target)

    monkeypatch.setattr(spark_engine, "_encode_job", the_other_run_finishes_first)
    result = spark_engine.score(home_with_model, master=MASTER)
    assert result.campaigns == 180
    assert (counts_at / "_written-by-the-other-run").read_text() == "mine"   # kept whole
    assert (counts_at / "_SUCCESS").exists()
    assert not (export / "scratch").exists()         # the run's folder, and the empty parent
    in_spark, local = _and_scored_locally(home_with_model)
    np.testing.assert_allclose(in_spark.weights, local.weights, atol=1e-6, rtol=0)


@needs_spark
def test_spark_scoring_keeps_hidden_spares_as_local_scoring_does(session, home, tmp_path):
    """A model with hidden spare topics (`--hidden-spares`): Spark ships every topic, the
    hidden ones too, and stores the same fingerprints and hidden shares as local scoring
    (it folded in over the K shown alone, which ranks neighbours by other vectors). The
    planted words (24) hold no spares: 120 demo campaigns do."""
    from tests.conftest import demo_subset

    ingest.import_paths([demo_subset(tmp_path / "some.parquet", 120)], "some")
    hidden = train(TrainSpec(dataset="some", engine="tomotopy", k=5,
                             params={"iterations": 20, "spare_share": 0.4,
                                     "hidden_spares": True})).model_id
    spark_engine.score(hidden, master=MASTER)
    in_spark, local = _and_scored_locally(hidden)
    assert local.hidden is not None and local.hidden.shape[1] >= 1
    np.testing.assert_allclose(in_spark.weights, local.weights, atol=1e-6, rtol=0)
    np.testing.assert_allclose(in_spark.hidden, local.hidden, atol=1e-6, rtol=0)


@needs_spark
def test_a_hadoop_rename_onto_a_folder_fails_rather_than_nests(session, tmp_path,
                                                               monkeypatch):
    """On a Hadoop URI, `FileSystem.rename` moves a folder *into* a target folder that
    exists: two runs moving their counts to one `counts/<model>` at once (the check before
    the rename passed for both) nested one's folder in the other's, which Spark then could
    not read. Now the rename refuses, the other run's folder is kept as it is and this
    run's is left to the caller; the same through the fallback for file systems without
    FileContext. Tested on file:// through the Hadoop API."""
    fs = spark_export.HadoopFS(session)
    base = tmp_path.as_uri()

    def folder(name: str, *files: str) -> str:
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file).write_text(name)
        return f"{base}/{name}"

    theirs, ours = folder("target", "_SUCCESS", "part-0"), folder("ours", "part-0")
    assert fs.rename(ours, theirs) is False
    assert sorted(p.name for p in (tmp_path / "target").iterdir()) == ["_SUCCESS", "part-0"]
    assert (tmp_path / "ours" / "part-0").exists()
    assert fs.rename(ours, f"{base}/fresh") is True and not (tmp_path / "ours").exists()

    # The check-then-rename race of move_into_place: the other run's complete folder
    # lands after the check, before the rename.
    ours = folder("ours2", "part-0", "_SUCCESS")
    target = f"{base}/counts/m1"
    mkdirs = spark_export.HadoopFS.mkdirs

    def the_other_run_lands(self, location):
        mkdirs(self, location)
        (tmp_path / "counts" / "m1").mkdir(exist_ok=True)
        (tmp_path / "counts" / "m1" / "_SUCCESS").write_text("theirs")

    monkeypatch.setattr(spark_export.HadoopFS, "mkdirs", the_other_run_lands)
    assert spark_export._move_with_hadoop(fs, ours, target) is False
    assert [p.name for p in (tmp_path / "counts" / "m1").iterdir()] == ["_SUCCESS"]
    monkeypatch.undo()

    # The fallback (FileSystem.rename) moved into the folder, then takes it out again.
    exists, calls = fs.exists, []

    def missed_once(location):                    # the pre-check runs before it lands
        calls.append(location)
        return False if len(calls) == 1 else exists(location)

    monkeypatch.setattr(fs, "exists", missed_once)
    theirs = folder("target2", "_SUCCESS")
    assert fs._rename_then_check(ours, theirs) is False
    assert calls == [theirs, f"{theirs}/ours2"]     # the pre-check missed it: undone
    assert [p.name for p in (tmp_path / "target2").iterdir()] == ["_SUCCESS"]
    assert (tmp_path / "ours2" / "part-0").exists()


@needs_spark
def test_an_export_under_a_home_with_a_space_or_kana_uploads_to_a_uri(session, tmp_path):
    """With a URI export dir, the driver uploads DuckDB's export from $TOPICLAB_HOME/parquet.
    Hadoop's Path read the percent-escapes of that folder's file:// URI as they were, so
    under `ホーム dir` the upload failed: `FileNotFoundException: File
    file:/…/%E3%83%9B…%20dir/… does not exist`, a Py4JJavaError traceback."""
    staged = tmp_path / "ホーム dir" / "parquet" / "export"
    (staged / "bucket=0").mkdir(parents=True)
    (staged / "bucket=0" / "part-0.parquet").write_bytes(b"PAR1")
    (staged / "_SUCCESS").write_text("")
    target = f"{(tmp_path / 'cluster').as_uri()}/export"
    spark_export.HadoopFS(session).upload(staged, target)
    assert (tmp_path / "cluster" / "export" / "bucket=0" / "part-0.parquet").read_bytes() \
        == b"PAR1"
    assert (tmp_path / "cluster" / "export" / "_SUCCESS").exists()


@needs_spark
def test_a_file_uri_with_percent_escapes_is_the_folder_spark_writes(home_with_model,
                                                                   tmp_path, capsys):
    """Hadoop takes `file:///x/pct%20dir` as the folder `pct%20dir`, and Spark wrote the
    counts there; this process decoded it to `pct dir`, so moving the counts into place
    failed with a FileNotFoundError traceback. Both read it as Hadoop does now, and
    `delete-model` looks in the same folder."""
    location = f"{tmp_path.as_uri()}/pct%20dir#1"
    assert spark_export._local_path(location) == tmp_path / "pct%20dir#1"
    other = train(TrainSpec(dataset="planted", engine="tomotopy", k=3,
                            params={"iterations": 10})).model_id
    assert cli.main(["score", other, "--engine", "spark", "--spark-master", MASTER,
                     "--export-dir", location]) == 0, capsys.readouterr().err
    counts = tmp_path / "pct%20dir#1" / "counts" / other
    assert (counts / "_SUCCESS").exists() and not (tmp_path / "pct dir#1").exists()
    assert cli.main(["delete-model", other]) == 0
    assert not counts.exists()


@needs_spark
def test_an_export_dir_hadoop_or_this_machine_cannot_use_is_one_line(home_with_model,
                                                                     capsys):
    """`--export-dir foo://x` (no such Hadoop file system), `file:relative` and a folder
    that cannot be made (`/proc/x`) ended in Py4JJavaError / FileNotFoundError tracebacks;
    now one line naming the place, and the stored fingerprints stay."""
    score.score_dataset(home_with_model)
    before = score.load_fingerprints(home_with_model).weights.copy()
    for location, message in (("foo://x/y", 'No FileSystem for scheme "foo"'),
                              ("file:relative", "file:relative: a file: URI names a "
                                                "folder from the root"),
                              ("/proc/topiclab-x", "/proc/topiclab-x: cannot be made")):
        assert cli.main(["score", home_with_model, "--engine", "spark", "--spark-master",
                         MASTER, "--export-dir", location]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    np.testing.assert_array_equal(score.load_fingerprints(home_with_model).weights, before)


@needs_spark
def test_a_uri_hadoop_refuses_is_named_with_hadoops_reason(session):
    """`--export-dir hdfs://` (no host) said only py4j's "An error occurred while calling
    o44.getFileSystem."; Java's own reason is the one given."""
    with pytest.raises(TopicLabError) as refused:
        spark_export.HadoopFS(session).exists("hdfs:/topiclab")
    assert "(Incomplete HDFS URI, no host: hdfs:/topiclab)" in str(refused.value), refused.value
    assert "An error occurred" not in str(refused.value)


@needs_spark
def test_spark_scoring_equals_local_scoring(home_with_model):
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["score", home_with_model, "--engine", "spark",
                         "--spark-master", MASTER]) == 0
    result = json.loads(out.getvalue())
    assert result["engine"] == "spark" and result["campaigns"] == 180
    assert "encode" not in result["timings"]  # the counts Spark training wrote are read
    # The fold-in's output went through a scratch folder, removed once read back, and the
    # `scratch/` folder with it once empty (it stayed).
    assert not (Path(spark_export.export_dir()) / "scratch").exists()
    in_spark, local = _and_scored_locally(home_with_model)
    assert in_spark.campaign_ids == local.campaign_ids
    np.testing.assert_allclose(in_spark.weights, local.weights, atol=1e-6, rtol=0)
    np.testing.assert_allclose(in_spark.oov_share, local.oov_share, atol=1e-6, rtol=0)
    np.testing.assert_allclose(in_spark.confidence, local.confidence, atol=1e-6, rtol=0)


@needs_spark
def test_a_failed_or_cancelled_spark_job_leaves_the_previous_fingerprints(home_with_model):
    if not score.is_scored(home_with_model):
        score.score_dataset(home_with_model)
    before = score.load_fingerprints(home_with_model)
    # Shift the stored ones so a rewrite, even with equal numbers, would show.
    marker = before.weights.copy()

    def hook(frame):
        raise RuntimeError("injected failure in a task")

    with pytest.raises(spark_session.SparkJobError) as failed:
        spark_engine.score(home_with_model, master=MASTER, task_hook=hook)
    message = str(failed.value)
    assert "injected failure in a task" in message and "\n" not in message
    after = score.load_fingerprints(home_with_model)
    np.testing.assert_array_equal(after.weights, marker)

    def cancel(done, total, message):
        raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled, match="stopped by the user"):
        spark_engine.score(home_with_model, master=MASTER, progress=cancel)
    np.testing.assert_array_equal(score.load_fingerprints(home_with_model).weights, marker)


@needs_spark
def test_cancelled_spark_training_leaves_no_model(home_with_model):
    before = set(registry.list_models()["model_id"])
    seen = []

    def cancel_in_lda(done, total, message):
        seen.append(message)
        if message.startswith("online LDA"):
            raise Cancelled("stopped by the user")

    spec = TrainSpec(dataset="planted", engine="spark", k=3, params={"master": MASTER})
    with pytest.raises(Cancelled, match="stopped by the user"):
        train(spec, cancel_in_lda)
    assert any(m.startswith("tokenise and count") for m in seen)  # Spark progress came
    assert set(registry.list_models()["model_id"]) == before
    assert not [p for p in config.models_dir().iterdir()
                if p.name.startswith(".tmp-")]


@needs_spark
def test_ctrl_c_is_left_to_this_process_not_sparks_handler(session, started):
    """SparkContext puts its own Ctrl-C handler on the main thread, which calls the JVM
    inside the signal: landing during another JVM call (`run_job` polls every 0.5 s), a
    CLI training's Ctrl-C printed py4j's "reentrant call" and two tracebacks. The
    process's handler is kept, so Ctrl-C is a KeyboardInterrupt `run_job` cancels on.
    During the start too: the handler was put back only once the session had started,
    and a Ctrl-C while the SparkSession was made (seconds) printed those tracebacks."""
    handler = signal.getsignal(signal.SIGINT)
    assert "signal_handler" not in getattr(handler, "__qualname__", ""), handler
    assert handler is started.sigint_before, (handler, started.sigint_before)
    assert started.sigint_handler is started.sigint_before, started.sigint_handler
    assert started.sigint_before is signal.default_int_handler   # `python_ctrl_c`
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)   # a Ctrl-C, as the terminal sends it
        time.sleep(5)   # the handler runs in this thread before the sleep is over


@needs_spark
def test_a_cancel_while_no_job_runs_stops_the_jobs_after_it(session):
    """Online LDA starts a Spark job per iteration. A cancel that landed between two of
    them (or before the first) cancelled nothing, and the fit ran on to its end."""
    ran, at_cancel = [], []

    def iterations():
        for _ in range(10):
            session.range(10).count()
            ran.append(1)
            time.sleep(0.5)          # the driver's work between two jobs

    def cancel(done, total, message):
        if "Spark jobs done" in message and "running" not in message:
            at_cancel.append(len(ran))
            raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled):
        spark_session.run_job(session, "iterations", iterations, cancel, expected_jobs=10)
    assert at_cancel and at_cancel[0] < 10
    assert len(ran) <= at_cancel[0] + 1, f"{len(ran) - at_cancel[0]} jobs ran after the cancel"


@needs_spark
def test_a_cancelled_job_leaves_java_quiet_until_the_next_job(session):
    """Ctrl-C printed `ERROR ShuffleBlockFetcherIterator: Error occurred while fetching
    local blocks` (tasks interrupted mid-read) after `error: interrupted; nothing was
    written`. A cancel turns Java's log off while the tasks stop; the next job logs
    errors again, and a job that fails by itself leaves the level as it was."""
    def level() -> str:
        jvm = session.sparkContext._jvm
        return str(jvm.org.apache.logging.log4j.LogManager.getRootLogger().getLevel())

    def slow_tasks():
        return session.sparkContext.parallelize(range(2), 2).map(
            lambda x: time.sleep(5) or x).count()

    def cancel(done, total, message):
        if "running" in message:
            raise KeyboardInterrupt

    spark_session.run_job(session, "before", session.range(3).count)  # after any cancel
    assert level() == "ERROR"
    with pytest.raises(KeyboardInterrupt):
        spark_session.run_job(session, "cancelled", slow_tasks, cancel)
    assert level() == "OFF"
    assert spark_session.run_job(session, "next", session.range(3).count) == 3
    assert level() == "ERROR"
    # The same label and action again: the cancel was for that run's group and its future
    # jobs, and the group was named by thread, pid and id(action), so this one was
    # cancelled too (in CI, a later training whose action lambda reused the address).
    assert spark_session.run_job(session, "cancelled", slow_tasks) == 2

    def fails():
        return session.sparkContext.parallelize(range(2), 2).map(lambda x: 1 / 0).count()

    with pytest.raises(spark_session.SparkJobError, match="ZeroDivisionError"):
        spark_session.run_job(session, "fails", fails, lambda *a: None)
    assert level() == "ERROR"


@needs_spark
def test_a_long_task_is_reported_when_it_starts_and_while_it_runs(session, monkeypatch):
    """Progress came from finished tasks only: a stage of long tasks (tokenising a bucket
    of 15,000 campaigns) showed `0/10 tasks` for a minute and more. Started tasks are
    counted, and a line comes every HEARTBEAT_S while nothing else changes."""
    monkeypatch.setattr(spark_session, "HEARTBEAT_S", 1.0, raising=False)
    lines = []

    def slow_tasks():
        return session.sparkContext.parallelize(range(2), 2).map(
            lambda x: time.sleep(6) or x).count()

    def report(done, total, message):
        lines.append((time.monotonic(), message))

    session.sparkContext.parallelize(range(4), 2).count()  # warm: tasks then start within
    # 100 ms of their stage, and Spark's default status updates never showed them running
    assert spark_session.run_job(session, "slow", slow_tasks, report) == 2
    running = [t for t, m in lines if re.search(r"0/2 tasks done, [12] running", m)]
    assert running, lines                      # before any task ended
    assert len(running) >= 2 and re.search(r", [1-9][0-9]* s$", lines[-1][1]), lines
    gaps = np.diff([t for t, _ in lines])
    assert gaps.max() < 3, lines               # never silent for a task's length


@needs_spark
def test_a_stage_a_job_skips_is_not_counted_as_tasks_to_do(session):
    """Spark runs a shuffle's map stage as a job of its own and lists it again, under a
    new id, in the job that reads it, where it never runs: its tasks were counted as not
    done, so the bar of that job stopped short (`4/6 tasks done` at its end)."""
    lines = []

    def slowly(batches):
        for batch in batches:
            time.sleep(2)
            yield batch

    def shuffled():
        frame = session.range(0, 40, numPartitions=2).repartition(2)
        return len(frame.mapInPandas(slowly, schema="id long").collect())

    assert spark_session.run_job(session, "shuffled", shuffled,
                                 lambda done, total, message: lines.append(message), 2) == 40
    counted = re.findall(r"running one: \d+/(\d+) tasks", "\n".join(lines))
    assert counted and set(counted) == {"2"}, lines


@needs_spark
def test_spark_scoring_names_each_step_and_reaches_100_only_when_stored(home_with_model):
    """Scoring's bar was the fold-in job's alone: it sat at 99.9% (74.9% after the last
    job) while the fingerprints were read back and written, and ~17 s passed without a
    line before the first `fold-in:` one (loading the model, shipping it, reading the
    counts). Each step has its line and its share of one bar now, which only moves
    forward and reaches 100% once the fingerprints are stored."""
    from core.data import audit

    scorings = len(audit.entries(action="score"))
    lines: list[tuple[float, str]] = []

    def report(done, total, message):
        if done == total:
            assert len(audit.entries(action="score")) == scorings + 1, message
        lines.append((done / total, message))

    spark_engine.score(home_with_model, report, master=MASTER)
    shares, messages = [s for s, _ in lines], [m for _, m in lines]
    assert messages[0] == f"Loading model {home_with_model}…", messages
    shipping = next(i for i, m in enumerate(messages) if m.startswith("Shipping the model"))
    assert "(3 topics x 24 words)" in messages[shipping] and "encoded counts at " in \
        messages[shipping]
    assert shipping < min(i for i, m in enumerate(messages) if m.startswith("fold-in: "))
    assert messages[-3:] == ["Reading the fingerprints back…",
                             "Writing 180 fingerprints to the store…",
                             "Scored 180 campaigns in Spark"], messages
    assert shares == sorted(shares) and shares[-1] == 1 and shares[-2] < 1, lines


@needs_spark
def test_pipeline_on_spark_exports_to_the_chosen_export_dir(session, tmp_path, monkeypatch):
    """`pipeline --engine spark --export-dir DIR` tokenised on this machine and fitted
    MLlib on that corpus: DIR stayed empty. Now it trains as `train --engine spark` does:
    the version's Parquet and the model's encoded counts are in DIR."""
    from core.ops import pipeline

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path / "home"))
    path = tmp_path / "planted.csv"
    planted_rows(campaigns_per_group=20).to_csv(path, index=False)
    ingest.import_paths([path], "planted")
    exported = tmp_path / "exported"
    with spark_export.chosen(str(exported)):
        result = pipeline.run("planted", overrides={
            "engine": "spark", "k": 3, "params": {"master": MASTER, "iterations": 3}})
    assert result.decision == "promoted"
    [folder] = [p.name for p in exported.iterdir() if (p / "_SUCCESS").exists()]
    assert folder.startswith(registry.get(result.model_id)["dataset_hash"] + "-")
    assert (exported / "counts" / result.model_id / "_SUCCESS").exists()
    assert registry.load(result.model_id).engine.fit_info_["counts"] == str(
        exported / "counts" / result.model_id)
    assert not (tmp_path / "home" / "parquet").exists()


@needs_spark
def test_a_small_dataset_held_out_all_or_none_by_the_hash_trains_a_servable_model(
        session, tmp_path, monkeypatch):
    """Spark holds out the campaigns whose id hashes below the share (a local run splits
    at random, at least one each side). In a small dataset that can be all of them: MLlib
    failed with "online LDA failed: empty collection"; now it trains on all, and says so.
    Or none: perplexity was NaN, so the model "held non-finite metrics" and could not
    serve; now it has no perplexity."""
    import duckdb

    from core.ops import gate

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path / "home"))
    rows = planted_rows(campaigns_per_group=10)
    for name, side in (("all", "<"), ("none", ">=")):
        ids = [r[0] for r in duckdb.sql(   # ids in (or out of) the held-out tenth
            "SELECT campaign_id FROM (SELECT 'h' || i AS campaign_id, i FROM range(2000) "
            f"t(i)) WHERE {spark_export.FOLD_SQL} {side} 100 ORDER BY i LIMIT 30").fetchall()]
        rows.assign(campaign_id=rows["campaign_id"].map(dict(zip(
            rows["campaign_id"].unique(), ids, strict=True)))).to_csv(
                tmp_path / f"{name}.csv", index=False)
        ingest.import_paths([tmp_path / f"{name}.csv"], name)
        result = train(TrainSpec(dataset=name, engine="spark", k=3,
                                 params={"master": MASTER, "iterations": 3}))
        assert result.metrics["documents"] == 30 and result.metrics["perplexity"] is None
        assert gate.problems(result.model_id) == []
        assert any("fell in the held-out share" in w for w in result.warnings) == (
            name == "all"), result.warnings
        assert registry.load(result.model_id).engine.fit_info_["heldout_share"] == (
            0.0 if name == "all" else 0.1)


def test_spark_says_why_no_word_is_left_as_local_training_does(session, tmp_path,
                                                               monkeypatch):
    """One campaign can share no word with another: Spark training said "(1 documents,
    no_below=2, …): lower no_below or raise no_above", the wording local training had
    dropped for saying what the data lacks (`corpus.no_vocabulary`)."""
    from core.model.corpus import no_vocabulary
    from core.model.text import TextConfig

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path / "home"))
    rows = planted_rows(campaigns_per_group=1)
    rows[rows["campaign_id"] == rows["campaign_id"].iloc[0]].to_csv(tmp_path / "one.csv",
                                                                     index=False)
    ingest.import_paths([tmp_path / "one.csv"], "one")
    with pytest.raises(TopicLabError) as refused:
        train(TrainSpec(dataset="one", engine="spark", k=2,
                        params={"master": MASTER, "iterations": 3}))
    assert str(refused.value) == no_vocabulary(1, TextConfig())
    assert "there is only 1" in str(refused.value) and "more campaigns" in str(refused.value)


@needs_spark
def test_spark_model_is_in_the_registry_and_can_be_promoted(home_with_model):
    models = registry.list_models("planted")
    row = models[models["model_id"] == home_with_model].iloc[0]
    assert row["engine"] == "spark" and row["params"]["master"] == MASTER
    outcome = deploy.promote(home_with_model, "production")
    assert registry.alias("production") == home_with_model
    assert score.is_scored(home_with_model) and outcome.alias == "production"


@needs_spark
def test_parquet_export_is_cached_by_content_hash(home_with_model):
    first = Path(spark_export.export("planted"))
    assert (first / "_SUCCESS").exists() and list(first.glob("bucket=*/*.parquet"))
    stamp = (first / "_SUCCESS").stat().st_mtime_ns
    assert Path(spark_export.export("planted")) == first
    assert (first / "_SUCCESS").stat().st_mtime_ns == stamp  # not exported again
    assert not list(first.parent.glob(".tmp-*"))


def test_equal_rows_of_another_dataset_are_exported_for_this_one(home):
    """The export was keyed by the content hash alone, which leaves out file names and
    lines: dataset b, the rows of dataset a from another file in another order, was given
    a's export, whose `source_file` named a's file and whose lines (the import order
    Spark's counts follow) were a's. Each version now has its own. DuckDB only."""
    import pyarrow.parquet as pq

    from core.data import datasets

    home.mkdir(parents=True, exist_ok=True)
    rows = planted_rows(campaigns_per_group=3)
    rows.to_csv(home / "a.csv", index=False)
    rows.iloc[::-1].to_csv(home / "b.csv", index=False)
    ingest.import_paths([home / "a.csv"], "a")
    ingest.import_paths([home / "b.csv"], "b")
    assert datasets.get("a").content_hash == datasets.get("b").content_hash
    for name in ("a", "b"):
        folder = Path(spark_export.export(name))
        table = pq.read_table(folder).to_pandas()
        assert set(table["source_file"]) == {f"{name}.csv"}, folder
        first = table.sort_values("source_line").iloc[0]
        assert first["term"] == rows.iloc[0 if name == "a" else -1]["keyword"]
        assert (folder / "_SUCCESS").read_text("utf-8") == f"{name} v1\n"
    assert spark_export.export("a") == str(folder.parent / spark_export.export_key(
        datasets.get("a")))                      # still one export per version, reused


def test_two_exports_of_one_version_never_delete_each_others_files(home, monkeypatch):
    """Two runs exporting one dataset version at once (two `score --engine spark`, or
    the app and a scheduled pipeline) shared `.tmp-<hash>`, the second deleting what the
    first was writing, and each removed `<hash>/` before renaming, while the other's
    Spark jobs read it. Each run now has its own temporary folder and keeps a complete
    export another run put in place first. DuckDB only: no Spark needed."""
    import os

    from core.data import datasets

    home.mkdir(parents=True, exist_ok=True)
    path = home / "planted.csv"
    planted_rows(campaigns_per_group=5).to_csv(path, index=False)
    ingest.import_paths([path], "planted")
    root = spark_export.parquet_root()
    final = root / spark_export.export_key(datasets.get("planted"))
    writing = root / f".tmp-{final.name}"           # the name every run used
    writing.mkdir(parents=True)
    (writing / "_still-being-written").write_text("x")
    killed = root / f".tmp-{final.name}-0123456789ab"   # a run killed a day ago
    killed.mkdir()
    os.utime(killed, (time.time() - 86_400,) * 2)
    assert spark_export.export("planted") == str(final)
    assert (final / "_SUCCESS").exists() and sorted(final.glob("bucket=*"))
    assert (writing / "_still-being-written").exists()   # another run's: left alone
    assert not killed.exists()                          # a killed run's: cleaned

    import shutil
    shutil.rmtree(final)
    write, other = spark_export._write_export, root / f".tmp-{final.name}-other"

    def the_other_run_finishes_first(info, tmp, buckets):
        write(info, tmp, buckets)                   # ours, while the other run...
        write(info, other, buckets)
        other.rename(final)                         # ...puts its own in place first
        (final / "_read-by-the-other-run").write_text("x")

    monkeypatch.setattr(spark_export, "_write_export", the_other_run_finishes_first)
    assert spark_export.export("planted") == str(final)
    assert (final / "_read-by-the-other-run").exists()     # not replaced under its reader
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".in-use-")
                  ) == sorted([final.name, writing.name])



def test_exports_under_the_former_key_go_when_an_export_is_written(home):
    """Exports were keyed `<content hash>/` before the origin digest was added: no run
    reads them again, and they stayed for good. Only folders Topic Lab wrote (its
    `_SUCCESS` marker) untouched for 6 hours go. DuckDB only: no Spark needed."""
    import os

    home.mkdir(parents=True, exist_ok=True)
    path = home / "planted.csv"
    planted_rows(campaigns_per_group=3).to_csv(path, index=False)
    ingest.import_paths([path], "planted")
    root = spark_export.parquet_root()
    day_ago = (time.time() - 86_400,) * 2
    folders = {}
    for name, marker, aged in [("ours", "demo v1\n", True), ("young", "demo v2\n", False),
                               ("sparks", "", True), ("users", None, True)]:
        folder = root / hashlib.sha256(name.encode()).hexdigest()
        (folder / "bucket=0").mkdir(parents=True)
        if marker is not None:
            (folder / "_SUCCESS").write_text(marker, "utf-8")
        if aged:
            os.utime(folder, day_ago)
        folders[name] = folder
    other = root / "my-own-files"                   # not a content-hash name
    other.mkdir()
    (other / "_SUCCESS").write_text("demo v1\n", "utf-8")
    os.utime(other, day_ago)
    final = Path(spark_export.export("planted"))
    assert (final / "_SUCCESS").exists()
    assert not folders["ours"].exists()
    assert all(folders[name].exists() for name in ("young", "sparks", "users"))
    assert other.exists()

def test_an_older_versions_export_goes_unless_a_run_reads_it(home):
    """One export per dataset version ever run on Spark stayed for good, a full copy of
    the dataset each. Writing a version's export removes those of the dataset's older
    versions, except one a run reads now (`exported`: a lock the run holds, so a run
    killed by `kill -9` holds nothing); other datasets' stay. DuckDB only: no Spark."""
    home.mkdir(parents=True, exist_ok=True)
    for seed in (0, 1, 2, 3):
        path = home / f"planted-{seed}.csv"
        planted_rows(campaigns_per_group=2, seed=seed).to_csv(path, index=False)
        ingest.import_paths([path], "planted" if seed else "other")
    other, v1 = Path(spark_export.export("other")), Path(spark_export.export("planted", 1))
    with spark_export.exported("planted", 2) as read_now:
        v3 = Path(spark_export.export("planted", 3))
        assert not v1.exists()                         # superseded, read by no run
        assert Path(read_now).exists() and other.exists()
    assert Path(spark_export.export("planted", 3)) == v3   # the next run's cleans it
    assert not Path(read_now).exists() and (v3 / "_SUCCESS").exists()
    assert sorted(p.name for p in v3.parent.iterdir() if not p.name.startswith(".")) == \
        sorted([other.name, v3.name])


@needs_spark
def test_a_killed_scorings_scratch_folder_goes_with_a_later_scoring(home, session):
    """`kill -9` (or the OOM killer) during a Spark scoring left its scratch folder (the
    fold-in's weights, or a model's encoded counts) under `<export dir>/scratch/` for
    good: each run removed only its own. One untouched for 6 hours goes now, locally and
    through Hadoop's API; a younger one may be a running scoring's and stays."""
    import os

    scratch = home / "parquet" / "scratch"
    killed, running, ours = (scratch / name for name in ("m-killed", "m-running", "m-ours"))
    for folder in (killed, running, ours):
        (folder / "_temporary").mkdir(parents=True)
    os.utime(killed, (time.time() - 86_400,) * 2)
    spark_export.remove_scratch(session, str(ours))
    assert sorted(p.name for p in scratch.iterdir()) == ["m-running"]
    os.utime(running, (time.time() - 86_400,) * 2)
    (scratch / "m-young").mkdir()
    spark_export.HadoopFS(session).delete_older_than(scratch.as_uri(), 6 * 3600)
    assert sorted(p.name for p in scratch.iterdir()) == ["m-young"]


@needs_spark
def test_spark_engine_fits_an_in_memory_corpus_too(session):
    from core.model.corpus import Corpus

    texts = [[" ".join(np.random.default_rng(i).choice(words, 2, replace=False))
              for _ in range(8)] for i, words in enumerate(list(GROUPS.values()) * 20)]
    corpus = Corpus.from_texts(texts)
    engine = spark_engine.SparkLDA(k=3, iterations=3, seed=0, master=MASTER,
                                   batch_documents=20).fit(corpus)
    assert engine.topic_term_.shape == (3, len(corpus.vocabulary))
    assert engine.vocabulary_ == corpus.vocabulary
    # 60 campaigns, mini-batches capped at 20: MLlib was asked for a third of them.
    assert engine.fit_info_["subsampling_rate"] == pytest.approx(20 / 60)


def test_mini_batches_stop_growing_at_batch_documents():
    from core.ops.train import check_param

    capped = spark_engine.SparkLDA(batch_documents=50_000)
    assert capped.sampling_rate(10_000) == 1.0
    assert capped.sampling_rate(1_000_000) == pytest.approx(0.05)
    assert spark_engine.SparkLDA(subsampling_rate=0.01).sampling_rate(1_000_000) == 0.01
    assert spark_engine.SparkLDA(batch_documents=None).sampling_rate(10**7) == 1.0
    check_param("spark", "batch_documents", None)  # no cap is allowed
    for bad in (0, 2.5, "many"):
        with pytest.raises(TopicLabError, match="batch_documents"):
            check_param("spark", "batch_documents", bad)
        with pytest.raises(TopicLabError, match="batch_documents"):
            spark_engine.SparkLDA(batch_documents=bad).check_params()


def test_missing_pyspark_or_java_is_one_line_saying_how_to_get_it(monkeypatch, home):
    original = sys.modules.get("pyspark")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    with pytest.raises(spark_session.SparkUnavailable, match=r"`make spark`"):
        spark_session.check_available()
    if original is not None:
        monkeypatch.setitem(sys.modules, "pyspark", original)
    else:
        monkeypatch.delitem(sys.modules, "pyspark")
    if HAVE_PYSPARK:
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(TopicLabError, match=r"Java 17.*make spark"):
            spark_session.check_available()


def test_master_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv("TOPICLAB_SPARK_MASTER", raising=False)
    assert spark_session.master() == "local[*]"
    monkeypatch.setenv("TOPICLAB_SPARK_MASTER", "spark://head:7077")
    assert spark_session.master() == "spark://head:7077"
    assert spark_session.master("local[2]") == "local[2]"
    assert "out of memory" in spark_session.explain(
        RuntimeError("Job aborted\njava.lang.OutOfMemoryError: Java heap space"))
    assert "executor was lost" in spark_session.explain(
        RuntimeError("ExecutorLostFailure (executor 3 exited)"))


def test_a_master_spark_would_reject_is_refused_before_java_starts(home, monkeypatch,
                                                                    capsys):
    """`bogus` was reported as "is Java 17 installed?", `local[0]` as a bare Py4JJavaError,
    and a blank TOPICLAB_SPARK_MASTER started Spark on the master ''."""
    from core.ops.train import check_param

    monkeypatch.setenv("TOPICLAB_SPARK_MASTER", "  ")
    assert spark_session.master() == "local[*]"
    for good in ("local", "local[*]", "local[2]", "local[4, 3]", "local-cluster[2,1,1024]",
                 "yarn", "spark://head:7077", "k8s://https://host:443"):
        spark_session.check_master(good)
    check_param("spark", "master", " ")   # blank on the Train page: the default
    for bad in ("bogus", "local[0]", "local[-1]", "spark://", "", 7):
        with pytest.raises(TopicLabError, match="not a Spark master URL"):
            spark_session.check_master(bad)
        if bad != "":
            with pytest.raises(TopicLabError, match=r"master .* is not a Spark master URL"):
                check_param("spark", "master", bad)
    monkeypatch.setenv("TOPICLAB_SPARK_MASTER", "bogus")
    with pytest.raises(TopicLabError, match="'bogus' is not a Spark master URL"):
        spark_session.get()
    assert cli.main(["train", "--dataset", "d", "--engine", "spark",
                     "--spark-master", "local[0]"]) == 1
    assert "'local[0]' is not a Spark master URL" in capsys.readouterr().err


def test_bad_driver_memory_or_partitions_are_refused_before_java_starts(monkeypatch):
    """TOPICLAB_SPARK_DRIVER_MEMORY=lots was "is Java 17 installed?", and
    TOPICLAB_SPARK_PARTITIONS=abc or 0 a Java traceback at the first query."""
    monkeypatch.setenv("TOPICLAB_SPARK_MASTER", "local[3]")  # not the module's session
    for name, value in (("TOPICLAB_SPARK_DRIVER_MEMORY", "lots"),
                        ("TOPICLAB_SPARK_DRIVER_MEMORY", "0g"),
                        ("TOPICLAB_SPARK_PARTITIONS", "abc"),
                        ("TOPICLAB_SPARK_PARTITIONS", "0")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(TopicLabError, match=f"{name} must be .*not '{value}'"):
                spark_session.get()
    for good in ("2g", "512m", "4096", "1GB"):
        monkeypatch.setenv("TOPICLAB_SPARK_DRIVER_MEMORY", good)
        assert spark_session.driver_memory() == good
    assert spark_session.running() is None or spark_session.running().sparkContext.master \
        != "local[3]"


@needs_spark
def test_yarn_without_the_clusters_hadoop_config_is_named_before_java_starts(monkeypatch):
    """Master `yarn` with neither HADOOP_CONF_DIR nor YARN_CONF_DIR set: spark-submit
    printed a Java stack trace and the run said "the Java process could not start (is
    Java 17 installed? `make spark`)"."""
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.setenv("YARN_CONF_DIR", " ")
    began = time.monotonic()
    with pytest.raises(spark_session.SparkJobError,
                       match="neither HADOOP_CONF_DIR nor YARN_CONF_DIR is set") as raised:
        spark_session.get("yarn")
    assert "Java 17" not in str(raised.value) and time.monotonic() - began < 5
    monkeypatch.setenv("YARN_CONF_DIR", "/etc/hadoop/conf")
    spark_session.check_yarn_config("yarn")         # set: left to Spark


def test_an_unreachable_master_is_named_as_such():
    """spark://host:port with nothing listening: Spark retries for about a minute, then
    stops the context; the error text (as pyspark raised it) used to end up as
    "Py4JJavaError: An error occurred while calling None…SparkSession."."""
    raised = RuntimeError(
        "An error occurred while calling None.org.apache.spark.sql.classic.SparkSession.\n"
        ": java.lang.IllegalStateException: Cannot call methods on a stopped SparkContext.\n"
        "This stopped SparkContext was created at:\n\n"
        "org.apache.spark.api.java.JavaSparkContext.<init>(JavaSparkContext.scala:59)")
    assert "master did not answer" in spark_session._start_failure("spark://h:1", raised)
    assert "master did not answer" not in spark_session._start_failure("local[2]", raised)


def refusal_in_seconds(monkeypatch, url: str) -> str:
    """`spark_session.get()` with `url` as the master: refused within 10 s (Spark's own
    retries take a minute); the refusal's message."""
    monkeypatch.setenv("TOPICLAB_SPARK_MASTER", url)
    started = time.monotonic()
    with pytest.raises(spark_session.SparkJobError) as failed:
        spark_session.get()
    assert time.monotonic() - started < 10
    return str(failed.value)


@needs_spark   # the check runs where a session starts, after pyspark is found
def test_a_master_nothing_listens_on_is_named_in_seconds_and_keeps_the_session(monkeypatch):
    """spark://127.0.0.1:<closed port> gave its message only after Spark's minute of
    registration retries; a TCP check before Java starts says so at once, and a session
    already running (another master) is not stopped for it."""
    import socket

    with socket.socket() as probe:      # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = spark_session.running()
    message = refusal_in_seconds(monkeypatch, f"spark://127.0.0.1:{port}")
    assert f"127.0.0.1:{port} refused the connection" in message
    assert "master did not answer" in message and "\n" not in message
    assert spark_session.running() is before
    with pytest.raises(TopicLabError, match="is not a Spark master URL"):
        spark_session.check_reachable("spark://127.0.0.1:port")
    spark_session.check_reachable("local[2]")   # only standalone masters are checked


@needs_spark
def test_a_kubernetes_master_that_cannot_be_reached_is_one_line_in_seconds(monkeypatch):
    """k8s://https://nohost:443 printed a Java stack trace after ~30 s and then
    `Py4JJavaError: An error occurred while calling None…JavaSparkContext`: the API server
    is resolved and connected to first, as a spark:// master is."""
    import socket

    with socket.socket() as probe:      # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = spark_session.running()
    for url, reason in (("k8s://https://nohost.invalid:443",
                         "nohost.invalid:443 is not a host name this machine can resolve"),
                        (f"k8s://127.0.0.1:{port}", f"127.0.0.1:{port} refused the connection")):
        message = refusal_in_seconds(monkeypatch, url)
        assert f"Spark could not start on {url}: the Kubernetes API server {reason}" in message
        assert "\n" not in message and "Py4J" not in message
    assert spark_session.running() is before
    with pytest.raises(TopicLabError, match="is not a Kubernetes master URL"):
        spark_session.check_reachable("k8s://https://host:port")


def test_a_master_url_where_something_else_listens_is_named_in_seconds(session,
                                                                       monkeypatch):
    """spark://host:<a web server's port> (the master's web UI, 8080, is the usual slip)
    passed the TCP check; Spark then retried for its minute (70 s here) and said "the
    master did not answer". The listener is now asked in Spark's RPC protocol: a web
    server or another protocol is named at once, a Spark RPC server (this session's own
    driver) passes, and a listener that does not answer is left to Spark, as before."""
    import socket
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    web = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    banner, silent = socket.create_server(("127.0.0.1", 0)), socket.create_server(
        ("127.0.0.1", 0))

    def greet():                          # an SSH-like server: speaks first, not Spark
        conn, _ = banner.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.recv(4096)

    threading.Thread(target=greet, daemon=True).start()
    try:
        url = f"spark://127.0.0.1:{web.server_address[1]}"
        message = refusal_in_seconds(monkeypatch, url)
        assert message.startswith(f"Spark could not start on {url}: no Spark master there")
        assert "is a web server (it answered" in message, message
        assert "7077 by default" in message and "\n" not in message
        assert spark_session.running() is session          # the running one is kept
        with pytest.raises(spark_session.SparkJobError, match="in another protocol"):
            spark_session.check_reachable(f"spark://127.0.0.1:{banner.getsockname()[1]}")
        conf = session.sparkContext.getConf()   # a Spark RPC server: the driver's own
        spark_session.check_reachable(
            f"spark://{conf.get('spark.driver.host')}:{conf.get('spark.driver.port')}")
        spark_session.check_reachable(                      # standby masters: one is
            f"{url},{conf.get('spark.driver.host')}:{conf.get('spark.driver.port')}")
        spark_session.check_reachable(f"spark://127.0.0.1:{silent.getsockname()[1]}",
                                      timeout_s=0.5)
    finally:
        web.shutdown()
        banner.close()
        silent.close()


@needs_spark
def test_another_master_is_refused_while_a_run_of_this_process_uses_spark(home_with_model,
                                                                         tmp_path):
    """The app runs every visitor's work in one process: asking for Spark on another
    master (a changed TOPICLAB_SPARK_MASTER, the Train page's "Spark master") stopped the
    session while another thread's scoring ran on it, which failed. Now refused, naming
    both masters, and the running scoring finishes."""
    import threading

    from core.data import auth

    started, release = tmp_path / "started", tmp_path / "release"

    def hook(frame):                    # in a Spark task: hold the job until released
        started.touch()
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    outcome = {}

    def scoring():
        with auth.use(auth.local_user()):
            try:
                outcome["result"] = spark_engine.score(home_with_model, master=MASTER,
                                                       task_hook=hook)
            except Exception as err:
                outcome["error"] = err

    thread = threading.Thread(target=scoring)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), outcome
        with pytest.raises(spark_session.SparkBusy) as refused:
            spark_session.get("local[1]")
        message = str(refused.value)
        assert f"on {MASTER}; starting it on local[1] would stop that run" in message
        assert spark_session.running().sparkContext.master == MASTER
    finally:
        release.touch()
        thread.join(180)
    assert "error" not in outcome, outcome
    assert outcome["result"].campaigns == 180


def test_the_zip_of_core_for_executors_goes_when_the_process_exits():
    """Each process that starts Spark writes `core` as a zip for its executors; it used to
    stay in the temporary folder after every CLI run."""
    made = subprocess.run(
        [sys.executable, "-c", "from core.model import spark_session\n"
         "path = spark_session._core_zip()\n"
         "import zipfile; assert 'core/model/spark_session.py' in "
         "zipfile.ZipFile(path).namelist()\nprint(path)"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    folder = Path(made.stdout.strip()).parent
    assert folder.name.startswith("topiclab-spark-") and not folder.exists()


def test_a_file_uri_without_authority_is_that_local_folder(home, monkeypatch, small_csv):
    """`file:/x`, Hadoop's short form of a local path, is the folder `/x`: DuckDB wrote
    into `./file:/x` under the working folder, then failed with an IO Error traceback, and
    a file there was not refused. DuckDB only: no Spark needed."""
    from core.data import datasets

    monkeypatch.chdir(home.parent)
    ingest.import_paths([small_csv], "d")
    with spark_export.chosen(f"file:{home}/short/"):
        assert spark_export.export_dir() == f"{home}/short"
        assert spark_export.counts_location("m1") == f"{home}/short/counts/m1"
        assert spark_export.export("d") == str(
            home / "short" / spark_export.export_key(datasets.get("d")))
    assert not (home.parent / "file:").exists()
    (home / "a-file").write_text("x")
    with pytest.raises(TopicLabError, match=f"file:{home}/a-file \\(that is {home}/a-file"
                                            r"\): is a regular file, not a folder"):
        spark_export.check_export_dir(f"file:{home}/a-file")


def test_one_folder_has_one_spelling_and_keeps_the_users_in_messages(home, monkeypatch,
                                                                     small_csv):
    """Trailing and doubled slashes and `file://` forms named one folder in several ways:
    `/` became an empty export dir (the current folder), `file:///` the refused `file:`,
    `/x/counts/m` and `file:///x/counts/m` were two places, and a `file:///x` export dir
    was staged under $TOPICLAB_HOME/parquet and uploaded through Spark (a second copy; no
    export without a session) while `/x` was written in place. Messages name the folder
    as the user gave it. DuckDB only: no Spark needed."""
    monkeypatch.chdir(home.parent)
    for given, tidy in (("/", "/"), ("///", "/"), ("file:///", "file:///"),
                        ("file:/", "/"), ("file:///x//y/", "file:///x/y"),
                        ("file://localhost/x/", "file:///x"), ("/x//y//", "/x/y"),
                        ("hdfs://nn/a//b/", "hdfs://nn/a/b"), ("hdfs://nn/", "hdfs://nn")):
        assert spark_export.export_dir(given) == tidy, given
    spark_export.check_export_dir("file:///")          # the root, not `file:`
    with spark_export.chosen("/"):
        assert spark_export.counts_location("m1") == "/counts/m1"
    shared = home / "shared"
    with spark_export.chosen(f"{shared}/"):
        assert spark_export.counts_locations("m1", f"{shared.as_uri()}//counts/m1/") == [
            f"{shared.as_uri()}/counts/m1", str(home / "parquet" / "counts" / "m1")]
    ingest.import_paths([small_csv], "d")
    with spark_export.chosen(f"{shared.as_uri()}/"):
        location = spark_export.export("d")          # no Spark session: written in place
    assert location == f"{shared.as_uri()}/{location.rsplit('/', 1)[-1]}"
    assert (shared / location.rsplit("/", 1)[-1] / "_SUCCESS").exists()
    assert not (home / "parquet").exists()            # no staged second copy
    (home / "a-file").write_text("x")
    with pytest.raises(TopicLabError, match=f"--export-dir {home.as_uri()}/a-file: is a "
                                            "regular file, not a folder"):
        spark_export.check_export_dir(f"{home.as_uri()}/a-file/", "--export-dir")
    with pytest.raises(TopicLabError, match=r"--export-dir file:/x\[1\]/ \(that is /x\[1\]\):"
                                            r" holds '\['"):
        spark_export.check_export_dir("file:/x[1]/", "--export-dir")
    # file://otherhost/x was this machine's /x (Hadoop ignores the host): written here,
    # recorded as the other machine's
    for given, host in (("file://otherhost/x/", "otherhost"), ("FILE://nas:2049/x", "nas:2049")):
        with pytest.raises(TopicLabError, match=f"--export-dir {given.rstrip('/')}: names the "
                                                f"host {host}, but a file: URI is a folder of "
                                                "the machine that reads it .* its own /x, not "
                                                f"{host}'s\\); name it file:///x "):
            spark_export.check_export_dir(given, "--export-dir")
        with pytest.raises(TopicLabError, match=f"names the host {host}"), \
                spark_export.chosen(given):
            pass


def test_export_dir_comes_from_the_flag_then_the_environment(home, monkeypatch, capsys,
                                                             small_csv):
    """`--export-dir` over TOPICLAB_SPARK_EXPORT_DIR over $TOPICLAB_HOME/parquet, like the
    master; the flag is refused where it means nothing, before any work (no Spark)."""
    monkeypatch.delenv(spark_export.EXPORT_DIR_ENV, raising=False)
    assert spark_export.export_dir() == str(home / "parquet")
    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, "hdfs://namenode/topiclab/")
    assert spark_export.export_dir() == "hdfs://namenode/topiclab"
    with spark_export.chosen("s3a://bucket/lab"):
        assert spark_export.export_dir() == "s3a://bucket/lab"
        assert spark_export.counts_location("m1") == "s3a://bucket/lab/counts/m1"
        assert spark_export.export_dir("/mnt/x") == "/mnt/x"
    with spark_export.chosen(None):
        assert spark_export.export_dir() == "hdfs://namenode/topiclab"
    # A relative folder is this folder's: recorded as such, it was looked for elsewhere
    # by a delete-model run from another folder, and the counts stayed.
    monkeypatch.chdir(home)
    with spark_export.chosen("relexp/"):
        assert spark_export.counts_location("m1") == str(home / "relexp" / "counts" / "m1")
    # not a folder here: DuckDB wrote the export into ./file:relative, Hadoop refused it
    with pytest.raises(TopicLabError, match="--export-dir file:relative: a file: URI names "
                                            "a folder from the root"):
        spark_export.check_export_dir("file:relative", "--export-dir")
    assert not (home / "file:relative").exists()
    assert spark_export.export_dir() == "hdfs://namenode/topiclab"   # restored after
    with monkeypatch.context() as env:       # the variable's, or the default under a home
        env.setenv(spark_export.EXPORT_DIR_ENV, "/data/{a,b}")
        with pytest.raises(TopicLabError, match=r"Spark export dir /data/\{a,b\}: holds '\{'"):
            spark_export.check_export_dir()
    for argv, message in (
            (["score", "--export-dir", "/mnt/x"], "--export-dir is for --engine spark"),
            (["train", "--dataset", "d", "--engine", "gensim", "--export-dir", "/mnt/x"],
             "--export-dir is for --engine spark, not gensim"),
            (["train", "--dataset", "d", "--engine", "spark", "--export-dir", " "],
             "--export-dir must name a folder"),
            # Spark reads [ ] { } * ? \ as a pattern: x[1] was "[PATH_NOT_FOUND] Path does
            # not exist" once the export was written, st*r a URISyntaxException on a sibling
            (["score", "--engine", "spark", "--export-dir", str(home / "x[1]")],
             f"--export-dir {home / 'x[1]'}: holds '[', which Spark reads as a file name "
             "pattern"),
            (["train", "--dataset", "d", "--engine", "spark", "--export-dir", "hdfs://n/st*r"],
             "holds '*', which Spark reads as a file name pattern"),
            # the dataset's saved engine (none saved: the default) is not Spark: it was
            # silently ignored
            (["pipeline", "--dataset", "d", "--from", str(small_csv), "--export-dir", "/mnt/x"],
             "--export-dir is for --engine spark, and d is trained with tomotopy"),
            # a typo is named as one (was: "d is trained with tomotopy")
            (["pipeline", "--dataset", "d", "--export-dir", "/mnt/x"],
             "The store holds no datasets yet")):
        assert cli.main(argv) == 1
        assert message in capsys.readouterr().err
    parser = cli.build_parser()
    for argv in (["train", "--dataset", "d", "--engine", "spark"], ["score", "--engine", "spark"],
                 ["pipeline", "--dataset", "d", "--engine", "spark"]):
        assert parser.parse_args([*argv, "--export-dir", "file:///x"]).export_dir == "file:///x"


def test_an_export_dir_given_with_a_tilde_is_in_the_home_folder(home, tmp_path,
                                                                 monkeypatch):
    """`--export-dir "~/x"` (quoted, `--export-dir=~/x`) or `TOPICLAB_SPARK_EXPORT_DIR=~/x`
    in a service file reach Python unexpanded: the export dir was a folder named `~` in
    the one the command ran in, recorded so with the model. `~` is expanded as for every
    other path (`files.given_path`), after `file:` too; a URI is left as it is. No Spark
    needed."""
    user_home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.chdir(home.parent)
    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, "~/from-env/")
    assert spark_export.export_dir() == str(user_home / "from-env")
    with spark_export.chosen("~/lab"):
        assert spark_export.export_dir() == str(user_home / "lab")
        assert spark_export.counts_location("m1") == str(user_home / "lab" / "counts" / "m1")
    # file:~/x (and file://~/x) too: DuckDB wrote the export into ./file:~/x
    for given in ("file:~/lab/", "file://~/lab"):
        with spark_export.chosen(given):
            assert spark_export.export_dir() == str(user_home / "lab")
    assert spark_export.export_dir("file:///~/lab") == "file:///~/lab"   # a folder /~
    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, "hdfs://namenode/~/lab")
    assert spark_export.export_dir() == "hdfs://namenode/~/lab"
    user_home.mkdir()
    (user_home / "a-file").write_text("x")
    with pytest.raises(TopicLabError, match=f"--export-dir ~/a-file \\(that is {user_home}/"
                                            r"a-file\): is a regular file, not a folder"):
        spark_export.check_export_dir("~/a-file", "--export-dir")
    with pytest.raises(TopicLabError, match=f"file:~/a-file \\(that is {user_home}/a-file\\): "
                                            "is a regular file"):
        spark_export.check_export_dir("file:~/a-file", "--export-dir")
    for unknown in ("~nosuchuser-tl/lab", "file:~nosuchuser-tl/lab"):  # was ./~nosuchuser-tl
        with pytest.raises(TopicLabError, match=f"--export-dir {unknown}.*: "
                                                "~nosuchuser-tl names no user of this machine"):
            spark_export.check_export_dir(unknown, "--export-dir")
    assert not (home.parent / "~").exists() and not (home.parent / "file:~").exists()


def test_local_engines_measure_metrics_on_a_sample(trained_home):
    spec = TrainSpec(dataset="demo", k=5, params={"iterations": 30}, sample=100)
    result = train(spec)
    assert result.metrics["metrics_documents"] == 100
    assert result.metrics["documents"] > 100


@needs_spark
def test_train_page_offers_spark_and_shows_where_it_ran(home_with_model):
    from tests.conftest import app_test

    at = app_test(default_timeout=300)
    at.switch_page("app_pages/train.py")  # opened directly, as a link to it is
    at.run()
    next(box for box in at.selectbox if box.label == "Engine").set_value("spark").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="train_spark_master").set_value(MASTER)
    at.number_input(key="train_spark_iterations").set_value(3)
    at.toggle(key="train_fit_k").set_value(False).run()   # one Spark training, K = 3
    at.number_input(key="train_k").set_value(3)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert any(f"`{MASTER}`" in c.value and "Ran on Spark" in c.value for c in at.caption)


def test_a_clean_up_that_fails_after_a_job_is_logged_not_raised(caplog):
    """A session that stopped just after its job ended made `Broadcast.destroy` raise a
    Java NullPointerException over a result already read; the clean-up is logged, the
    other steps still run, and the block's own error, when it has one, goes on."""
    import logging

    ran = []

    def fails():
        raise RuntimeError("SparkEnv is gone")

    with caplog.at_level(logging.WARNING, logger="core.model.spark_session"):
        with spark_session.cleaning_up(fails, lambda: ran.append("scratch")):
            ran.append("job")
        with pytest.raises(KeyError, match="the job's own"), \
                spark_session.cleaning_up(fails, lambda: ran.append("scratch")):
            raise KeyError("the job's own")
    assert ran == ["job", "scratch", "scratch"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("cleaning up after a Spark job failed:"), messages
    assert "SparkEnv is gone" in messages[0], messages
    assert "cleaning up after a failed Spark job also failed" in messages[1], messages


@needs_spark
def test_a_scoring_whose_session_stops_says_so_not_what_cleaning_up_hit(home_with_model,
                                                                      caplog):
    """The session stopped while Spark scored (stopped, or its Java process died): the
    clean-up after the job (destroying the broadcast) raised a Java NullPointerException,
    and that was all the user saw. Now the job's own reason is raised, in one line, and
    the clean-up's failure is logged. Last in the module: it stops the module's session
    (the next `spark_session.get` starts another)."""
    import logging

    if not score.is_scored(home_with_model):
        score.score_dataset(home_with_model)
    before = score.load_fingerprints(home_with_model).weights.copy()

    def stop_the_session(done, total, message):
        if message.startswith("fold-in"):
            spark_session.running().sparkContext.stop()

    def hold(frame):  # in a Spark task: the job cannot end before the session stops (it
        time.sleep(5)     # did in CI, and the clean-up after a finished job was the error)

    try:
        with caplog.at_level(logging.WARNING, logger="core.model.spark_session"), \
                pytest.raises(spark_session.SparkJobError) as failed:
            spark_engine.score(home_with_model, stop_the_session, master=MASTER,
                               task_hook=hold)
    finally:
        spark_session.stop()
    message = str(failed.value)
    assert message.startswith("Spark job 'fold-in' failed: the Spark session stopped while")
    assert "\n" not in message and "Py4J" not in message, message
    assert any("cleaning up after a failed Spark job also failed" in r.getMessage()
               for r in caplog.records), caplog.text
    np.testing.assert_array_equal(score.load_fingerprints(home_with_model).weights, before)
