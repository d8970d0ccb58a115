"""Hostile and careless input (issue #8, items 5-8): paths that are not regular files,
sizes, encodings, numbers, and CSV exports a spreadsheet would run as formulas.

Each test here is a row of the "Files and values" table in docs/hostile-input.md."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core import config
from core.data import export, ingest, store
from core.data.readers import read_bytes, read_paths
from core.errors import InputError
from tests.conftest import REPO, app_test, cli, ok_json


def refused(result: subprocess.CompletedProcess) -> str:
    """The one-line `error:` of a CLI call that exited 1."""
    stderr = result.stderr.decode()
    assert result.returncode == 1, (result.returncode, stderr[-2000:])
    assert stderr.startswith("error: ") and "Traceback" not in stderr, stderr[-2000:]
    return stderr


def strict_json(text: str | bytes):
    """Parse as strict JSON: `NaN`, `Infinity` are not JSON and fail the test."""
    def no_constant(token: str):
        raise AssertionError(f"invalid JSON constant {token} on stdout")
    return json.loads(text, parse_constant=no_constant)


def read_error(paths, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        read_paths(paths if isinstance(paths, list) else [paths], **kwargs)
    return str(err.value)


# --------------------------------------------------------------------------- 5: paths


def test_a_device_is_refused_before_reading() -> None:
    message = read_error(Path("/dev/zero"))
    assert message.startswith("/dev/zero:") and "character device" in message


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "terms.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_paths([fifo])
            outcome.append(None)
        except Exception as err:
            outcome.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # hung waiting for a writer: release it, then fail
        with open(fifo, "wb"):
            pass
        reader.join(10)
        pytest.fail("reading a FIFO hung")
    assert isinstance(outcome[0], InputError), outcome
    assert "FIFO" in str(outcome[0]) and "terms.csv" in str(outcome[0])


def test_a_socket_and_special_files_in_a_folder_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "good.csv").write_text("campaign_id,term\nc1,shoes\n", "utf-8")
    sock_path = folder / "live.csv"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(sock_path))
        message = read_error(sock_path)
        assert "socket" in message and "not a regular file" in message
        message = read_error(folder)
        assert "live.csv" in message and "socket" in message
    sock_path.unlink()
    os.mkfifo(folder / "pipe.tsv")
    assert "FIFO" in read_error(folder)
    (folder / "pipe.tsv").unlink()
    assert read_paths([folder]).frame["term"].tolist() == ["shoes"]


def test_the_size_limit_holds_while_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc files say they are 0 bytes: only a bounded read can refuse them."""
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0 and len(status.read_bytes()) > 600
    monkeypatch.setenv("TOPICLAB_MAX_UPLOAD_MB", str(512 / 2**20))
    message = read_error(status)
    assert "more than the import limit" in message and "TOPICLAB_MAX_UPLOAD_MB" in message


