"""`python -m core …` as a scheduler runs it: JSON out, clear errors, exit codes. One test
runs the real entry point in subprocesses; the others call the same `main` in-process
(`tests.conftest.cli`), which spares seconds of start-up per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.data import store
from core.errors import InputError
from tests.conftest import FIXTURES, REPO, cli, cli_process, ok_json


def test_python_m_core_prints_json_and_exits_1_with_one_error_line(home, small_csv):
    summary = ok_json(cli_process("ingest", str(small_csv), "--dataset", "shop", home=home))
    assert (summary["dataset"], summary["rows"]) == ("shop", 8)
    listing = cli_process("sql", "SELECT count(*) AS n FROM terms", home=home)
    assert listing.returncode == 0 and json.loads(listing.stdout)["data"] == [{"n": 8}]
    refused = cli_process("sql", "DROP TABLE terms", home=home)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and "DROP" in refused.stderr
    assert "Traceback" not in refused.stderr
    usage = cli_process("no-such-command", home=home)  # a usage error is one line too
    assert usage.returncode == 1 and usage.stderr.startswith("error: ")
    assert "no-such-command" in usage.stderr and "Traceback" not in usage.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(home):
    """`python -m core sql … | head` printed a BrokenPipeError traceback (twice: again when
    Python flushed stdout at exit) and exited 1."""
    env = {**os.environ, "TOPICLAB_HOME": str(home)}
    big = "SELECT repeat('x', 1000) AS s FROM range(1000)"  # 1 MB: more than a pipe holds
    process = subprocess.Popen([sys.executable, "-m", "core", "sql", big], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(10) == b'{\n  "rows"'
    process.stdout.close()  # as `head` does once it has its lines
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports `yes | head`
    assert stderr == ""


def test_a_closed_or_unwritable_stdout_is_an_error_not_a_silent_success(home, small_csv,
                                                                         tmp_path):
    """`python -m core … >&-` ran the command, dropped its JSON (Python's sys.stdout is
    None then) and exited 0; a write that fails (a full disk; here stdout opened
    read-only) was an OSError traceback. Without PYTHONUNBUFFERED (a user's shell; the
    environment the tests ran in set it) the answer waited in Python's buffer and the
    write failed at exit: "Exception ignored … OSError" and exit status 120."""
    import shlex

    env = {**os.environ, "TOPICLAB_HOME": str(home)}
    env.pop("PYTHONUNBUFFERED", None)
    ingest = f"{shlex.quote(sys.executable)} -m core ingest {shlex.quote(str(small_csv))} " \
             "--dataset shop"
    closed = subprocess.run(f"{ingest} >&-", shell=True, cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True,
                            timeout=120)
    assert closed.returncode == 1
    assert closed.stderr.startswith("error: standard output is closed, so the command's "
                                    "answer would be lost: nothing was done")
    assert ok_json(cli("datasets", home=home)) == []
    unwritable = tmp_path / "read-only.txt"
    unwritable.write_text("")
    with unwritable.open("rb") as stdout:
        failed = subprocess.run(ingest, shell=True, cwd=REPO, env=env, stdout=stdout,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr == ("error: the command ran, but its answer could not be written to "
                             "standard output (Bad file descriptor)\n")
    assert [d["name"] for d in ok_json(cli("datasets", home=home))] == ["shop"]


def test_terminal_escapes_in_messages_and_answers_are_printed_escaped(home, tmp_path):
    """A folder named with `ESC[31m` was quoted raw in `error: …` (the terminal turned
    red; `ESC[2J` cleared it), and JSON answers carried the C1 controls and invisible
    characters json.dumps leaves raw (U+009B is a one-byte CSI). Both are escaped; the
    JSON reads back to the same values."""
    folder = tmp_path / "dir\x1b[31mred"
    folder.mkdir()
    (folder / "readme.md").write_text("not a term file")
    refused = cli("ingest", str(folder), "--dataset", "x", home=home)
    assert refused.returncode == 1 and "\x1b" not in refused.stderr
    assert refused.stderr.startswith(f"error: {tmp_path}/dir\\x1b[31mred: folder has no ")
    answer = cli("sql", "SELECT chr(155) || '31m' AS s, chr(8203) AS z, '東京' AS t, "
                 "chr(127) AS d", home=home)
    assert not set(answer.stdout) & {"\x9b", "\u200b", "\x7f"} and "東京" in answer.stdout
    assert json.loads(answer.stdout)["data"] == [{"s": "\x9b31m", "z": "\u200b", "t": "東京",
                                                  "d": "\x7f"}]


def test_an_export_dir_that_is_a_file_is_refused_before_spark_starts(home, small_csv,
                                                                      monkeypatch):
    """`score --engine spark --export-dir /dev/null` (or a CSV) was a FileExistsError
    traceback from mkdir, after Spark had started; the environment's dir too."""
    for argv in (("score", "--engine", "spark", "--export-dir", str(small_csv)),
                 ("train", "--dataset", "d", "--engine", "spark", "--export-dir",
                  str(small_csv / "sub"))):
        result = cli(*argv, home=home)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"error: --export-dir {argv[-1]}: ")
    assert "is a regular file, not a folder" in cli(
        "score", "--engine", "spark", "--export-dir", str(small_csv), home=home).stderr
    from core.data import spark_export
    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, str(small_csv))
    ok_json(cli("ingest", str(small_csv), "--dataset", "shop", home=home))
    monkeypatch.setenv("TOPICLAB_HOME", str(home))
    with pytest.raises(InputError, match=r"the Spark export dir .* is a regular file"):
        spark_export.export("shop")


def test_ingest_datasets_and_sql(home, small_csv):
    summary = ok_json(cli("ingest", str(small_csv), "--dataset", "shop", home=home))
    assert (summary["dataset"], summary["version"], summary["rows"], summary["campaigns"]) == (
        "shop", 1, 8, 3)
    sony = ok_json(cli("ingest", str(FIXTURES / "sony"), "--dataset", "sony", home=home))
    assert sony["campaigns"] == 5 and len(sony["files"]) == 5
    listing = ok_json(cli("datasets", home=home))
    assert {(d["name"], d["version"]) for d in listing} == {("shop", 1), ("sony", 1)}
    rows = ok_json(cli("sql", "SELECT count(*) AS n FROM terms", home=home))
    assert rows["data"] == [{"n": 8 + sony["rows"]}]


def test_a_quoted_pattern_is_named_as_one_not_as_a_missing_file(home, tmp_path,
                                                                 monkeypatch) -> None:
    """`ingest "exports/*.csv"` (quoted, so no shell expanded it) said only "no such file or
    folder", as if the files were missing: named as a pattern, in read_terms' words, with
    the unquoted form and the folder as the ways to read its files; nothing is stored."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / "exports" / name).write_text(f"campaign_id,term\n{name},shoes\n")
    for args, said in [
        (("ingest", "exports/*.csv", "--dataset", "x"),
         "error: exports/*.csv: no such file or folder; ingest does not expand patterns such "
         "as * and a shell leaves a quoted one as it is (as a pattern it matches 2 paths): "
         "give it without quotes, or the folder 'exports' to read every file in it\n"),
        (("pipeline", "--dataset", "x", "--from", "exports/*.tsv"),
         "error: exports/*.tsv: no such file or folder; pipeline --from does not expand "
         "patterns such as * and a shell leaves a quoted one as it is, and as a pattern it "
         "matches nothing either\n"),
    ]:
        result = cli(*args, home=home)
        assert (result.returncode, result.stderr) == (1, said)
    assert ok_json(cli("datasets", home=home)) == []
    assert ok_json(cli("ingest", "exports", "--dataset", "x", home=home))["campaigns"] == 2


def test_errors_exit_non_zero_with_a_message_and_change_nothing(home, small_csv, tmp_path):
    ok_json(cli("ingest", str(small_csv), "--dataset", "shop", home=home))
    before = store.table_counts()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for args, needle in [
        (("ingest", str(empty), "--dataset", "shop"), "empty.csv"),
        (("ingest", str(tmp_path / "missing.csv"), "--dataset", "shop"), "missing.csv"),
        (("sql", "DROP TABLE terms"), "DROP"),
        (("sql", "SELECT * FROM read_csv('/etc/passwd')"), "passwd"),
        (("topics", "no-such-model"), "no-such-model"),
        (("neighbors", "C1"), "production"),
    ]:
        result = cli(*args, home=home)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert store.table_counts() == before


def test_model_commands_print_json(trained_home):
    models = ok_json(cli("models", home=trained_home))
    production = next(m for m in models if "production" in m["aliases"])
    model_id = production["model_id"]
    assert "npmi" in production["metrics"]

    topics = ok_json(cli("topics", model_id, home=trained_home))
    assert topics["model_id"] == model_id and len(topics["topics"][0]["top_words"]) == 10

    found = ok_json(cli("find", "plumb", home=trained_home))
    # nothing found, or nothing asked, is said (it printed [] or 20 campaigns unexplained)
    none = cli("find", "zzz-no-such", home=trained_home)
    assert ok_json(none) == [] and "no campaign id, name or account of demo v" in none.stderr
    assert "contains 'zzz-no-such'" in none.stderr
    everyone = cli("find", " ", "--limit", "3", home=trained_home)
    assert len(ok_json(everyone)) == 3 and "no text given" in everyone.stderr
    assert "note:" not in cli("find", "plumb", home=trained_home).stderr
    campaign_ids = [f["campaign_id"] for f in found[:2]]
    result = ok_json(cli("neighbors", *campaign_ids, "-n", "5", "--min-similarity", "0",
                         home=trained_home))
    assert [r["campaign_id"] for r in result] == campaign_ids
    assert all(len(r["neighbors"]) == 5 for r in result)
    floored = ok_json(cli("neighbors", *campaign_ids, "-n", "5", "--min-similarity", "0.45",
                          home=trained_home))
    for everyone, above in zip(result, floored, strict=True):  # the floor only drops
        kept = [n["campaign_id"] for n in everyone["neighbors"] if n["similarity"] >= 0.45]
        assert [n["campaign_id"] for n in above["neighbors"]] == kept

    fp = ok_json(cli("fingerprint", campaign_ids[0], home=trained_home))
    assert abs(sum(fp["fingerprint"]) - 1) < 1e-3
    # a stored campaign's unread words, as for pasted ones (was `unknown_words: []`)
    from core.serve.lookup import Lookup
    stored = Lookup(model_id).fingerprints
    unread = max(zip(stored.oov_share, stored.campaign_ids, strict=True))[1]
    fp = ok_json(cli("fingerprint", unread, home=trained_home))
    assert fp["oov_share"] > 0 and fp["unknown_words"]
    assert abs(fp["unknown"]["dropped_share"] + fp["unknown"]["never_seen_share"]
               - fp["oov_share"]) < 1e-3
    suggested = ok_json(cli("suggest", unread, home=trained_home))
    assert (suggested["unknown_words"], suggested["unknown"]) == (fp["unknown_words"],
                                                                  fp["unknown"])
    pasted = ok_json(cli("fingerprint", "--text", "emergency plumber, drain cleaning",
                         home=trained_home))
    assert pasted["campaign_id"] is None and abs(sum(pasted["fingerprint"]) - 1) < 1e-3

    suggestions = ok_json(cli("suggest", campaign_ids[0], home=trained_home))
    assert suggestions["model_id"] == model_id and "actions" in suggestions

    twice = cli("neighbors", campaign_ids[0], campaign_ids[1], campaign_ids[0], "-n", "2",
                home=trained_home)                  # was answered twice
    assert [r["campaign_id"] for r in ok_json(twice)] == campaign_ids
    assert twice.stderr == f"warning: {campaign_ids[0]!r} given more than once; answered once\n"
    csv = cli("neighbors", campaign_ids[0], campaign_ids[0], "--format", "csv",
              home=trained_home, text=False)     # was refused as several ids
    assert csv.returncode == 0 and csv.stdout == cli(
        "neighbors", campaign_ids[0], "--format", "csv", home=trained_home, text=False).stdout
    missing = cli("neighbors", campaign_ids[0], "NO-SUCH-CAMPAIGN", home=trained_home)
    assert missing.returncode == 1 and "NO-SUCH-CAMPAIGN" in missing.stderr
    # as neighbors says it, naming the model's data (was "has no fingerprint under model M",
    # which a replaced campaign of a newer month got from `fingerprint` alone)
    absent = cli("fingerprint", "NO-SUCH-CAMPAIGN", home=trained_home)
    assert absent.returncode == 1 and absent.stderr == missing.stderr
    assert f"No campaign 'NO-SUCH-CAMPAIGN' in demo v1 (the data of model {model_id})" \
        in absent.stderr
    # how to get a candidate (it said "train one and promote it", and `promote M` makes M
    # production)
    none = cli("promote", "candidate", home=trained_home)
    assert none.returncode == 1 and none.stderr == (
        "error: No model is marked 'candidate' yet: train one and promote it with `python -m "
        "core promote MODEL_ID --alias candidate` (the pipeline keeps a model that did not "
        "pass its gate as candidate).\n")
    unknown = cli("fingerprint", "--text", "zxqv", home=trained_home)
    assert unknown.returncode == 1 and "vocabulary" in unknown.stderr


def test_suggested_actions_give_the_same_numbers_in_json_and_csv(trained_home):
    """The JSON's actions are the CSV download's rows with its numbers: the JSON gave
    scores of 17 digits (`0.38487563267284575`) and counts as floats (`"neighbors": 4.0`,
    `"neighbor_clicks": 1801.0`) beside the CSV's 0.385, 4 and 1801."""
    import io

    import pandas as pd

    from core.serve.lookup import Lookup

    lookup = Lookup()
    campaign = next(c for c in sorted(lookup.campaigns.index)
                    if "add_keywords" in {a.kind for a in lookup.campaign(c).suggestions.actions})
    rows = ok_json(cli("suggest", campaign, home=trained_home))["actions"]
    csv = cli("suggest", campaign, "--format", "csv", home=trained_home, text=False)
    assert csv.returncode == 0, csv.stderr
    frame = pd.read_csv(io.BytesIO(csv.stdout), encoding="utf-8-sig")
    assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows)
    numeric = frame.select_dtypes("number").columns
    assert {"score", "weighted_score", "neighbors", "neighbor_clicks"} <= set(numeric)
    for column in numeric:
        said = [row[column] for row in rows]
        assert all((v is None) if pd.isna(c) else v == c
                   for v, c in zip(said, frame[column], strict=True)), (column, said)
    counts = [row[c] for row in rows for c in ("neighbors", "neighbor_clicks")
              if row[c] is not None]
    assert counts and all(type(v) is int for v in counts), counts
    assert all(len(repr(row["score"]).partition(".")[2]) <= 3 for row in rows)