def test_an_upload_over_the_limit_is_refused_in_core(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPICLAB_MAX_UPLOAD_MB", "0.01")
    data = b"campaign_id,term\n" + b"c1,shoes and socks\n" * 2000
    with pytest.raises(InputError, match=r"big\.csv: file is 0\.04 MB, over the import limit"):
        ingest.import_uploads([("big.csv", data)], "shop")
    with pytest.raises(InputError, match="over the import limit"):
        read_bytes(data, "big.csv")


def test_cli_refuses_process_substitution_and_devices(home: Path, small_csv: Path) -> None:
    ingest.import_paths([small_csv], "shop")
    shell = (f"{sys.executable} -m core ingest <(cat {small_csv}) --dataset shop")
    env = {**os.environ, "TOPICLAB_HOME": str(home)}
    before = store.table_counts()
    result = subprocess.run(["bash", "-c", shell], cwd=REPO, env=env, capture_output=True,
                            timeout=60)
    assert "FIFO" in refused(result) and "<(" in result.stderr.decode()
    for command in ("fingerprint", "suggest"):
        message = refused(cli(command, "--file", "/dev/zero", home=home, text=False))
        assert "/dev/zero" in message and "character device" in message
    assert store.table_counts() == before


def test_keyword_file_commands_do_not_offer_folders(home: Path, tmp_path: Path) -> None:
    """`--file <folder>` said "only regular files (or folders of them) can be read": a
    keyword file must be one file; an import still takes a folder."""
    for command in ("fingerprint", "suggest"):
        message = refused(cli(command, "--file", str(tmp_path), home=home, text=False))
        assert message.startswith(f"error: {tmp_path}: is a folder, not a regular file")
        assert "folders of them" not in message and "give one file" in message
        message = refused(cli(command, "--file", str(tmp_path / "gone.txt"), home=home,
                              text=False))
        assert "gone.txt: no such file" in message and "folder" not in message
    assert "no such file or folder" in read_error(tmp_path / "gone.csv")


# --------------------------------------------------------------------------- 6: encodings


WESTERN = ["café crème", "crème brûlée", "hôtel à paris", "Grüße aus München",
           "informações úteis", "¿dónde está el baño?", "CAFÉ NOIR"]
JAPANESE = ["東京 ホテル 予約", "格安 航空券", "勤怠管理 クラウド", "子供 見守り gps",
            "iphoneケース 手帳型", "ｶﾀｶﾅ ホテル"]


def keyword_csv(terms: list[str], encoding: str) -> bytes:
    """A keyword file as a tool saving in `encoding` writes it (campaign names too)."""
    western = encoding == "cp1252"
    text = "campaign_id,campaign_name,keyword\n" + "".join(
        f"c{i % 2},{'Été' if western else f'キャンペーン {i % 2}'},{term}\n"
        for i, term in enumerate(terms))
    return text.encode(encoding)


@pytest.mark.parametrize("terms", [["café crème"], WESTERN], ids=["latin1-short", "western"])
def test_latin1_is_read_right(tmp_path: Path, terms: list[str]) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(keyword_csv(terms, "cp1252"))
    assert b"\xe9" in path.read_bytes()  # é as one Latin-1 byte
    result = read_paths([path])
    assert result.frame["term"].tolist() == terms
    assert set(result.frame["campaign_name"]) == {"Été"}
    assert len(result.warnings) == 1 and "cp1252" in result.warnings[0]


@pytest.mark.parametrize("codec", ["shift_jis", "cp932", "euc_jp"])
def test_japanese_encodings_are_read_right(tmp_path: Path, codec: str) -> None:
    terms = JAPANESE if codec != "shift_jis" else JAPANESE[:-1]
    path = tmp_path / f"{codec}.csv"
    path.write_bytes(keyword_csv(terms, codec))
    result = read_paths([path])
    assert result.frame["term"].tolist() == terms
    assert set(result.frame["campaign_name"]) == {"キャンペーン 0", "キャンペーン 1"}
    expected = "euc_jp" if codec == "euc_jp" else "cp932"
    assert len(result.warnings) == 1 and f"({expected})" in result.warnings[0]


@pytest.mark.parametrize(("text", "codec"), [
    ("ru,Привет мир\nru,купить телефон\n", "cp1251"),
    ("cn,北京 酒店 预订\ncn,便宜 机票 预订 北京\n", "gbk"),
])
def test_an_unrecognised_encoding_is_refused_with_the_candidates(tmp_path: Path, text: str,
                                                                 codec: str) -> None:
    path = tmp_path / "other.csv"
    path.write_bytes(("campaign_id,term\n" + text).encode(codec))
    message = read_error(path)
    assert message.startswith("other.csv: is not UTF-8")
    for candidate in ("cp932", "euc_jp", "cp1252", "--encoding"):
        assert candidate in message
    chosen = read_paths([path], encoding=codec)
    assert chosen.frame["term"].tolist() == [line.split(",")[1] for line in text.splitlines()]
    assert chosen.warnings == []


def test_an_explicit_encoding_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    path.write_bytes(keyword_csv(JAPANESE[:3], "cp932"))
    assert read_paths([path], encoding="cp932").frame["term"].tolist() == JAPANESE[:3]
    message = read_error(path, encoding="utf-8")
    assert message.startswith("sjis.csv, line 2:") and "cannot be decoded as utf-8" in message
    assert "unknown encoding 'klingon'" in read_error(path, encoding="klingon")


@pytest.mark.parametrize(("codec", "needle"), [
    ("base64", "'base64' is not a text encoding"), ("zlib", "'zlib' is not a text encoding"),
    ("rot13", "'rot13' is not a text encoding"),
    ("punycode", "sjis.csv, line 1: cannot be decoded as punycode"),
    ("undefined", "sjis.csv: cannot be decoded as undefined"),
])
def test_a_codec_that_reads_no_text_is_refused_by_name(home: Path, tmp_path: Path, codec: str,
                                                       needle: str) -> None:
    """`--encoding base64` (zlib, rot13: Python codecs, but of data, not text) was a
    LookupError traceback; punycode and undefined a UnicodeError traceback."""
    path = tmp_path / "sjis.csv"
    path.write_bytes(keyword_csv(JAPANESE[:3], "cp932"))
    assert needle in read_error(path, encoding=codec)
    keywords = tmp_path / "keywords.txt"
    keywords.write_text("plumber\n")  # punycode: no byte position in this refusal
    assert needle.replace("sjis.csv, line 1", "keywords.txt").replace(
        "sjis.csv", "keywords.txt") in read_error(keywords, encoding=codec)
    for args in (("ingest", str(path), "--dataset", "x"), ("fingerprint", "--file",
                                                          str(keywords))):
        assert codec in refused(cli(*args, "--encoding", codec, home=home, text=False))
    assert store.table_counts()["datasets"] == 0


def test_cli_and_upload_take_an_encoding(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "cyrillic.csv"
    path.write_bytes("campaign_id,term\nru,купить телефон\n".encode("cp1251"))
    assert "is not UTF-8" in refused(cli("ingest", str(path), "--dataset", "ru", home=home,
                                         text=False))
    summary = strict_json(cli("ingest", str(path), "--dataset", "ru", "--encoding",
                              "cp1251", home=home, text=False).stdout)
    assert summary["rows"] == 1 and summary["warnings"] == []
    assert store.query("SELECT term FROM terms")["term"].tolist() == ["купить телефон"]

    upload = ingest.import_uploads([("euc.csv", keyword_csv(JAPANESE[:2], "euc_jp"))], "ja",
                                   encoding="euc_jp")
    assert upload.rows == 2 and upload.warnings == []


def test_explore_page_offers_the_encodings_of_core(home: Path, tmp_path: Path) -> None:
    from core.data import encodings
    st.cache_data.clear()
    st.cache_resource.clear()
    at = app_test()
    at.switch_page("app_pages/explore.py")  # opened directly, as a link to it is
    at.run()
    choice = at.selectbox(key="import_encoding")
    assert choice.options == [encodings.label(c) for c in encodings.CHOICES]
    at.file_uploader[0].set_value(
        ("cyrillic.csv", "campaign_id,term\nru,купить телефон\n".encode("cp1251"), "text/csv"))
    at.text_input[0].set_value("ru")
    at.button[0].click().run()
    assert any("is not UTF-8" in e.value for e in at.error)
    at.selectbox(key="import_encoding").set_value("cp1252")
    at.file_uploader[0].set_value(("latin.csv", keyword_csv(["café crème"], "cp1252"),
                                   "text/csv"))
    at.text_input[0].set_value("fr")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert store.query("SELECT term FROM terms WHERE dataset = 'fr'")["term"].tolist() == [
        "café crème"]


# --------------------------------------------------------------------------- 7: numbers


@pytest.mark.parametrize(("cell", "column", "problem"), [
    ("99999999999999999999", "clicks", "out of range"),   # beyond int64
    ("1e30", "impressions", "out of range"),
    ("1e308", "cost", "out of range"),                   # finite, but sums overflow
    ("1e400", "cost", "is not a number"),                 # infinite once parsed
    ("inf", "conversions", "is not a number"),
])
def test_out_of_range_and_non_finite_metrics_are_refused(tmp_path: Path, cell: str,
                                                         column: str, problem: str) -> None:
    text = (f"campaign_id,term,impressions,clicks,cost,conversions\nc1,a,10,1,2,0\n"
            f"c1,b,{cell if column == 'impressions' else 10},"
            f"{cell if column == 'clicks' else 1},{cell if column == 'cost' else 2},"
            f"{cell if column == 'conversions' else 0}\n")
    message = read_error(write(tmp_path / "m.csv", text))
    assert message.startswith(f"m.csv, line 3, column '{column}':"), message
    assert repr(cell) in message and problem in message


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_parquet_nan_and_huge_integers_are_refused(tmp_path: Path) -> None:
    frame = pa.table({"campaign_id": ["c1", "c1", "c1"], "term": ["a", "b", "c"],
                      "cost": pa.array([1.0, None, float("nan")]),
                      "clicks": pa.array([1, 2, 3], pa.uint64())})
    pq.write_table(frame, tmp_path / "nan.parquet")
    message = read_error(tmp_path / "nan.parquet")
    assert message.startswith("nan.parquet, line 3, column 'cost':") and "NaN" in message
    huge = frame.set_column(2, "cost", pa.array([1.0, None, 2.0])).set_column(
        3, "clicks", pa.array([1, 2**64 - 1, 3], pa.uint64()))
    pq.write_table(huge, tmp_path / "huge.parquet")
    message = read_error(tmp_path / "huge.parquet")
    assert message.startswith("huge.parquet, line 2, column 'clicks':")
    assert "out of range" in message
    # a duration read as text is its count of microseconds: 5 s became 5,000,000 clicks
    timed = huge.set_column(3, "clicks", pa.array([5_000_000, 1, 2], pa.duration("us")))
    pq.write_table(timed, tmp_path / "timed.parquet")
    message = read_error(tmp_path / "timed.parquet")
    assert message.startswith("timed.parquet, column 'clicks': holds duration[us] values")


@pytest.mark.parametrize(("cells", "kind", "shown"), [
    ([1, float("inf")], pa.float16(), "inf is not a number"),
    ([1, -float("inf")], pa.float32(), "-inf is not a number"),
    ([1, -5], pa.int64(), "-5 is negative"),
    ([1, 1.5], pa.float64(), "1.5 is not a whole number"),
])
def test_parquet_numbers_are_shown_plainly_when_refused(tmp_path: Path, cells: list,
                                                        kind: pa.DataType, shown: str) -> None:
    """A refused Parquet number showed as numpy's repr: `np.float64(inf) is not a number`."""
    table = pa.table({"campaign_id": ["c1", "c1"], "term": ["a", "b"],
                      "clicks": pa.array(np.array(cells), kind)})
    pq.write_table(table, tmp_path / "odd.parquet")
    message = read_error(tmp_path / "odd.parquet")
    assert message.startswith(f"odd.parquet, line 2, column 'clicks': {shown}"), message
    assert "np." not in message


def test_cli_always_prints_strict_json(home: Path, tmp_path: Path) -> None:
    result = cli("sql", "SELECT 'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, "
                        "-'inf'::DOUBLE AS ninf, 1.5::DOUBLE AS x", home=home, text=False)
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout)["data"] == [
        {"nan": None, "inf": None, "ninf": None, "x": 1.5}]
    bad = write(tmp_path / "cost.csv", "campaign_id,term,cost\nc1,a,1e308\nc1,b,1e308\n")
    message = refused(cli("ingest", str(bad), "--dataset", "x", home=home, text=False))
    assert "cost.csv, line 2, column 'cost'" in message


def test_cli_prints_database_sums_and_decimals_as_numbers(home: Path) -> None:
    """DuckDB's sums are HUGEINT and its decimals DECIMAL: JSON numbers, not "10" text."""
    result = cli("sql", "SELECT sum(x) AS s, 1.50::DECIMAL(10, 2) AS d, "
                        "12345678901234567890::HUGEINT AS big FROM range(5) t(x)", home=home)
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout)["data"] == [
        {"s": 10, "d": 1.5, "big": 12345678901234567890}]