def test_keyword_options_holding_no_keyword_are_named(trained_home, tmp_path) -> None:
    """`fingerprint --text ","` (or an empty `--file`) said the Lookup page's "No keywords
    were given: paste one keyword per line …", naming no option; now the option, before
    the model is loaded."""
    blank = tmp_path / "blank.txt"
    blank.write_text("\n ,\n")
    for command in ("fingerprint", "suggest"):
        text = cli(command, "--text", " , ;", home=trained_home)
        assert (text.returncode, text.stderr) == (1, "error: --text ' , ;' holds no keyword: "
                                                     'give keywords separated by commas, '
                                                     '"kw1, kw2"\n')
        file = cli(command, "--file", str(blank), home=trained_home)
        assert file.returncode == 1
        assert file.stderr == f"error: --file {blank} holds no keyword: give one keyword per line\n"


def test_a_keyword_planner_download_or_a_campaigns_export_gives_the_keywords(trained_home,
                                                                             tmp_path) -> None:
    """`--file` took every line as a keyword: a Keyword Planner download gave its title,
    range line and tab-separated header as keywords, an export its header and every
    column. A file the importer reads gives its keyword column; a plain list (a "Keyword"
    header line or not, or a workbook's column, which was refused as "NUL bytes") is one
    keyword per line; an export of several campaigns is refused, since a new campaign's
    keywords are one campaign's."""
    from tests.workbook import xlsx

    ideas = ["emergency plumber", "blocked drain", "water heater repair"]
    planner = tmp_path / "Keyword Stats 2026-12-05 at 09_20_11.csv"
    planner.write_text("Keyword Stats 2026-12-05 at 09_20_11\nDec 1, 2025 - Nov 30, 2026\n"
                       "Keyword\tCurrency\tAvg. monthly searches\tCompetition\n"
                       + "".join(f"{idea}\tUSD\t1K – 10K\tHigh\n" for idea in ideas),
                       "utf-16")
    listed = tmp_path / "keywords.txt"
    listed.write_text("Keyword\n" + "\n".join(ideas) + "\n")
    sheet = tmp_path / "keywords.xlsx"   # a column of them, no header: read as the list
    sheet.write_bytes(xlsx({"Ideas": [[idea] for idea in ideas]}))
    typed = ok_json(cli("fingerprint", "--text", ", ".join(ideas), home=trained_home))
    for path in (planner, listed, sheet):
        assert ok_json(cli("fingerprint", "--file", str(path), home=trained_home)) == typed
    export = tmp_path / "export.csv"
    export.write_text("Campaign,Keyword\nC1,emergency plumber\nC2,blocked drain\n")
    refused = cli("suggest", "--file", str(export), home=trained_home)
    assert (refused.returncode, refused.stderr) == (
        1, f"error: {export}: the file holds 2 campaigns ('C1', 'C2'): a new campaign's "
           "keywords are one campaign's; look a stored one up, or give one campaign's file\n")


def test_train_and_promote_through_the_quality_gate(trained_home):
    """`promote` applies the pipeline's gate against production: a model much worse than it
    is refused (nothing moves, nothing is scored or audited) unless `--force`."""
    from core.serve import registry

    production = registry.alias("production")
    promotions = len(ok_json(cli("audit", "--action", "promote", home=trained_home)))
    weak = ok_json(cli("train", "--dataset", "demo", "--k", "5", "--iterations", "40",
                       "--seed", "3", home=trained_home))
    assert weak["k"] == 5 and "npmi" in weak["metrics"]
    assert weak["language"] == "en"   # what the text was read as, detected
    refused = cli("promote", weak["model_id"], home=trained_home)
    assert refused.returncode == 1, refused.stdout
    assert "does not pass the quality gate" in refused.stderr and "--force" in refused.stderr
    # the seconds of the gate's scoring are said (nothing was printed meanwhile)
    assert refused.stderr.splitlines()[0] == (
        f"[  0.0%] Quality gate: scoring the top words of {weak['model_id']} and of "
        f"production {production} (NPMI)…")
    assert registry.alias("production") == production
    assert len(ok_json(cli("audit", "--action", "promote", home=trained_home))) == promotions

    forced = ok_json(cli("promote", weak["model_id"], "--force", home=trained_home))
    assert forced["previous"] == production and forced["scoring"]["campaigns"] == 400
    assert forced["gate"] is None and registry.alias("production") == weak["model_id"]
    log = ok_json(cli("audit", "--action", "promote", home=trained_home))
    assert log[0]["target"] == weak["model_id"]

    back = ok_json(cli("promote", production, home=trained_home))  # the better model passes
    gate = back["gate"]
    assert gate["passes"] and gate["evaluation"]["production"] == weak["model_id"]
    assert gate["evaluation"]["new_npmi"] > gate["evaluation"]["production_npmi"]
    assert registry.alias("production") == production