def test_cli_prints_intervals_and_blobs_as_plain_text(home: Path) -> None:
    """DuckDB's INTERVAL and BLOB reached the JSON as Python reprs
    ("<DateOffset: days=0, months=0, nanoseconds=5000000000>", "b'ab'")."""
    result = cli("sql", "SELECT INTERVAL 5 SECOND AS i, 'ab'::BLOB AS b, "
                        "INTERVAL '14 months 2 days 3 hours 0.25 seconds' AS long, "
                        "-INTERVAL 90 MINUTE AS neg, INTERVAL 0 DAY AS zero, "
                        "'\\xAA\\xFF'::BLOB AS raw, NULL::INTERVAL AS ni, NULL::BLOB AS nb",
                 home=home)
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout)["data"] == [
        {"i": "PT5S", "b": "YWI=", "long": "P1Y2M2DT3H0.25S", "neg": "PT-1H-30M",
         "zero": "PT0S", "raw": "qv8=", "ni": None, "nb": None}]


def test_durations_and_bytes_have_one_json_form_in_cli_and_service() -> None:
    """The CLI and the scoring service share core/jsonable.py for these too."""
    import datetime

    from core.cli import json_safe
    from core.serve.answers import plain

    values = {"td": datetime.timedelta(days=-1, seconds=1), "pd": pd.Timedelta("1 day 2 ns"),
              "np": np.timedelta64(1500, "ms"), "nat": np.timedelta64("NaT"),
              "arrow": pa.scalar((1, 2, 3_000_000_000),
                                 pa.month_day_nano_interval()).as_py(),
              "bytes": b"\x00ab", "view": memoryview(b"ab")}
    expected = {"td": "PT-23H-59M-59S", "pd": "P1DT0.000000002S", "np": "PT1.5S",
                "nat": None, "arrow": "P1M2DT3S", "bytes": "AGFi", "view": "YWI="}
    assert json_safe(values) == expected
    assert plain(values) == expected