def test_train_shows_coherent_words_unless_told_to_show_the_most_probable(trained_home):
    """`--shown-words probable` trains the same topics as the default, which shows words
    picked for coherence (core.model.shown_words), and shows each one's most probable.
    1,200 campaigns: 1,080 train, enough to pick on (`shown_words.MIN_CAMPAIGNS`)."""
    from core.serve import registry
    from tests.conftest import demo_subset

    big = demo_subset(trained_home / "big.parquet", campaigns=1200)
    ok_json(cli("ingest", str(big), "--dataset", "big", home=trained_home))
    args = ("train", "--dataset", "big", "--k", "5", "--iterations", "40", "--seed", "4")
    coherent = ok_json(cli(*args, home=trained_home))
    probable = ok_json(cli(*args, "--shown-words", "probable", home=trained_home))
    picked, most = registry.load(coherent["model_id"]), registry.load(probable["model_id"])
    assert picked.manifest["params"]["shown_words"] == "coherent"
    assert most.manifest["params"]["shown_words"] == "probable"
    np.testing.assert_array_equal(picked.engine.topic_term_, most.engine.topic_term_)
    assert most.top_words(10) == [[most.vocabulary[i] for i in
                                   np.argsort(-row, kind="stable")[:10]]
                                  for row in most.engine.topic_term_]
    assert picked.top_words(10) != most.top_words(10)
    assert coherent["metrics"]["npmi"] > probable["metrics"]["npmi"]
    refused = cli(*args, "--shown-words", "nicest", home=trained_home)
    assert refused.returncode == 1 and "invalid choice: 'nicest'" in refused.stderr
    # the store's 400 demo campaigns are too few to pick on: the most probable, and why
    small = registry.load(ok_json(cli(*args[:2], "demo", *args[3:], home=trained_home))
                          ["model_id"])
    assert not small.engine.words_picked
    assert "360 training campaigns are too few" in small.engine.fit_info_["shown_words"]


def test_an_option_of_another_engine_names_the_option_and_the_engines_taking_it(home):
    """`train --passes 3` (tomotopy) listed the engine's internal parameter names as a
    Python list (['k', 'alpha', …, 'progress_every']) instead of naming the option."""
    for args, message in [
            (("train", "--passes", "3"), "--passes is for --engine gensim, not tomotopy"),
            (("sweep", "--ks", "3", "--passes", "3"),
             "--passes is for --engine gensim, not tomotopy"),
            (("train", "--engine", "gensim", "--spare-share", "0.2"),
             "--spare-share is for --engine tomotopy, not gensim"),
            (("train", "--engine", "btm", "--diversify"),
             "--diversify is for --engine tomotopy, not btm"),
            (("train", "--spark-master", "local[1]"),
             "--spark-master is for --engine spark, not tomotopy")]:
        refused = cli(*args, "--dataset", "demo", home=home)
        assert (refused.returncode, refused.stderr) == (1, f"error: {message}\n"), args


def test_a_value_given_twice_to_a_sweep_is_one_run(trained_home):
    """`--seeds 0 0` trained seed 0 twice: a duplicate model, and stability 1.00 "across
    seeds" from two identical runs."""
    result = ok_json(cli("sweep", "--dataset", "demo", "--ks", "3", "3", "--seeds", "0", "0",
                         "--iterations", "30", home=trained_home))
    assert len(result["models"]) == 1
    assert result["grid"]["k"] == [3] and result["grid"]["seeds"] == [0]
    [configuration] = result["configurations"]
    assert configuration["runs"] == 1 and configuration["stability"] is None
    assert "stability" not in result["explanation"]