@pytest.mark.parametrize("raw", ["abc", "nan", "inf", "-5", "0"])
def test_a_bad_number_in_the_environment_is_one_line_naming_it(home: Path, raw: str,
                                                               monkeypatch) -> None:
    monkeypatch.setenv("TOPICLAB_SQL_TIMEOUT_S", raw)
    result = cli("sql", "SELECT 1", home=home)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"TOPICLAB_SQL_TIMEOUT_S={raw!r} is not a positive number" in result.stderr
    monkeypatch.setenv("TOPICLAB_SQL_TIMEOUT_S", " 2.5 ")
    assert config.sql_timeout_s() == 2.5


def test_the_lock_wait_and_the_map_size_are_numbers_checked_as_the_others(
        home: Path, monkeypatch) -> None:
    """`TOPICLAB_LOCK_WAIT_S=abc` was a ValueError traceback from every command that opens
    the store, and `TOPICLAB_MAP_MAX_POINTS=abc` one from `map` and the Map page."""
    from core.serve import campaign_map

    result = cli("models", home=home, lock_wait="abc")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "TOPICLAB_LOCK_WAIT_S='abc' is not a number of 0 (do not wait) or more" in result.stderr
    assert ok_json(cli("models", home=home, lock_wait="0")) == []  # 0: do not wait
    for raw in ("abc", "nan", "0", "2.5"):
        monkeypatch.setenv("TOPICLAB_MAP_MAX_POINTS", raw)
        with pytest.raises(InputError, match=f"TOPICLAB_MAP_MAX_POINTS={raw!r} is not a"):
            campaign_map.max_points()
    monkeypatch.setenv("TOPICLAB_MAP_MAX_POINTS", "1e3")
    assert campaign_map.max_points() == 1000


# --------------------------------------------------------------------------- 8: CSV exports


HOSTILE = '=HYPERLINK("http://evil.example/x","Open report")'


def test_formula_cells_are_neutralised_and_numbers_kept() -> None:
    frame = pd.DataFrame({
        "campaign_name": [HOSTILE, "+33 1 23", "-rebate", "@SUM(A1)", "\tx", "\rx",
                          "plain - text", None],
        "cost": [-3.5, 0.0, 1.25, -0.0, 2.0, 3.0, np.nan, -7.0],
        "clicks": pd.array([-1, 2, 3, 4, 5, 6, 7, None], dtype="Int64"),
        "mixed": ["-4", -4, 5.5, "=1+1", "ok", None, "x", "y"],
    })
    rows = list(csv.reader(io.StringIO(export.csv_bytes(frame).decode("utf-8-sig"),
                                       newline="")))
    assert rows[0] == ["campaign_name", "cost", "clicks", "mixed"]
    assert [r[0] for r in rows[1:]] == ["'" + HOSTILE, "'+33 1 23", "'-rebate", "'@SUM(A1)",
                                        " x", " x", "plain - text", ""]  # tab, CR: spaces
    assert [r[1] for r in rows[1:]] == ["-3.5", "0.0", "1.25", "-0.0", "2.0", "3.0", "", "-7.0"]
    assert [r[2] for r in rows[1:]] == ["-1", "2", "3", "4", "5", "6", "7", ""]
    assert [r[3] for r in rows[1:]] == ["'-4", "-4", "5.5", "'=1+1", "ok", "", "x", "y"]


def test_full_width_formula_starts_are_neutralised() -> None:
    """A cell starting with a full-width `＝`, `＋`, `－` or `＠` (or a small form, `﹦`)
    went out as it was: a spreadsheet that folds full-width input to ASCII, as Japanese
    Excel does for digits, may run `＝HYPERLINK(…)`. A full-width letter or `（` does not
    start a formula."""
    cells = ["＝HYPERLINK(\"http://evil.example/x\")", "＋81 3", "－rebate", "＠SUM(A1)",
             "﹦1+1", "Ａｄ", "（株）ソニー"]
    rows = list(csv.reader(io.StringIO(export.csv_bytes(pd.DataFrame({"name": cells}))
                                       .decode("utf-8-sig"), newline="")))
    assert [r[0] for r in rows[1:]] == ["'" + c for c in cells[:5]] + cells[5:]


def test_csv_cells_hold_no_terminal_escape_or_invisible_character() -> None:
    """A name or term stored with ESC (imported before imports removed them, or written
    by SQL) went raw into `neighbors --format csv`: `\x1b]0;…\x07` retitled the terminal,
    `\x1b[2J` cleared it. CSV cells lose control and invisible characters as imports do."""
    frame = pd.DataFrame({"campaign_name": ["Brand\x1b[2J\x1b]0;pwned\x07", "c\u009b31m",
                                            "zero\u200bwidth", "=\u200b1+1"],
                          "term\x1b[1m": ["a\r\nb", "x", "y", "z"]})
    text = export.csv_bytes(frame).decode("utf-8-sig")
    assert not any(c in text for c in "\x1b\x07\u009b\u200b")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["campaign_name", "term[1m"], ["Brand[2J]0;pwned", "a  b"],
                    ["c31m", "x"], ["zerowidth", "y"], ["'=1+1", "z"]]