def test_sweep_and_bad_values(trained_home):
    result = ok_json(cli("sweep", "--dataset", "demo", "--ks", "3", "4", "--seeds", "0",
                         "--iterations", "30", home=trained_home))
    assert len(result["models"]) == 2 and result["best_model_id"] in result["models"]
    assert "NPMI" in result["explanation"] and result["objective"]
    for args, needle in [(("train", "--dataset", "demo", "--k", "0"), "K must be"),
                         (("train", "--dataset", "demo", "--alpha", "abc"), "alpha"),
                         (("sweep", "--dataset", "demo", "--ks", "1", "5"), "K must be"),
                         (("train", "--dataset", "nope"), "nope")]:
        bad = cli(*args, home=trained_home)
        assert bad.returncode == 1 and needle in bad.stderr, (args, bad.stderr)


def on_a_terminal(*args: str, home, columns: int = 0) -> tuple[int, bytes]:
    """`python -m core ARGS` with stderr on a real pseudo-terminal in raw mode (so the
    terminal adds no "\\r" of its own), `columns` wide if given, and stdout on a pipe: its
    exit status and every byte the terminal received."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "TOPICLAB_HOME": str(home), "TOPICLAB_LOCK_WAIT_S": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    received = b""
    try:
        while select.select([master], [], [], 300)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:   # EIO: the process closed its end
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=60), received


def test_progress_is_rewritten_in_place_on_a_terminal_and_plain_lines_on_a_pipe(
        home, tmp_path, small_csv):
    """On a terminal each progress line ends in "\\r" and erases the rest of the one before
    (ESC [K; a shorter line showed the tail of a longer one), the last ends in "\\n", and an
    error after an open line starts a line of its own; through a pipe, plain lines."""
    from tests.conftest import demo_subset

    ok_json(cli("ingest", str(demo_subset(tmp_path / "demo.parquet", 60)), "--dataset", "demo",
                home=home))
    status, err = on_a_terminal("train", "--dataset", "demo", "--k", "3", "--iterations",
                                "30", home=home)
    assert status == 0, err
    progress, _, after = err.partition(b"[100.0%]")
    rewritten = progress.split(b"\r")[:-1]
    assert len(rewritten) >= 3, err
    assert all(line.startswith(b"[") and line.endswith(b"\x1b[K") for line in rewritten), err
    assert after.split(b"\n")[0].endswith(b"\x1b[K") and after.endswith(b"\n"), err
    assert b"\r" not in after, err

    # a line wider than the terminal wrapped, and "\r" then rewrote only its last row
    status, narrow = on_a_terminal("train", "--dataset", "demo", "--k", "3", "--iterations",
                                   "30", home=home, columns=30)
    assert status == 0, narrow
    lines = [line.removesuffix(b"\x1b[K").decode()
             for line in narrow.partition(b"[100.0%]")[0].split(b"\r")[:-1]]
    assert lines and all(len(line) <= 29 for line in lines), narrow
    assert any(line.endswith("…") for line in lines), narrow   # the long ones were cut

    ok_json(cli("ingest", str(small_csv), "--dataset", "shop", home=home))
    status, err = on_a_terminal("train", "--dataset", "shop", "--k", "2", home=home)
    assert status == 1
    assert err.startswith(b"[  0.0%] ") and b"\x1b[K\r\nerror: no words are left" in err, err
    piped = cli("train", "--dataset", "shop", "--k", "2", home=home)  # stderr not a terminal
    assert piped.returncode == 1
    first, error = piped.stderr.splitlines()
    assert first.startswith("[  0.0%] Tokenising shop v1") and error.startswith("error: ")
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr


def test_a_progress_line_is_cut_to_the_terminal_in_cells():
    """Wide (CJK) characters take two cells: a Sony dataset's name cut by characters
    would still wrap."""
    from core.cli import cut_to_width

    assert cut_to_width("Tokenising demo v1", 40) == "Tokenising demo v1"
    assert cut_to_width("Tokenising demo v1", 10) == "Tokenisin…"   # 9 + 1 cells
    cut = cut_to_width("[ 10.0%] 勤怠管理 v1 を読む", 16)
    assert cut == "[ 10.0%] 勤怠管…", cut   # 9 + 3 × 2 + 1 cells