@pytest.fixture
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def test_lookup_downloads_equal_cli_csv_and_hold_no_formula(trained_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            fresh_caches) -> None:
    with store.transaction() as con:  # every other campaign gets a hostile name
        con.execute("UPDATE terms SET campaign_name = CASE WHEN hash(campaign_id) % 2 = 0 "
                    "THEN ? || campaign_id ELSE '-' || campaign_id END "
                    "WHERE campaign_id <> 'C00002'", [HOSTILE])

    written: dict[str, bytes] = {}  # what the page hands Streamlit to download, by name
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        written[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = app_test()
    at.switch_page("app_pages/lookup.py")  # opened directly, as a link to it is
    at.run()
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    assert not at.exception and not at.error

    neighbours = cli("neighbors", "C00002", "--format", "csv", home=trained_home, text=False)
    assert neighbours.returncode == 0, neighbours.stderr
    assert neighbours.stdout == written["neighbours-C00002.csv"]
    table = pd.read_csv(io.BytesIO(neighbours.stdout), encoding="utf-8-sig")
    assert len(table) == 10 and table["similarity"].dtype == np.float64
    for campaign_id, name in zip(table["campaign_id"], table["campaign_name"], strict=True):
        assert name in ("'" + HOSTILE + campaign_id, "'-" + campaign_id)
    assert any(name.startswith("'=") for name in table["campaign_name"])
    assert not any(str(v).startswith(export.FORMULA_STARTS)
                   for v in table.select_dtypes(exclude="number").to_numpy().ravel())

    actions_csv = cli("suggest", "C00002", "--format", "csv", home=trained_home, text=False)
    assert actions_csv.returncode == 0, actions_csv.stderr
    assert actions_csv.stdout == written["actions-C00002.csv"]
    assert actions_csv.stdout.startswith(b"\xef\xbb\xbfrank,kind,title")

    several = cli("neighbors", "C00002", "C00003", "--format", "csv", home=trained_home,
                  text=False)
    assert "one campaign id" in refused(several)


def test_no_page_writes_csv_except_through_core() -> None:
    """Every CSV the app offers goes through `export.csv_bytes` (one neutralising writer)."""
    for page in [*sorted((REPO / "app_pages").glob("*.py")), REPO / "app.py", REPO / "ui.py"]:
        source = page.read_text("utf-8")
        assert ".to_csv(" not in source, page.name
        if "download_button" in source:
            assert "export.csv_bytes(" in source, page.name



# --------------------------------------------------------------------------- import review

ST_REPORT = ("Search terms report\n\"May 1, 2024\"\n"
             "Search term\tCampaign\tAd group\tKeyword\tClicks\tImpr.\tCost\n"
             "sony camera price\tCams\tA\tsony camera\t0\t1\t0\n"
             "sony camera price\tCams\tA\tcamera price\t0\t1\t0\n")


def test_rows_differing_only_in_an_ignored_column_are_all_kept(home: Path,
                                                                tmp_path: Path) -> None:
    """One search term matched by two keywords is two rows of the report, not a duplicate."""
    path = tmp_path / "st.csv"
    path.write_bytes(ST_REPORT.encode("utf-16"))
    summary = strict_json(cli("ingest", str(path), "--dataset", "st", home=home).stdout)
    assert summary["rows"] == 2 and summary["warnings"] == []
    assert store.query("SELECT sum(impressions) AS n FROM terms")["n"].tolist() == [2]

    repeated = tmp_path / "st2.csv"  # a row identical in every column is still dropped
    repeated.write_bytes((ST_REPORT + ST_REPORT.splitlines(keepends=True)[-1]).encode("utf-16"))
    result = read_paths([repeated])
    assert result.frame["source_line"].tolist() == [4, 5]
    assert result.warnings == ["st2.csv: 1 duplicate row dropped, identical in every column "
                               "to an earlier one (line 6)"]


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_path_is_refused(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  blank: str) -> None:
    from core import read_terms
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.csv").write_text("keyword\nshoes\n")  # what "." would have imported
    assert "empty path" in read_error(blank)
    with pytest.raises(InputError, match="empty path"):
        read_terms(blank)
    assert "empty path" in refused(cli("ingest", blank, "--dataset", "x", home=home,
                                               text=False))
    assert "empty path" in refused(cli("ingest", "k.csv", blank, "--dataset", "x",
                                               home=home, text=False))
    assert store.table_counts()["datasets"] == 0


def test_a_path_given_with_a_tilde_is_in_the_home_folder(home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         small_csv: Path) -> None:
    """`read_terms("~/x")`, `ingest "~/folder"` (quoted, or from a script) and `--file
    ~/x` reached Python unexpanded and were read as a folder named `~` in the current one:
    `no such file or folder`."""
    import argparse

    from core import cli as core_cli
    from core import read_terms
    user = tmp_path / "user"
    (user / "exports").mkdir(parents=True)
    (user / "exports" / "k.csv").write_bytes(small_csv.read_bytes())
    (user / "kw.txt").write_text("emergency plumber\nboiler repair\n")
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.chdir(tmp_path)              # no `~` folder here: it would be read instead
    assert len(read_terms("~/exports/k.csv")) == 8
    assert len(read_terms(["~/exports"])) == 8
    summary = ok_json(cli("ingest", "~/exports", "--dataset", "tilde", home=home))
    assert summary["rows"] == 8 and store.table_counts()["datasets"] == 1
    args = argparse.Namespace(file="~/kw.txt", encoding=None, text=None)
    assert core_cli._keywords_from(args) == ["emergency plumber", "boiler repair"]
    with pytest.raises(InputError, match="no such file"):   # another user's: as given
        read_terms("~nosuchuser_topiclab/k.csv")


@pytest.mark.parametrize(("paths", "message"), [
    (None, "read_terms takes a file or folder name, or a list of them, not None"),
    (b"k.csv", "read_terms takes a file or folder name, or a list of them, not b'k.csv'"),
    (["k.csv", None], "path 2 of 2 is None, not the name of a file or folder"),
    ([3], "path 1 of 1 is 3, not the name of a file or folder"),
    # a frame of term rows: its column names were read as paths, "campaign_id: no such file"
    (pd.DataFrame({"campaign_id": ["C1"], "term": ["shoes"]}),
     "read_terms reads files and folders, not a DataFrame: give a frame of term rows to fit"),
])
def test_read_terms_names_what_is_not_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             paths: object, message: str) -> None:
    """In a notebook, read_terms(None) or a list holding None gave TypeErrors from deep
    inside ("'NoneType' object is not iterable", "expected str, bytes or os.PathLike")."""
    from core import read_terms
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.csv").write_text("keyword\nshoes\n")
    with pytest.raises(InputError, match=re.escape(message)):
        read_terms(paths)


def test_read_terms_says_a_pattern_is_not_expanded(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_terms("exports/*.csv")` said "no such file or folder", as if the files were
    missing: a pattern is named as one, with the call that reads its files; the list
    `glob.glob` gives is read, and an empty one (a pattern matching nothing) is named."""
    import glob

    from core import read_terms
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / "exports" / name).write_text(f"campaign_id,term\n{name},shoes\n")
    with pytest.raises(InputError, match=re.escape(
            "exports/*.csv: no such file or folder; read_terms does not expand patterns such "
            "as * (as a pattern it matches 2 paths): give read_terms(glob.glob("
            "'exports/*.csv')), or the folder 'exports' to read every file in it")):
        read_terms("exports/*.csv")
    with pytest.raises(InputError, match=r"exports/\*\.xlsx: .* it matches nothing either$"):
        read_terms(["exports/a.csv", "exports/*.xlsx"])
    assert read_terms(glob.glob("exports/*.csv"))["campaign_id"].tolist() == ["a.csv", "b.csv"]
    with pytest.raises(InputError, match=r"the list of paths is empty \(a glob\.glob"):
        read_terms(glob.glob("exports/*.xlsx"))
    (tmp_path / "exports" / "[x].csv").write_text("campaign_id,term\nx,shoes\n")
    assert read_terms("exports/[x].csv")["campaign_id"].tolist() == ["x"]  # a real name


def test_a_byte_order_mark_wins_over_the_chosen_encoding(home: Path) -> None:
    sony = REPO / "tests" / "fixtures" / "sony" / "PO_brand.csv"
    assert sony.read_bytes()[:2] == b"\xff\xfe"
    chosen = read_paths([sony], encoding="cp932")
    pd.testing.assert_frame_equal(chosen.frame, read_paths([sony]).frame)
    assert any("byte-order mark" in w and "cp932" in w for w in chosen.warnings)
    summary = strict_json(cli("ingest", str(sony), "--dataset", "sony", "--encoding", "cp932",
                              home=home).stdout)
    assert summary["rows"] == 48


def test_read_terms_takes_an_encoding(tmp_path: Path) -> None:
    from core import read_terms
    path = tmp_path / "cyrillic.csv"
    path.write_bytes("campaign_id,term\nru,купить телефон\n".encode("cp1251"))
    with pytest.raises(InputError, match="is not UTF-8"):
        read_terms(path)
    assert read_terms(path, encoding="cp1251")["term"].tolist() == ["купить телефон"]


def test_fingerprint_and_suggest_take_an_encoding(trained_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "keywords.txt"
    path.write_bytes("plumbing repair\nкупить телефон\n".encode("cp1251"))
    for command in ("fingerprint", "suggest"):
        assert "--encoding" in refused(cli(command, "--file", str(path), home=trained_home,
                                           text=False))
        result = cli(command, "--file", str(path), "--encoding", "cp1251", home=trained_home)
        assert result.returncode == 0, result.stderr
        # the unknown word, decoded right
        assert "телефон" in json.dumps(strict_json(result.stdout), ensure_ascii=False)
    campaign = strict_json(cli("find", "C", home=trained_home).stdout)[0]["campaign_id"]
    for given in (["suggest", "--text", "plumbing"], ["suggest", campaign],
                  ["fingerprint", campaign], ["suggest", "--account", "x"]):
        assert "with --file only" in refused(cli(*given, "--encoding", "cp1251",
                                                 home=trained_home, text=False)), given


def test_an_unterminated_quote_is_reported_where_it_starts(tmp_path: Path) -> None:
    rows = [f"c{i % 50},keyword number {i},{i % 7}" for i in range(20_000)]
    rows[3] = 'c3,"stray quote,1'  # line 5
    path = tmp_path / "big.csv"
    path.write_text("campaign_id,keyword,clicks\n" + "\n".join(rows) + "\n")
    message = read_error(path)
    assert message.startswith("big.csv, line 5:"), message
    assert "an unterminated quote, or a field over 128 KB" in message

    long = tmp_path / "long.csv"
    long.write_text("campaign_id,keyword\nc1,short\nc1," + "x" * 2_000_000 + "\nc1,b\n")
    message = read_error(long)
    assert message.startswith("long.csv, line 3:"), message
    assert "an unterminated quote, or a field over 128 KB" in message


@pytest.mark.parametrize("header, first, second", [
    ("Campaign,Keyword,Clicks,Clicks", "3 'Clicks'", "4 'Clicks'"),
    ("Campaign,Keyword,Keyword", "2 'Keyword'", "3 'Keyword'"),
    ("Campaign,keyword,Clicks, KEYWORD ", "2 'keyword'", "4 'KEYWORD'"),
])
def test_two_columns_of_one_name_are_refused(home: Path, tmp_path: Path, header: str,
                                             first: str, second: str) -> None:
    width = header.count(",") + 1
    path = tmp_path / "twice.csv"
    path.write_text(header + "\n" + ",".join(["c1", "shoes", "2", "3"][:width]) + "\n")
    message = read_error(path)
    assert message.startswith("twice.csv, line 1:"), message
    assert f"columns {first} and {second}" in message
    table = pa.table({"campaign": ["c1"], "keyword": ["a"], "Keyword": ["b"]})
    pq.write_table(table, tmp_path / "twice.parquet")
    assert "columns 2 'keyword' and 3 'Keyword'" in read_error(tmp_path / "twice.parquet")
    assert "twice.csv" in refused(cli("ingest", str(path), "--dataset", "x", home=home,
                                      text=False))
    assert store.table_counts()["datasets"] == 0


def test_two_names_of_one_column_must_agree(home: Path, tmp_path: Path) -> None:
    """`Impr.` and `Impressions` (two aliases of one metric) in one file: the importer read
    the first and dropped the other silently. Differing figures are refused, naming both;
    equal ones (as numbers) lose nothing and are read. Columns whose aliases also name
    neighbouring things (a manager account, a search term's keyword) are not rivals."""
    path = write(tmp_path / "two.csv", "Campaign,Keyword,Impr.,Impressions\n"
                                       "c1,shoes,10,10\nc1,boots,7,70\n")
    message = read_error(path)
    assert message.startswith("two.csv, line 3: columns 4 'Impressions' and 3 'Impr.' both "
                              "hold the impressions but differ here ('70' and '7')"), message
    assert "two.csv" in refused(cli("ingest", str(path), "--dataset", "x", home=home,
                                    text=False))
    assert store.table_counts()["datasets"] == 0
    same = write(tmp_path / "same.csv", "Campaign,Keyword,Impr.,Impressions\n"
                                        'c1,shoes,"1,234",1234\nc1,boots,,--\n')
    assert read_paths([same]).frame["impressions"].tolist() == [1234, pd.NA]
    spend = pa.table({"campaign_id": ["c1", "c1"], "term": ["a", "b"],
                      "cost": [1.5, None], "spend": [1.5, None]})
    pq.write_table(spend, tmp_path / "spend.parquet")
    assert read_paths([tmp_path / "spend.parquet"]).frame["cost"].iloc[0] == 1.5
    pq.write_table(spend.set_column(3, "spend", pa.array([1.5, 2.0])),
                   tmp_path / "spend2.parquet")
    assert read_error(tmp_path / "spend2.parquet").startswith(
        "spend2.parquet, line 2: columns 3 'cost' and 4 'spend' both hold the cost but "
        "differ here (nan and 2.0)")
    # a search terms report's Keyword is the keyword the search term matched: left alone
    report = tmp_path / "st.csv"
    report.write_bytes(ST_REPORT.encode("utf-16"))
    assert read_paths([report]).frame["term"].tolist() == ["sony camera price"] * 2
    levels = write(tmp_path / "levels.csv",
                   "Account name,Customer name,Campaign ID,Campaign name,Campaign,Keyword\n"
                   "Acme Shoes,Acme Holdings,c1,Shoes,Shoes - US,red shoes\n")
    frame = read_paths([levels]).frame
    assert frame[["account", "campaign_id", "campaign_name"]].iloc[0].tolist() == [
        "Acme Shoes", "c1", "Shoes"]


def test_parquet_with_two_equal_column_names_is_refused_naming_them(tmp_path: Path) -> None:
    """Arrow's dataset reader failed first, with its internals ("Multiple matches for
    FieldRef.Name(clicks) in … __fragment_index: int32 …")."""
    cells = [pa.array(["c1"]), pa.array(["shoes"]), pa.array([2]), pa.array([3])]
    pq.write_table(pa.table(cells, names=["campaign", "keyword", "clicks", "clicks"]),
                   tmp_path / "twice.parquet")
    message = read_error(tmp_path / "twice.parquet")
    assert message.startswith("twice.parquet:"), message
    assert "columns 3 'clicks' and 4 'clicks' have the same name" in message
    assert "FieldRef" not in message and "__" not in message
    pq.write_table(pa.table(cells, names=["campaign", "keyword", "note", "note"]),
                   tmp_path / "notes.parquet")  # a name no column is read from: left alone
    assert read_paths([tmp_path / "notes.parquet"]).frame["term"].tolist() == ["shoes"]


def test_repeated_ignored_columns_are_still_read(tmp_path: Path) -> None:
    """A name no canonical column uses loses nothing by repeating; it is not refused."""
    path = tmp_path / "notes.csv"
    path.write_text("Campaign,Keyword,Note,Note\nc1,shoes,a,b\n")
    assert read_paths([path]).frame["term"].tolist() == ["shoes"]


def test_a_file_is_read_without_being_held_twice(tmp_path: Path) -> None:
    """`read_limited` reads a regular file in one go when it is as big as `fstat` says: read
    a megabyte at a time and joined, the pieces and the joined bytes were held together at
    the end, twice the file (266 MB of a 133 MB CSV's import)."""
    import tracemalloc

    from core.data import files

    path = tmp_path / "big.csv"
    path.write_bytes(b"Keyword,Campaign ID\n" + b"kw,C1\n" * 1_500_000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        data = files.read_limited(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == path.read_bytes()
    assert peak < 1.3 * size, f"peak {peak / size:.2f}x the file"
