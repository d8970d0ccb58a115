"""Readers: every input format and encoding into the canonical term rows, and every kind
of bad input refused with a message naming the file, line and column."""

from __future__ import annotations

import codecs
import csv
import gc
import io
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.readers import ReadResult, read_bytes, read_paths, strip_match_decoration
from core.data.schema import TERM_COLUMNS
from core.errors import InputError
from tests.conftest import SONY, shared_data

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SONY_FIXTURES = FIXTURES / "sony"

TERMS = ["東京 ホテル 予約", "格安 航空券", "勤怠管理 クラウド", "子供 見守り gps", "機械学習 入門",
         "cheap flights"]


def small_frame() -> pd.DataFrame:
    """Two campaigns, six rows, Japanese and English terms, every metric."""
    n = len(TERMS)
    return pd.DataFrame({
        "campaign_id": [f"c{i % 2}" for i in range(n)],
        "campaign_name": [f"キャンペーン {i % 2}" for i in range(n)],
        "term": TERMS,
        "impressions": [100 * (i + 1) for i in range(n)],
        "clicks": [i + 1 for i in range(n)],
        "cost": [12.5 * (i + 1) for i in range(n)],
        "conversions": [0.5 * i for i in range(n)],
    })


def csv_text(frame: pd.DataFrame, sep: str = ",") -> str:
    return frame.to_csv(index=False, sep=sep, lineterminator="\n")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def provenance_table(path: Path) -> dict[str, tuple[int, int, int]]:
    """file -> (keyword rows, clicks, impressions), parsed from a PROVENANCE.md table."""
    table = {}
    row = re.compile(r"^\|\s*(\S+\.csv)\s*\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|")
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := row.match(line):
            table[match[1]] = tuple(int(v.replace(",", "")) for v in match.groups()[1:])
    return table


def assert_canonical(result: ReadResult) -> None:
    frame = result.frame
    assert list(frame.columns) == list(TERM_COLUMNS)
    assert str(frame["impressions"].dtype) == "Int64"
    assert str(frame["clicks"].dtype) == "Int64"
    assert frame["cost"].dtype == np.float64
    assert frame["conversions"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(frame["date"].dtype)
    assert frame["source_line"].dtype == np.int64
    for column in ("campaign_id", "term", "source_file"):
        assert frame[column].notna().all(), column


# --------------------------------------------------------------------------- formats


ENCODED_VARIANTS = {
    "utf8_comma": lambda t: t.encode("utf-8"),
    "utf8_bom": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "utf16le_bom": lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
    "utf16be_bom": lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    "shift_jis": lambda t: t.encode("shift_jis"),
}


@pytest.mark.parametrize("variant", sorted(ENCODED_VARIANTS))
def test_encodings_round_trip(tmp_path: Path, variant: str) -> None:
    frame = small_frame()
    path = tmp_path / f"{variant}.csv"
    path.write_bytes(ENCODED_VARIANTS[variant](csv_text(frame)))
    result = read_paths([path])
    assert_canonical(result)
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.frame["campaign_name"].tolist() == frame["campaign_name"].tolist()
    assert result.frame["clicks"].tolist() == frame["clicks"].tolist()
    assert result.frame["cost"].tolist() == frame["cost"].tolist()
    assert result.frame["source_line"].tolist() == list(range(2, len(frame) + 2))
    if variant == "shift_jis":
        assert len(result.warnings) == 1
        assert re.search(r"shift_jis|cp932", result.warnings[0], re.IGNORECASE)
        assert result.warnings[0].startswith("shift_jis.csv:")
    else:
        assert result.warnings == []


@pytest.mark.parametrize("order", ["utf-16-be", "utf-16-le"])
@pytest.mark.parametrize("choice", [None, "utf-16"])
def test_utf16_without_a_byte_order_mark_is_read_in_its_byte_order(
        tmp_path: Path, order: str, choice: str | None) -> None:
    """Big-endian UTF-16 without a mark was read as garbage with `--encoding utf-16`
    (Python's codec assumes little-endian), and both byte orders refused without it."""
    from core.data import encodings

    frame = small_frame()
    path = tmp_path / "nobom.csv"
    path.write_bytes(csv_text(frame).encode(order))
    result = read_paths([path], encoding=choice)
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.frame["campaign_name"].tolist() == frame["campaign_name"].tolist()
    shown = order.replace("utf-16-", "UTF-16 ").upper()
    assert [w for w in result.warnings if shown in w and "byte-order mark" in w], result.warnings
    keywords = "red shoes\ncafé crème\n".encode(order)   # `fingerprint --file`'s reading
    assert encodings.decode(keywords, "kw.txt", choice)[0] == "red shoes\ncafé crème\n"


@pytest.mark.parametrize("choice", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_choice_for_utf8_bytes_is_refused_naming_utf8(
        tmp_path: Path, choice: str) -> None:
    """`--encoding utf-16` on a UTF-8 file read two bytes as one CJK-looking character:
    silently for a keyword list (`fingerprint --file`), as "no term column '慃灭楡…'" for
    a CSV."""
    from core.data import encodings

    path = write(tmp_path / "plain.csv", csv_text(small_frame()), "utf-8")
    assert error_of(path, encoding=choice) == (
        f"plain.csv: is not {choice} text: it has no zero bytes, which every comma, digit and "
        f"line end of {choice} text has; its bytes read as UTF-8: choose utf-8 (or let the "
        "encoding be detected)")
    with pytest.raises(InputError, match=f"kw.txt: is not {choice} text"):
        encodings.decode("red shoes\ncafé crème\n".encode(), "kw.txt", choice)


@pytest.mark.parametrize(("choice", "read"), [("cp932", "cafﾃｩ"), ("cp1252", "cafÃ©"),
                                                ("euc_jp", "caf辿")])
def test_another_encoding_chosen_for_utf8_text_is_refused_naming_utf8(
        tmp_path: Path, choice: str, read: str) -> None:
    """`--encoding cp932` on a UTF-8 file imported 'café' as 'cafﾃｩ', silently; an ASCII
    file reads the same in every one of them and is still read."""
    frame = pd.DataFrame({"campaign_id": ["C1", "C2"], "term": ["plumber", "café crème"]})
    path = write(tmp_path / "accents.csv", csv_text(frame), "utf-8")
    message = error_of(path, encoding=choice)
    assert message.startswith(f"accents.csv: is UTF-8, not {choice}: read as {choice}, ")
    assert read in message and message.endswith("choose utf-8 (or let the encoding be "
                                                "detected)")
    ascii_only = frame.assign(term=["plumber", "cafe creme"])
    plain = write(tmp_path / "plain.csv", csv_text(ascii_only), "utf-8")
    assert read_paths([plain], encoding=choice).frame["term"].tolist() == ["plumber",
                                                                          "cafe creme"]


@pytest.mark.parametrize(("utf8", "legacy", "codec"), [
    ("café crème", "hôtel à paris", "cp1252"), ("東京 ホテル", "大阪 ホテル", "cp932"),
    ("東京 ホテル", "大阪 ホテル", "euc_jp")])  # no guess reads the euc_jp line beside these
def test_a_file_mixing_utf8_and_another_encoding_is_refused_naming_a_line_of_each(
        tmp_path: Path, utf8: str, legacy: str, codec: str) -> None:
    """Rows of a UTF-8 export pasted under a cp1252 or Shift-JIS one were read as 'cafÃ©
    crÃ¨me' or '譚ｱ莠ｬ' with only the usual "read as cp1252" warning."""
    path = tmp_path / "pasted.csv"
    path.write_bytes(f"Campaign,Keyword\nC1,{utf8}\n".encode() + f"C2,{legacy}\n".encode(codec))
    assert error_of(path) == (
        f"pasted.csv: mixes encodings: line 2 is UTF-8 ('C1,{utf8}') and line 3 is not"
        f"{'' if codec == 'euc_jp' else f' (it reads as {codec})'}, so one of them would be "
        "garbled; save the file in one encoding, or choose one with --encoding (or Encoding "
        "on the Explore page)")
    if codec != "euc_jp":  # whose decoder refuses the UTF-8 line's bytes
        assert read_paths([path], encoding=codec).frame["term"].iloc[1] == legacy  # as named


def test_a_utf16_byte_order_choice_against_the_zero_bytes_is_refused(tmp_path: Path) -> None:
    """`--encoding utf-16-be` on little-endian bytes read 'a,' as '愀'."""
    path = tmp_path / "le.csv"
    path.write_bytes(csv_text(small_frame()).encode("utf-16-le"))
    assert error_of(path, encoding="utf-16-be") == (
        "le.csv: is not utf-16-be text: its zero bytes sit where utf-16-le puts them; choose "
        "utf-16-le (or utf-16, which finds the byte order)")
    assert read_paths([path], encoding="utf-16-le").frame["term"].tolist() == \
        small_frame()["term"].tolist()


def test_utf32_without_a_byte_order_mark_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nobom32.csv"
    path.write_bytes(csv_text(small_frame()).encode("utf-32-be"))
    assert "UTF-32 without a byte-order mark" in error_of(path)


def test_cp1252_is_guessed_and_named(tmp_path: Path) -> None:
    words = ["café crème", "naïve résumé", "pâtisserie française", "hôtel à paris",
             "réservation de vol", "voiture d'occasion", "chaussures élégantes",
             "école de cuisine", "forêt noire gâteau", "garçon de café"]
    frame = pd.DataFrame({"campaign_id": ["fr"] * len(words), "term": words})
    path = write(tmp_path / "latin.csv", csv_text(frame), "cp1252")
    result = read_paths([path])
    assert result.frame["term"].tolist() == words
    assert "cp1252" in result.warnings[0]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, sep: str) -> None:
    frame = small_frame()
    frame.loc[0, "term"] = "tokyo, hotel; cheap | now"  # quoted: holds every delimiter
    result = read_paths([write(tmp_path / "d.txt", csv_text(frame, sep))])
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.frame["impressions"].tolist() == frame["impressions"].tolist()
    assert result.format_by_file["d.txt"] == ("tsv" if sep == "\t" else "csv")


@pytest.mark.parametrize("sep, other", [(";", ","), ("|", ","), ("\t", ";"), (";", "\t")])
def test_a_delimiter_inside_a_column_name_does_not_win(tmp_path: Path, sep: str,
                                                        other: str) -> None:
    """"Keyword;Campaign,Name" is two fields by comma and by semicolon: the comma, tried
    first, won on the header alone and "shoes;C1" was one field ("no term column").
    The delimiter must also fit the rows."""
    text = f"Keyword{sep}Campaign{other}ID\nshoes{sep}C1\n\n boots {sep}C2{sep}\n"
    result = read_paths([write(tmp_path / "d.csv", text)])
    assert result.frame["term"].tolist() == ["shoes", "boots"]
    assert result.frame["campaign_id"].tolist() == ["C1", "C2"]
    assert result.frame["source_line"].tolist() == [2, 4]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_header_cell_with_a_line_break_is_read(tmp_path: Path, sep: str) -> None:
    """A header cell "Key<Alt+Enter>word" (Excel writes it quoted, over two lines) was
    sniffed up to the break, so with no delimiter: "the header row cannot be parsed"."""
    text = f'"Key\r\nword"{sep}"Campaign\nID"\r\nshoes{sep}C1\r\nboots{sep}C2\r\n'
    result = read_paths([write(tmp_path / "h.csv", text)])
    assert result.frame["term"].tolist() == ["shoes", "boots"]
    assert result.frame["campaign_id"].tolist() == ["C1", "C2"]
    assert result.frame["source_line"].tolist() == [4, 5]


def test_a_long_quoted_cell_in_the_sampled_rows_does_not_hide_the_delimiter(
        tmp_path: Path) -> None:
    """A quoted keyword of 40 lines was cut where the delimiter's sample of rows ends, so
    its row looked ragged by semicolon, and the comma of "Campaign,ID" won again."""
    long = "\n".join(f"line {i}" for i in range(40))
    text = f'Keyword;Campaign,ID\nshoes;C1\n"{long}";C2\nboots;C3\n'
    result = read_paths([write(tmp_path / "long.csv", text)])
    assert result.frame["campaign_id"].tolist() == ["C1", "C2", "C3"]
    assert result.frame["source_line"].tolist() == [2, 3, 43]


def test_a_ragged_file_is_still_refused_at_its_ragged_row(tmp_path: Path) -> None:
    """When no delimiter fits every row, the header decides and the ragged row is named."""
    text = "Keyword,Campaign ID\nshoes,C1\nboots,C2,extra\n"
    with pytest.raises(InputError, match=r"line 3: row has 3 fields but the header"):
        read_paths([write(tmp_path / "r.csv", text)])


@pytest.mark.parametrize("hint", ["sep=;", '"sep=;"', "SEP=;"])
def test_excels_sep_line_names_the_delimiter(tmp_path: Path, hint: str) -> None:
    """A first line "sep=;" (written for Excel) was taken for the header: "no term
    column. Columns found: 'sep=', ''"."""
    frame = small_frame()
    frame.loc[0, "term"] = "tokyo, hotel"   # a comma inside: only the hint says ";"
    path = write(tmp_path / "hinted.csv", f"{hint}\n" + csv_text(frame, ";"))
    result = read_paths([path])
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.frame["source_line"].tolist() == list(range(3, len(frame) + 3))


def test_a_sep_line_naming_the_wrong_delimiter_is_named_in_the_refusal(tmp_path: Path) -> None:
    """"sep=;" above a comma file: "no term column. Columns found: 'Keyword,Campaign'" left
    the user to guess why the header was one column."""
    path = write(tmp_path / "s.csv", "sep=;\nKeyword,Campaign\nshoes,C1\n")
    with pytest.raises(InputError, match=r"line 2: no term column\. Columns found: "
                                         r"'Keyword,Campaign' \(split by semicolon, as the line "
                                         r"'sep=;' before it says"):
        read_paths([path])


@pytest.mark.parametrize("end", ["\n\x1a", "\r\n\x1a", "\x1a", "\n\x1a\x1a"])
def test_a_dos_end_of_file_mark_is_no_row(tmp_path: Path, end: str) -> None:
    """Old DOS/Windows tools end a text file with Ctrl-Z (U+001A): refused as a ragged
    last row ("row has 1 fields"), or removed from the last keyword with a warning."""
    frame = small_frame()
    path = tmp_path / "dos.csv"
    path.write_bytes((csv_text(frame).rstrip("\n") + end).encode("utf-8"))
    result = read_paths([path])
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.warnings == []
    # anywhere but at the very end it is a character of a cell, as before
    frame.loc[5, "term"] = "roof\x1a"
    path.write_bytes(csv_text(frame).encode("utf-8"))
    inside = read_paths([path])
    assert inside.frame["term"].iloc[5] == "roof" and "U+001A" in inside.warnings[0]


def test_parquet_is_recognised_by_magic_bytes(tmp_path: Path) -> None:
    frame = small_frame()
    frame["date"] = pd.to_datetime(["2024-05-01"] * len(frame)).date  # Parquet date32
    frame["campaign_id"] = pd.array([17, 17, 18, 18, 19, 19], dtype="Int64")
    path = tmp_path / "export.bin"
    frame.to_parquet(path)
    result = read_paths([path])
    assert_canonical(result)
    assert result.format_by_file == {"export.bin": "parquet"}
    assert result.frame["campaign_id"].tolist() == ["17", "17", "18", "18", "19", "19"]
    assert result.frame["term"].tolist() == frame["term"].tolist()
    assert result.frame["conversions"].tolist() == frame["conversions"].tolist()
    assert result.frame["source_line"].tolist() == list(range(1, len(frame) + 1))
    assert (result.frame["date"] == pd.Timestamp("2024-05-01")).all()


def test_demo_corpus_columns_keep_every_value(tmp_path: Path) -> None:
    demo = pd.DataFrame({
        "campaign_id": ["T-001", "T-001", "F-002"],
        "campaign_name": ["Travel deals", "Travel deals", "Fitness gear"],
        "account": ["acme", "acme", "fitco"],
        "ad_group": ["flights", "hotels", "shoes"],
        "term": ["cheap flights", "hotel  deals ", "running shoes"],
        "term_type": ["keyword", "search_term", "keyword"],
        "match_type": ["exact", "phrase", "broad"],
        "impressions": [1000, 500, 300],
        "clicks": [50, 20, 9],
        "cost": [40.25, 12.0, 8.5],
        "conversions": [2.0, 0.0, 1.0],
        "vertical": ["travel", "travel", "fitness"],
    })
    result = read_paths([write(tmp_path / "demo.csv", csv_text(demo))])
    frame = result.frame
    assert result.warnings == []
    for column in ("campaign_id", "campaign_name", "account", "ad_group", "term_type",
                   "match_type", "impressions", "clicks", "cost", "conversions"):
        assert frame[column].tolist() == demo[column].tolist(), column
    assert frame["label"].tolist() == demo["vertical"].tolist()
    assert frame["term"].tolist() == ["cheap flights", "hotel deals", "running shoes"]
    assert frame["date"].isna().all()


def test_column_aliases_are_matched_loosely(tmp_path: Path) -> None:
    text = ("Campaign ID;Campaign;Search Query;Impr.;Spend;Conv.;Day;Category;Ad Group;Advertiser\n"
            "17;Spring sale;red shoes;\"1,340\";¥2,500;1.5;2024-05-02;retail;g1;acme\n")
    frame = read_paths([write(tmp_path / "aliases.csv", text)]).frame
    row = frame.iloc[0]
    assert (row["campaign_id"], row["campaign_name"], row["term"]) == ("17", "Spring sale",
                                                                      "red shoes")
    assert (row["impressions"], row["cost"], row["conversions"]) == (1340, 2500.0, 1.5)
    assert row["date"] == pd.Timestamp("2024-05-02")
    assert (row["label"], row["ad_group"], row["account"]) == ("retail", "g1", "acme")
    assert row["term_type"] == "search_term"  # said by the "Search Query" column name
    assert pd.isna(row["clicks"])


def test_lone_campaign_column_is_both_id_and_name(tmp_path: Path) -> None:
    text = "campaign,keywords\nSummer Sale,sandals\n"
    frame = read_paths([write(tmp_path / "c.csv", text)]).frame
    assert frame.loc[0, "campaign_id"] == frame.loc[0, "campaign_name"] == "Summer Sale"
    assert frame.loc[0, "term_type"] == "keyword"


def test_a_campaign_name_column_without_ids_tells_campaigns_apart(tmp_path: Path) -> None:
    """"Keyword,Campaign name" was one campaign named after the file ("no campaign
    column"), every row's campaign name dropped: the names are the ids, as a lone
    "Campaign" column's are; an empty one is refused as an empty id is."""
    text = "Keyword,Campaign name\nshoes, Spring Shoes\nboots,Winter Boots\n"
    result = read_paths([write(tmp_path / "cn.csv", text)])
    assert result.frame["campaign_id"].tolist() == ["Spring Shoes", "Winter Boots"]
    assert result.frame["campaign_name"].tolist() == ["Spring Shoes", "Winter Boots"]
    assert not [w for w in result.warnings if "no campaign column" in w]
    with pytest.raises(InputError, match=r"line 3, column 'Campaign name': the campaign is "
                                         "empty"):
        read_paths([write(tmp_path / "blank.csv", "Keyword,Campaign name\na,X\nb, \n")])


@pytest.mark.parametrize("shortened", ["1.23457E+10", "1E+11", "9,87654E+10"])
def test_a_campaign_id_excel_wrote_in_scientific_notation_is_refused(tmp_path: Path,
                                                                      shortened: str) -> None:
    """Excel saves a long id shown in a narrow column as "1.23457E+10": two campaigns
    12345678901 and 12345700000 were imported as one. Ids such as "3E4" or "E+10" stay."""
    text = f'Campaign ID,Keyword\n12345678901,hats\n"{shortened}",shoes\n'
    with pytest.raises(InputError, match=rf"line 3, column 'Campaign ID': the campaign id "
                                         rf"'{re.escape(shortened)}' is a number in scientific"):
        read_paths([write(tmp_path / "x.csv", text)])
    kept = read_paths([write(tmp_path / "ok.csv", "Campaign ID,Keyword\n3E4,a\nE+10,b\n")])
    assert kept.frame["campaign_id"].tolist() == ["3E4", "E+10"]


def test_float_campaign_ids_are_read_whole_or_refused_when_digits_are_lost(
        tmp_path: Path) -> None:
    """A Parquet float id column (pandas writes one for an id column with a missing cell)
    gave 12345678901.0 the id "1.2345678901e+10", not the CSV's "12345678901", and ids of
    2**53 or more, whose last digits a float lost, merged unseen; a CSV id written so by
    Python ("1.2e+16") passed the Excel check, which looked for "E+" only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(ids: list) -> Path:
        path = tmp_path / "floats.parquet"
        pq.write_table(pa.table({"campaign_id": pa.array(ids, pa.float64()),
                                 "term": [f"t{i}" for i in range(len(ids))]}), path)
        return path

    read = read_paths([parquet([12345678901.0, 7.0, 1.5])]).frame
    assert read["campaign_id"].tolist() == ["12345678901", "7", "1.5"]
    assert error_of(parquet([1.0, 123456789012345678.0])) == (
        "floats.parquet, line 2, column 'campaign_id': the campaign id 1.2345678901234568e+17 "
        "is a float too large to hold every digit (2**53 or more): its last digits are lost, "
        "so campaigns would merge; store the ids as integers or text")
    path = write(tmp_path / "py.csv", "Campaign ID,Keyword\n12345678901,a\n1.2e+16,b\n3e4,c\n")
    assert error_of(path) == (
        "py.csv, line 3, column 'Campaign ID': the campaign id '1.2e+16' is a number in "
        "scientific notation, as a program writes a float id: its last digits are lost, so "
        "campaigns would merge; write the ids as integers or text")
    kept = read_paths([write(path, "Campaign ID,Keyword\n3e4,a\n3E4,b\n")]).frame
    assert kept["campaign_id"].tolist() == ["3e4", "3E4"]
    # CampaignModel.fit gives a frame's float ids the text an import gives them
    from core.model.campaign_model import _id_texts

    fitted = _id_texts(pd.Series([12345678901.0, None, 7.0], index=[5, 6, 7]))
    assert fitted.tolist()[::2] == ["12345678901", "7"] and fitted.index.tolist() == [5, 6, 7]


@pytest.mark.parametrize("clicks", [True, False])
def test_a_repeated_header_row_is_dropped_with_a_warning(tmp_path: Path, clicks: bool) -> None:
    """Two exports joined with `cat` repeat the header mid-file: it was the term "Keyword"
    of a campaign "Campaign ID", or refused as "'Clicks' is not a number"."""
    header = "Keyword,Campaign ID" + (",Clicks" if clicks else "")
    cells = (",3", ",4") if clicks else ("", "")
    text = f"{header}\nshoes,C1{cells[0]}\n{header}\nboots,C2{cells[1]}\n"
    result = read_paths([write(tmp_path / "joined.csv", text)])
    assert result.frame["term"].tolist() == ["shoes", "boots"]
    assert result.frame["source_line"].tolist() == [2, 4]
    assert "joined.csv: 1 row repeating the header (line 1) dropped (line 3)" in \
        result.warnings[0]


def test_counts_in_reader_warnings_agree_and_have_thousands_separators(tmp_path: Path) -> None:
    """The warnings spelled their plurals by hand and printed the counts bare ("1000
    duplicate rows dropped"), where every other count has its separators: now
    `core.errors.counted` writes them."""
    rows = "".join(f"shoes {i},C1\n" for i in range(1000))
    text = "Keyword,Campaign ID\n" + rows + rows + "Keyword,Campaign ID\nboots,C2\n" * 1000
    result = read_paths([write(tmp_path / "big.csv", text)])
    assert result.warnings[0].startswith("big.csv: 1,000 rows repeating the header (line 1) "
                                         "dropped (lines 2002, 2004, ")
    assert result.warnings[1].startswith("big.csv: 1,999 duplicate rows dropped, identical in "
                                         "every column to an earlier one (lines 1002, 1003, ")


def test_a_keyword_named_like_the_term_column_is_kept(tmp_path: Path) -> None:
    """Only a row repeating the whole header is dropped: the keyword "Keyword" of a
    campaign is a term (the check looks the header's term up in the term column first),
    and a file of a header and its repeat has no data rows."""
    text = "Keyword,Campaign ID\nKeyword,C1\nKeyword,Campaign ID\nshoes,C2\n"
    result = read_paths([write(tmp_path / "kept.csv", text)])
    assert result.frame["term"].tolist() == ["Keyword", "shoes"]
    assert result.frame["source_line"].tolist() == [2, 4]
    with pytest.raises(InputError, match="a header but no data rows"):
        read_paths([write(tmp_path / "only.csv", "Keyword,Campaign ID\nKeyword,Campaign ID\n")])


def test_file_without_campaign_column_is_one_campaign(tmp_path: Path) -> None:
    text = 'keyword,clicks\n[blue shoes],3\n"""red shoes""",4\n+green +shoes,5\n'
    result = read_paths([write(tmp_path / "shoes_brand.csv", text)])
    frame = result.frame
    assert set(frame["campaign_id"]) == set(frame["campaign_name"]) == {"shoes_brand"}
    assert frame["term"].tolist() == ["blue shoes", "red shoes", "green shoes"]
    assert frame["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert "shoes_brand" in result.warnings[0] and "no campaign column" in result.warnings[0]


def test_two_term_columns_say_which_one_is_read(tmp_path: Path) -> None:
    """`Keyword,Keywords` reads the first accepted name, as documented, but said nothing:
    the user could not tell whose terms were imported. A search term's matched keyword
    ("Search term" beside "Keyword") is another thing, and gets no such warning."""
    text = "Campaign ID,Keywords,Keyword\nC1,red shoes,shoes\n"
    result = read_paths([write(tmp_path / "kk.csv", text)])
    assert result.frame["term"].tolist() == ["shoes"]
    told = [w for w in result.warnings if "terms are read from" in w]
    assert told == ["kk.csv: terms are read from column 3 'Keyword', the first accepted name "
                    "of the term column; column 2 'Keywords' also names it and is not "
                    "imported: rename or remove the one whose terms you do not want"]
    report = read_paths([write(tmp_path / "st.csv", "Search term,Keyword,Campaign ID\n"
                                                    "red shoes,shoes,C1\n")])
    assert report.frame["term"].tolist() == ["red shoes"]
    assert not [w for w in report.warnings if "terms are read from" in w]


def test_single_column_keyword_list_keeps_commas(tmp_path: Path) -> None:
    result = read_paths([write(tmp_path / "list.txt", "keyword\nshoes, cheap\nboots\n")])
    assert result.frame["term"].tolist() == ["shoes, cheap", "boots"]


@pytest.mark.parametrize(("written", "term", "match"), [
    ("[akashi]", "akashi", "exact"),
    ("[ a   b ]", "a b", "exact"),
    ('"phrase  match"', "phrase match", "phrase"),
    (" +broad  +modifier", "broad modifier", "broad"),
    ("+素人 +ai +作る", "素人 ai 作る", "broad"),
    ("c++ code", "c++ code", None),
    ("plain\u3000term", "plain term", None),
])
def test_strip_match_decoration(written: str, term: str, match: str | None) -> None:
    assert strip_match_decoration(written) == (term, match)


def test_quoted_newlines_and_crlf_keep_editor_line_numbers(tmp_path: Path) -> None:
    text = ('campaign_id,term,clicks\r\n'
            'c1,"two\r\nline term",1\r\n'
            '\r\n'
            'c1,after,2\r\n')
    frame = read_paths([write(tmp_path / "multi.csv", text)]).frame
    assert frame["source_line"].tolist() == [2, 5]
    assert frame["term"].tolist() == ["two line term", "after"]


def test_several_paths_become_one_frame(tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", csv_text(small_frame()))
    second = tmp_path / "b.parquet"
    small_frame().to_parquet(second)
    result = read_paths([first, second, SONY_FIXTURES / "amuelind_brand.csv"])
    assert_canonical(result)
    assert result.files == ["a.csv", "b.parquet", "amuelind_brand.csv"]
    assert result.frame.groupby("source_file", sort=False).size().to_dict() == {
        "a.csv": 6, "b.parquet": 6, "amuelind_brand.csv": 6}
    assert result.format_by_file["amuelind_brand.csv"] == "google_ads_keyword_report"


def test_folder_reads_its_supported_files_sorted(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "b.csv", csv_text(small_frame()))
    small_frame().to_parquet(folder / "a.parquet")
    write(folder / "notes.md", "# not data\n")
    write(folder / ".hidden.csv", "junk")
    result = read_paths([folder])
    assert result.files == ["a.parquet", "b.csv"]
    assert result.format_by_file == {"a.parquet": "parquet", "b.csv": "csv"}
    assert len(result.frame) == 12


def test_display_names_replace_temp_file_names(tmp_path: Path) -> None:
    temp = write(tmp_path / "tmpab12cd", "keyword,clicks\nshoes,3\nboots,abc\n")
    with pytest.raises(InputError) as err:
        read_paths([temp], names=["my upload.csv"])
    assert str(err.value).startswith("my upload.csv, line 3")
    good = write(tmp_path / "tmpzz99", "keyword\nshoes\n")
    frame = read_paths([good], names=["/browser/path/brand_2024.csv"]).frame
    assert frame.loc[0, "source_file"] == "brand_2024.csv"
    assert frame.loc[0, "campaign_id"] == "brand_2024"


def test_read_bytes_matches_read_paths(tmp_path: Path) -> None:
    path = SONY_FIXTURES / "PO_brand.csv"
    from_bytes = read_bytes(path.read_bytes(), "PO_brand.csv")
    from_path = read_paths([path])
    pd.testing.assert_frame_equal(from_bytes.frame, from_path.frame)
    assert from_bytes.format_by_file == from_path.format_by_file
    assert from_bytes.files == ["PO_brand.csv"]


def test_duplicate_rows_are_dropped_with_a_warning(tmp_path: Path) -> None:
    lines = ["campaign_id,term,clicks", "c1,a,1", "c1,b,2", "c1,a,1", "c1,a,2", "c1,b,2",
             "c1,[a],1"]
    result = read_paths([write(tmp_path / "dups.csv", "\n".join(lines) + "\n")])
    assert result.frame["source_line"].tolist() == [2, 3, 5, 7]
    assert result.warnings == ["dups.csv: 2 duplicate rows dropped, identical in every column "
                               "to an earlier one (lines 4, 6)"]


def search_terms_report() -> str:
    rows = [
        ["Search term", "Match type", "Added/Excluded", "Campaign", "Ad group", "Keyword",
         "Clicks", "Impr.", "CTR", "Cost", "Conversions"],
        ["kids gps watch", "Exact match (close variant)", "None", "Kids GPS", "Watches",
         "[kids gps]", "1,234", "12,000", "10.28%", "45,600", "3.00"],
        ["gps for children", "Phrase match", "None", "Kids GPS", "Watches", '"gps child"',
         "7", "90", "7.78%", "1,200", "0.00"],
        ["tracker app", "Broad match", "Added", "Trackers", "Apps", "tracker", "0", "15",
         " --", "0", " --"],
        ["Total: Search terms", "", "", "", "", "", "1,241", "12,105", "", "46,800", "3.00"],
        ["", "Total: Account", "", "", "", "", "1,300", "13,000", "", "50,000", "3.00"],
    ]
    out = io.StringIO()
    out.write("Search terms report\n\"June 3, 2024\"\n")
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows)
    return out.getvalue()


def test_google_ads_search_terms_report(tmp_path: Path) -> None:
    path = tmp_path / "st.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + search_terms_report().encode("utf-16-le"))
    result = read_paths([path])
    frame = result.frame
    assert_canonical(result)
    assert result.format_by_file == {"st.csv": "google_ads_search_terms_report"}
    assert result.warnings == []
    assert frame["term"].tolist() == ["kids gps watch", "gps for children", "tracker app"]
    assert set(frame["term_type"]) == {"search_term"}
    assert frame["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert frame["campaign_id"].tolist() == frame["campaign_name"].tolist() == [
        "Kids GPS", "Kids GPS", "Trackers"]
    assert frame["clicks"].tolist() == [1234, 7, 0]
    assert frame["cost"].tolist() == [45600.0, 1200.0, 0.0]
    assert frame["conversions"].isna().tolist() == [False, False, True]
    assert frame["source_line"].tolist() == [4, 5, 6]
    assert (frame["date"] == pd.Timestamp("2024-06-03")).all()


@pytest.mark.parametrize("odd", ["\u2028", "\x1c", "\x0b", "\x85"])
def test_a_title_line_holding_a_unicode_line_separator_is_one_line(tmp_path: Path,
                                                                    odd: str) -> None:
    """The preamble was split with `str.splitlines`, which also breaks at U+2028, U+001C,
    U+000B, U+0085 …, while the CSV reader breaks only at \\n and \\r: a title ending in
    one was two lines, so the file was refused as "has no header row"."""
    text = f"Search keyword report{odd}\nAll time\nKeyword,Campaign ID\nshoes,C1\n"
    result = read_paths([write(tmp_path / "title.csv", text)])
    assert result.format_by_file == {"title.csv": "google_ads_keyword_report"}
    assert result.frame[["term", "campaign_id", "source_line"]].values.tolist() == [
        ["shoes", "C1", 4]]


# --------------------------------------------------------------------------- real Sony exports


def reference_rows(path: Path) -> pd.DataFrame:
    """An independent pandas parse of a Google Ads export, totals dropped."""
    table = pd.read_csv(path, encoding="utf-16", sep="\t", skiprows=2, thousands=",",
                        dtype={"Keyword": str}, na_values=[" --"])
    return table[table["Keyword"].notna()].reset_index(drop=True)


def check_against_provenance(result: ReadResult, expected: dict[str, tuple[int, int, int]]
                             ) -> None:
    frame = result.frame
    got = frame.groupby("source_file").agg(rows=("term", "size"), clicks=("clicks", "sum"),
                                           impressions=("impressions", "sum"))
    for name, (rows, clicks, impressions) in expected.items():
        assert tuple(int(v) for v in got.loc[name]) == (rows, clicks, impressions), name
        assert result.format_by_file[name] == "google_ads_keyword_report"
    assert set(frame["campaign_id"]) == {Path(name).stem for name in expected}
    assert (frame["campaign_id"] == frame["source_file"].str.removesuffix(".csv")).all()
    assert frame["match_type"].isin(["exact", "phrase", "broad"]).all()
    assert set(frame["term_type"]) == {"keyword"}
    assert not frame["term"].str.contains(r'^[\["+]|[\]"]$|(?:^| )\+', regex=True).any()


def test_sony_fixtures_match_provenance_table() -> None:
    expected = provenance_table(SONY_FIXTURES / "PROVENANCE.md")
    assert len(expected) == 5
    result = read_paths([SONY_FIXTURES])
    assert_canonical(result)
    assert result.files == sorted(expected)
    check_against_provenance(result, expected)


@pytest.mark.parametrize("name", sorted(provenance_table(SONY_FIXTURES / "PROVENANCE.md")))
def test_sony_fixture_rows_match_an_independent_parse(name: str) -> None:
    path = SONY_FIXTURES / name
    frame = read_paths([path]).frame
    reference = reference_rows(path)
    assert len(frame) == len(reference)
    assert frame["source_line"].tolist() == list(range(4, 4 + len(reference)))
    assert frame["cost"].tolist() == reference["Cost"].astype(float).tolist()
    assert frame["conversions"].tolist() == reference["Conversions"].astype(float).tolist()
    assert frame["impressions"].tolist() == reference["Impr."].astype(int).tolist()
    bare = (reference["Keyword"].str.strip().str.replace(r'^\[(.*)\]$|^"(.*)"$', r"\1\2",
                                                         regex=True)
            .str.replace(r"(?:^|(?<= ))\+", "", regex=True).str.split().str.join(" "))
    assert frame["term"].tolist() == bare.tolist()
    match_column = reference["Match type"].str.split().str[0].str.lower()
    assert frame["match_type"].tolist() == match_column.tolist()


def test_sony_akashi_exact_row() -> None:
    frame = read_paths([SONY_FIXTURES / "akashi_brand.csv"]).frame
    rows = frame[(frame["term"] == "akashi") & (frame["match_type"] == "exact")]
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["clicks"], row["impressions"], row["cost"], row["conversions"]) == (
        5950, 29733, 2418495.0, 110.5)
    assert (row["campaign_id"], row["campaign_name"]) == ("akashi_brand", "akashi_brand")
    assert row["source_line"] == 6
    assert pd.isna(row["date"]) and pd.isna(row["ad_group"])


def test_sony_akashi_nonbrand_ad_groups() -> None:
    text = (SONY_FIXTURES / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = re.search(r"akashi_nonbrand.csv ad groups: (.*)", text)[1]
    expected = {g: int(n) for g, n in re.findall(r"(\S+) (\d+)", listed)}
    frame = read_paths([SONY_FIXTURES / "akashi_nonbrand.csv"]).frame
    assert frame["ad_group"].value_counts().to_dict() == expected


def test_sony_po_brand_range_leaves_date_empty() -> None:
    frame = read_paths([SONY_FIXTURES / "PO_brand.csv"]).frame
    assert frame["date"].isna().all()
    assert frame.loc[0, "term"] == "predictionone"
    assert set(frame["match_type"]) >= {"exact", "phrase"}


def test_all_sixteen_sony_exports_match_provenance() -> None:
    folder = shared_data(SONY)
    expected = provenance_table(folder.parent / "PROVENANCE.md")
    assert len(expected) == 16
    result = read_paths([folder])
    assert_canonical(result)
    assert len(result.files) == 16
    check_against_provenance(result, expected)
    assert len(result.frame) == sum(rows for rows, _, _ in expected.values())
    assert not any("duplicate" in w for w in result.warnings)


# --------------------------------------------------------------------------- bad input


def error_of(path_or_paths, **kwargs) -> str:
    paths = path_or_paths if isinstance(path_or_paths, list) else [path_or_paths]
    with pytest.raises(InputError) as err:
        read_paths(paths, **kwargs)
    return str(err.value)


def test_missing_path(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.csv")
    assert "nope.csv" in message and "no such file" in message


def test_empty_file(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "empty.csv", ""))
    assert message.startswith("empty.csv:") and "empty (0 bytes)" in message


def test_header_only(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "h.csv", "campaign_id,term,clicks\n"))
    assert message.startswith("h.csv, line 1:") and "no data rows" in message


def test_google_ads_totals_only(tmp_path: Path) -> None:
    text = ("Search keyword report\nAll time\nKeyword\tMatch type\tClicks\n"
            "\tTotal: Account\t5\n")
    message = error_of(write(tmp_path / "t.csv", text))
    assert message.startswith("t.csv, line 3:") and "only totals rows" in message


def test_no_term_column_lists_columns_and_accepted_names(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "nt.csv", "campaign_id,clicks,words\nc1,3,x\n"))
    assert message.startswith("nt.csv, line 1:")
    assert "'campaign_id', 'clicks', 'words'" in message
    assert "'search term'" in message and "'keyword'" in message


def test_no_term_column_in_parquet(tmp_path: Path) -> None:
    pd.DataFrame({"campaign": ["c"], "clicks": [1]}).to_parquet(tmp_path / "p.parquet")
    message = error_of(tmp_path / "p.parquet")
    assert message.startswith("p.parquet:") and "'campaign', 'clicks'" in message


def test_parquet_binary_and_nested_text_columns(tmp_path: Path) -> None:
    """Strings written as Parquet BINARY (older Hive and Spark) with one cell that is not
    UTF-8 became the Python repr of every cell (`b'C1'`); a list of keywords in the term
    column became one term "'a', 'b'", a struct a campaign id "{'a': 1}". Valid binary
    text reads as text; the others are refused naming the column (and line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(name: str, **columns) -> Path:
        pq.write_table(pa.table(columns), tmp_path / name)
        return tmp_path / name

    ok = parquet("bin.parquet", campaign_id=pa.array([b"C1", b"C2"], pa.binary()),
                 term=pa.array(["東京 ホテル".encode(), b"cheap flights"], pa.large_binary()))
    frame = read_paths([ok]).frame
    assert frame["campaign_id"].tolist() == ["C1", "C2"]
    assert frame["term"].tolist() == ["東京 ホテル", "cheap flights"]
    bad = parquet("latin.parquet", campaign_id=pa.array([b"C1", b"caf\xe9"], pa.binary()),
                  term=["a", "b"])
    assert error_of(bad) == ("latin.parquet, line 2, column 'campaign_id': b'caf\\xe9' is not "
                             "UTF-8 text")
    listed = parquet("list.parquet", campaign_id=["C1", "C2"], term=[["a", "b"], ["c"]])
    assert error_of(listed).startswith("list.parquet, column 'term': holds list<")
    assert "not one value per cell" in error_of(parquet(
        "struct.parquet", campaign_id=[{"a": 1}, {"a": 2}], term=["a", "b"]))


def test_a_parquet_campaign_id_column_of_booleans_is_refused(tmp_path: Path) -> None:
    """A bool id column read as the two campaigns "true" and "false"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "flags.parquet"
    pq.write_table(pa.table({"campaign_id": [True, False, True], "term": ["a", "b", "c"]}), path)
    assert error_of(path) == ("flags.parquet, column 'campaign_id': holds true/false values, "
                              "not campaign ids: export the ids as a text or number column")


@pytest.mark.parametrize(("days", "kind", "shown"), [
    (-999_999, "date32", "-768-02-05"), (3_000_000, "date32", "10183-09-21"),
    (2**31 - 1, "date32", "5881580-07-11"), (2**40, "timestamp[s]", "36812-02-20"),
    (2**50, "date64", "37648-05-06")])
def test_a_parquet_date_out_of_the_years_a_csv_date_may_have_is_refused(
        tmp_path: Path, days: int, kind: str, shown: str) -> None:
    """A CSV date is read from year 1 to 9999; as Parquet year -768 and 10183 were stored,
    and a date past year 294,247 was an Arrow "out of bounds" traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"date32": (pa.int32(), pa.date32()), "date64": (pa.int64(), pa.date64()),
             "timestamp[s]": (pa.int64(), pa.timestamp("s", tz="UTC"))}
    whole, typed = types[kind]
    path = tmp_path / "far.parquet"
    pq.write_table(pa.table({"campaign_id": ["C1", "C2"], "term": ["a", "b"],
                             "date": pa.array([0, days], whole).cast(typed)}), path)
    assert error_of(path) == (f"far.parquet, line 2, column 'date': {shown} is not a date "
                              "from 0001-01-01 to 9999-12-31")


def test_an_excel_serial_date_is_refused_naming_the_likely_cause(tmp_path: Path) -> None:
    """A day Excel saved as its serial number ("45413", a date column formatted as General)
    was refused as "not a date" alone; the message now says what it likely is and which
    day it would be, in CSV and in an integer Parquet column. Not read: Excel for Mac may
    count from 1904. A cell that is no serial ("2024-13-45") gets no such note."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    note = ("is not a date; it looks like a day Excel saved as a number (serial 45413 is "
            "2024-05-01 counted from 1900): format the column as a date (yyyy-mm-dd)")
    path = write(tmp_path / "serial.csv", "campaign_id,term,Day\nC1,a,2024-05-01\nC2,b,45413\n")
    assert error_of(path).startswith(f"serial.csv, line 3, column 'Day': '45413' {note}")
    pq.write_table(pa.table({"campaign_id": ["C1"], "term": ["a"],
                             "date": pa.array([45413], pa.int64())}), tmp_path / "serial.parquet")
    assert error_of(tmp_path / "serial.parquet").startswith(
        f"serial.parquet, line 1, column 'date': '45413' {note}")
    write(path, "campaign_id,term,date\nC1,a,2024-13-45\n")
    assert error_of(path) == "serial.csv, line 2, column 'date': '2024-13-45' is not a date"


def test_days_written_as_numbers_are_read_in_one_order(tmp_path: Path) -> None:
    """Read cell by cell, "13/04/2024" was 13 April and "03/04/2024" in the same column
    4 March, and a German "01.05.2024" 5 January. The order a cell proves holds for the
    column; a column proving both is refused; where no cell tells, dots and translated
    headers mean day first, and otherwise month first is read with a warning."""
    def days(name: str, header: str, cells: list[str]) -> tuple[list[str], list[str]]:
        body = f"Keyword,Campaign,{header}\n" + "".join(f"k{i},C1,{c}\n"
                                                      for i, c in enumerate(cells))
        result = read_paths([write(tmp_path / name, body)])
        return result.frame["date"].dt.strftime("%Y-%m-%d").fillna("").tolist(), result.warnings

    assert days("uk.csv", "Date", ["03/04/2024", "13/04/2024 10:30"]) == (
        ["2024-04-03", "2024-04-13"], [])
    assert days("us.csv", "Day", ["03/04/2024", "04/13/2024"]) == (
        ["2024-03-04", "2024-04-13"], [])
    assert days("de.csv", "Datum", ["01.05.2024", "02-05-24"]) == (
        ["2024-05-01", "2024-05-02"], [])
    assert days("dots.csv", "Date", ["01.05.2024"]) == (["2024-05-01"], [])
    assert days("iso.csv", "Date", ["2024-05-01", "--"]) == (["2024-05-01", ""], [])
    assert days("unsure.csv", "Date", ["03/04/2024", "04/05/2024"]) == (
        ["2024-03-04", "2024-04-05"],
        ["unsure.csv: column 'Date': no day tells whether days such as '03/04/2024' are "
         "month first or day first; read month first (MM/DD/YYYY, as in the US). If they "
         "are day first, write them as YYYY-MM-DD and import the file again"])
    write(tmp_path / "both.csv", "Keyword,Campaign,Date\na,C1,13/04/2024\nb,C1,01/01/2024\n"
          "c,C1,04/13/2024\n")
    assert error_of(tmp_path / "both.csv") == (
        "both.csv, line 4, column 'Date': days are written both day first ('13/04/2024', "
        "line 2) and month first ('04/13/2024', line 4); write them as YYYY-MM-DD")


def test_csv_and_parquet_dates_have_the_same_years(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = write(tmp_path / "far.csv", "campaign_id,term,date\nC1,a,2024-05-01\nC2,b,-0768-01-01\n")
    assert error_of(path) == ("far.csv, line 3, column 'date': '-0768-01-01' is not a date "
                              "from 0001-01-01 to 9999-12-31")
    edges = [date(1, 1, 1), date(9999, 12, 31)]
    write(path, "campaign_id,term,date\nC1,a,0001-01-01\nC2,b,9999-12-31\n")
    pq.write_table(pa.table({"campaign_id": ["C1", "C2"], "term": ["a", "b"],
                             "date": pa.array(edges, pa.date32())}), tmp_path / "far.parquet")
    for source in (path, tmp_path / "far.parquet"):
        assert [d.date() for d in read_paths([source]).frame["date"]] == edges, source


@pytest.mark.parametrize("kind", ["timestamp[ms]", "date32[day]", "time64[us]",
                                  "duration[s]"])
def test_a_parquet_campaign_id_column_of_dates_or_times_is_refused(tmp_path: Path,
                                                                   kind: str) -> None:
    """A timestamp id column read as the campaigns "1970-01-01 00:00:01.000", …"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    typed = {"timestamp[ms]": pa.timestamp("ms"), "date32[day]": pa.date32(),
             "time64[us]": pa.time64("us"), "duration[s]": pa.duration("s")}[kind]
    ids = pa.array([1000, 2000], pa.int64() if kind != "date32[day]" else pa.int32())
    path = tmp_path / "timed.parquet"
    pq.write_table(pa.table({"campaign_id": ids.cast(typed), "term": ["a", "b"]}), path)
    assert error_of(path) == (f"timed.parquet, column 'campaign_id': holds {kind} values (dates "
                              "or times), not campaign ids: export the ids as a text or number "
                              "column")


@pytest.mark.parametrize("column", ["campaign_id", "term"])
def test_a_parquet_cell_longer_than_a_csv_field_is_refused(tmp_path: Path, column: str) -> None:
    """The same rows as CSV are refused past 128 KB a field; as Parquet a 200,000-character
    campaign id or term was imported, and shown in every picker and answer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cells = {"campaign_id": ["C1", "C2"], "term": ["a", "b"]}
    cells[column] = [cells[column][0], "x" * 200_000]
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table(cells), path)
    assert error_of(path) == (f"long.parquet, line 2, column '{column}': a cell of 200,000 "
                              "characters is longer than the 128 KB a field may hold; "
                              "shorten it")


@pytest.mark.parametrize("odd", [float("nan"), float("inf")])
def test_a_nan_or_infinite_parquet_campaign_id_is_refused(tmp_path: Path, odd: float) -> None:
    """A float id column's NaN (other tools than pandas write it, not null) or infinity
    became the campaign "nan" or "inf": every row without an id in one campaign."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"campaign_id": pa.array([7.0, odd, 8.0]),
                             "term": ["a", "b", "c"]}), path)
    assert error_of(path) == (f"floats.parquet, line 2, column 'campaign_id': {odd} is not a "
                              "campaign id: give every row its campaign's id")


def test_binary_junk_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    message = error_of(path)
    assert message.startswith("junk.csv:") and "not a text file" in message


def test_nul_bytes_in_utf8_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"campaign_id,term\nc1,shoes\x00\x00\n")
    assert "not a text file" in error_of(path)


def test_control_characters_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "ctl.csv"
    path.write_bytes(b"campaign_id,term\n" + bytes(range(1, 9)) * 40 + b"\n")
    assert "not a text file" in error_of(path)


def test_undecodable_text_after_a_bom_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"campaign_id,term\nc1,ok\nc1,bad \xff\xfe here\n")
    message = error_of(path)
    assert message.startswith("bad.csv, line 3:") and "UTF-8" in message


def test_an_excel_download_is_read_as_its_csv_is(tmp_path: Path) -> None:
    """Google Ads, Microsoft Advertising and Amazon Ads offer their reports as Excel
    downloads, which were refused ("save the sheet as CSV"). The first worksheet is read as
    the CSV download is: title and range lines, totals dropped, sheet row N named line N.
    Its numbers are typed cells: a cost of 1.234 stays 1.234 under German headers, where
    the CSV download's "1.234" is one thousand two hundred thirty-four."""
    from tests.workbook import xlsx

    report = [["Search keyword report"], ["May 1, 2024"],
              ["Keyword", "Campaign ID", "Klicks", "Kosten"],
              ["red shoes", "C1", 3, 1.234],
              ["blue\nshoes", 12345678901, 4, 2.5],    # a line break in a cell; an id typed
              [],
              ["green shoes", "C3", 0, 0],
              ["Total: Account", "", 7, 3.734]]
    path = tmp_path / "Search keyword report.xlsx"
    path.write_bytes(xlsx({"Report": report, "Notes": [["read me"]], "Empty": []}))
    result = read_paths([path])
    frame = result.frame
    assert frame["term"].tolist() == ["red shoes", "blue shoes", "green shoes"]
    assert frame["campaign_id"].tolist() == ["C1", "12345678901", "C3"]
    assert frame["cost"].tolist() == [1.234, 2.5, 0.0]
    assert frame["clicks"].tolist() == [3, 4, 0]
    assert frame["source_line"].tolist() == [4, 5, 7]
    assert set(frame["date"].dt.strftime("%Y-%m-%d")) == {"2024-05-01"}
    assert result.format_by_file == {path.name: "google_ads_keyword_report"}
    assert result.warnings == [f"{path.name}: worksheet 'Report' read; 1 other worksheet left "
                               "alone ('Notes'): save each as a file of its own to import it"]
    # a folder's workbooks are read with its CSV files
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.xlsx").write_bytes(xlsx({"S": [["Keyword", "Campaign"], ["tap", "C9"]]}))
    (folder / "b.csv").write_text("Keyword,Campaign\ndrain,C8\n")
    assert read_paths([folder]).frame["term"].tolist() == ["tap", "drain"]


def test_an_amazon_ads_bulk_file_gives_its_keyword_rows(tmp_path: Path) -> None:
    """An Amazon Ads bulk file (Excel, its default) opens on a Portfolios worksheet, which
    has no term column: the workbook was refused as "no term column". The first worksheet
    holding a table of terms is read, here Sponsored Products', and there its Keyword rows
    only (each row's kind is its "Entity"), with each row's campaign and ad group from the
    "(Informational only)" columns: "Campaign Name" is filled on the campaign's own row."""
    from tests.workbook import xlsx

    header = ["Product", "Entity", "Operation", "Campaign ID", "Ad Group ID", "Keyword ID",
              "Campaign Name", "Ad Group Name", "Campaign Name (Informational only)",
              "Ad Group Name (Informational only)", "State", "Bid", "Keyword Text",
              "Match Type", "Product Targeting Expression", "Impressions", "Clicks", "Spend",
              "Sales", "Orders"]

    def row(entity: str, **cells: object) -> list[object]:
        cells = {"Product": "Sponsored Products", "Entity": entity, "Campaign ID": "1001",
                 "Campaign Name (Informational only)": "SP - Drain", **cells}
        return [cells.get(column, "") for column in header]

    drains = {"Ad Group ID": "2001", "Ad Group Name (Informational only)": "Cleaners"}
    products = [header,
                row("Campaign", **{"Campaign Name": "SP - Drain"}),
                row("Bidding Adjustment"),
                row("Ad Group", **drains, **{"Ad Group Name": "Cleaners"}),
                row("Product Ad", **drains),
                row("Keyword", **drains, **{"Keyword Text": "drain cleaner gel",
                                            "Match Type": "exact", "Impressions": 120,
                                            "Clicks": 4, "Spend": 3.4, "Orders": 2}),
                row("Negative Keyword", **drains, **{"Keyword Text": "free",
                                                     "Match Type": "negativeExact"}),
                row("Campaign Negative Keyword", **{"Keyword Text": "plumber jobs",
                                                    "Match Type": "negativePhrase"}),
                row("Product Targeting", **drains,
                    **{"Product Targeting Expression": "close-match"}),
                row("Keyword", **drains, **{"Keyword Text": "hair clog remover",
                                            "Match Type": "broad", "Impressions": 80,
                                            "Clicks": 2, "Spend": 1.4})]
    portfolios = [["Product", "Entity", "Operation", "Portfolio ID", "Portfolio Name"],
                  ["Portfolios", "Portfolio", "", "9", "Home"]]
    search_terms = [["Campaign Name (Informational only)", "Customer Search Term"],
                    ["SP - Drain", "drain gel"]]
    path = tmp_path / "bulk-a1b2c3-20261130.xlsx"
    path.write_bytes(xlsx({"Portfolios": portfolios, "Sponsored Products Campaigns": products,
                           "SP Search Term Report": search_terms}))
    result = read_paths([path])
    frame = result.frame
    assert frame["term"].tolist() == ["drain cleaner gel", "hair clog remover"]
    assert frame["campaign_id"].tolist() == ["1001", "1001"]
    assert frame["campaign_name"].tolist() == ["SP - Drain", "SP - Drain"]
    assert frame["ad_group"].tolist() == ["Cleaners", "Cleaners"]
    assert frame["match_type"].tolist() == ["exact", "broad"]
    assert frame["term_type"].tolist() == ["keyword", "keyword"]
    assert frame["clicks"].tolist() == [4, 2]
    assert frame["cost"].tolist() == [3.4, 1.4]
    assert frame["conversions"].fillna(-1).tolist() == [2, -1]  # its "Orders"
    assert frame["source_line"].tolist() == [6, 10]  # the worksheet's rows
    assert result.format_by_file == {path.name: "amazon_ads_bulk"}
    assert result.warnings == [
        f"{path.name}: worksheet 'Sponsored Products Campaigns' read, the first holding a "
        "column of terms; 2 other worksheets left alone ('Portfolios', 'SP Search Term "
        "Report'): save each as a file of its own to import it",
        f"{path.name}: 5 rows without a keyword skipped: an Amazon Ads bulk file lists "
        "campaigns, ad groups, product ads, product targets and other settings on rows of "
        "their own",
        f"{path.name}: 2 negative keywords (type 'Negative Keyword', 'Campaign Negative "
        "Keyword') dropped: they say what a campaign excludes, not what it targets"]
    # automatic campaigns only (no keyword row): the next worksheet with keywords is read
    brands = [row[:] for row in products]
    brands[5][header.index("Keyword Text")] = "drain unblocker"
    automatic = [row for row in products if row[1] not in ("Keyword", "Negative Keyword")]
    path.write_bytes(xlsx({"Sponsored Products Campaigns": automatic,
                           "Sponsored Brands Campaigns": brands}))
    assert read_paths([path]).frame["term"].tolist() == ["drain unblocker", "hair clog remover"]
    path.write_bytes(xlsx({"Portfolios": portfolios, "Sponsored Products Campaigns": automatic}))
    assert error_of(path) == (
        f"{path.name}, worksheet 'Sponsored Products Campaigns', line 1: the file has no "
        "keyword rows, only campaign, ad group and other settings")
    # a refusal in that worksheet names it: its line N is the worksheet's row N
    products[5][header.index("Keyword Text")] = ""
    path.write_bytes(xlsx({"Portfolios": portfolios, "Sponsored Products Campaigns": products}))
    assert error_of(path).startswith(
        f"{path.name}, worksheet 'Sponsored Products Campaigns', line 6, column 'Keyword "
        "Text': ")
    # with no worksheet holding a term column, the first one's refusal says so
    path.write_bytes(xlsx({"Portfolios": portfolios, "Notes": [["read me", "later"]]}))
    assert error_of(path).startswith(
        f"{path.name}, line 1: no worksheet has a term column; the first, 'Portfolios': no "
        "term column. Columns found: 'Product', 'Entity', 'Operation', 'Portfolio ID', "
        "'Portfolio Name'.")


def test_a_workbook_that_cannot_be_read_is_refused_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Damaged, empty, disguised and oversized workbooks are refused, each naming why;
    a small file that unpacks to gigabytes (a "zip bomb") before anything unpacks it."""
    import zipfile

    from tests.workbook import xlsx

    good = xlsx({"S": [["Keyword", "Campaign"], ["tap", "C1"]]})
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as archive, \
            zipfile.ZipFile(io.BytesIO(good)) as source:
        for part in source.namelist():
            archive.writestr(part, b"<worksheet><sheetData><row><c" if "sheet1" in part
                             else source.read(part))
    assert error_of(broken).startswith("broken.xlsx: the workbook cannot be read (")
    assert error_of(broken).endswith("open it and save the sheet as CSV (UTF-8)")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(xlsx({"S": []}))
    assert error_of(empty) == "empty.xlsx: the workbook has no worksheet holding cells"
    partial = tmp_path / "partial.xlsx"
    partial.write_bytes(good[: len(good) // 3])
    assert error_of(partial) == (
        "partial.xlsx: this is named as a spreadsheet workbook but holds no worksheet (a "
        "damaged or partial download?); open it and save the sheet as CSV (UTF-8), or "
        "download it again")
    protected = error_of(FIXTURES / "workbooks" / "protected.xlsx")  # Excel's password
    assert protected == ("protected.xlsx: the workbook is password-protected; save it "
                         "without a password (or save the sheet as CSV) and import that")
    legacy = tmp_path / "old.xls"   # a compound file's signature, then nothing Excel wrote
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert error_of(legacy).startswith("old.xls: the workbook cannot be read (")
    monkeypatch.setenv("TOPICLAB_MAX_UPLOAD_MB", "1")
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(xlsx({"S": [["Keyword", "Campaign"], ["a" * 8_000_000, "C1"]]}))
    assert bomb.stat().st_size < 2**20
    assert error_of(bomb) == (
        "bomb.xlsx: the workbook unpacks to 7.63 MB, more than 5.00 MB (5 times "
        "TOPICLAB_MAX_UPLOAD_MB); save the sheet as CSV and import that")


def test_a_compressed_csv_is_refused_naming_its_compression(tmp_path: Path) -> None:
    """A gzip (or bzip2, xz) of a CSV was refused as "NUL bytes (binary data, or UTF-16 or
    UTF-32 without a byte-order mark)", which sent the user after an encoding; a text
    header starting "BZh" is no bzip2 file."""
    import bz2
    import gzip
    import lzma

    text = b"Keyword,Campaign ID\nred shoes,C1\n"
    for suffix, packed, kind in ((".csv.gz", gzip.compress(text), "gzip"),
                                 (".csv.bz2", bz2.compress(text), "bzip2"),
                                 (".csv.xz", lzma.compress(text), "xz")):
        path = tmp_path / f"terms{suffix}"
        path.write_bytes(packed)
        assert error_of(path) == (f"terms{suffix}: this is a {kind}-compressed file, which "
                                  "cannot be imported as it is; decompress it and import the "
                                  "CSV or Parquet file inside")
    plain = write(tmp_path / "bzh.csv", "BZh,Keyword\nx,red shoes\n")
    assert read_paths([plain]).frame["term"].tolist() == ["red shoes"]



# A Microsoft Advertising download as its Reporting API writes one by default (metadata
# lines, a blank line, the column headers, the rows, a copyright footer; learn.microsoft.com,
# ReportRequest's ExcludeReportHeader / ExcludeReportFooter), here with a totals row too.
MS_KEYWORD_REPORT = """"Report Name: Keyword Performance Report"
"Report Time: 11/1/2026 - 11/30/2026"
"Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana"
"Last Completed Available Day: 12/1/2026 3:30:00 AM (GMT-08:00) Pacific Time (US & Canada); Tijuana"
"Report Aggregation: Summary"
"Report Filter: "
"Potential Incomplete Data: false"
"Rows: 3"

"AccountName","CampaignName","AdGroupName","Keyword","BidMatchType","Impressions","Clicks","Spend","Conversions"
"Acme Plumbing","Emergency","Plumbers","emergency plumber","Exact","1,204","88","312.40","9"
"Acme Plumbing","Emergency","Plumbers","24 hour plumber","Phrase","980","61","201.10","5"
"Acme Plumbing","Drains","Drain cleaning","blocked drain","Broad","640","33","99.90","2"
"Total","","","","","2,824","182","613.40","16"

"©2026 Microsoft Corporation. All rights reserved. "
"""


def test_a_microsoft_advertising_report_is_read_without_its_metadata_and_footer(
        tmp_path: Path) -> None:
    """Its metadata lines were taken for the header ("no term column. Columns found:
    'Report Name: Keyword Performance Report'"), so no Microsoft download could be read;
    the copyright line after the rows is dropped, and so is a totals row labelled "Total"."""
    result = read_paths([write(tmp_path / "kw.csv", MS_KEYWORD_REPORT)])
    frame = result.frame
    assert frame["term"].tolist() == ["emergency plumber", "24 hour plumber", "blocked drain"]
    assert frame["campaign_id"].tolist() == ["Emergency", "Emergency", "Drains"]
    assert frame["account"].unique().tolist() == ["Acme Plumbing"]
    assert frame["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert frame["cost"].tolist() == [312.4, 201.1, 99.9] and frame["clicks"].sum() == 182
    assert (frame["term_type"] == "keyword").all() and frame["source_line"].tolist() == [11, 12, 13]
    assert result.format_by_file == {"kw.csv": "microsoft_ads_keyword_report"}
    assert result.warnings == []
    # the search query report, tab-separated: the query is the term, not the keyword
    tsv = ("Report Name: Search Query Performance Report\nReport Time: 11/1/2026\nRows: 1\n\n"
           "CampaignName\tKeyword\tSearchQuery\tDeliveredMatchType\tClicks\n"
           "Drains\tblocked drain\tblocked kitchen drain\tPhrase\t4\n"
           "©2026 Microsoft Corporation. All rights reserved.\n")
    queries = read_paths([write(tmp_path / "sq.tsv", tsv)])
    assert queries.frame["term"].tolist() == ["blocked kitchen drain"]
    assert queries.frame["term_type"].tolist() == ["search_term"]
    assert queries.frame["match_type"].tolist() == ["phrase"]
    assert queries.format_by_file == {"sq.tsv": "microsoft_ads_search_terms_report"}
    # a daily report from the Reporting API dates its rows in "GregorianDate" (yyyy-mm-dd)
    daily = "CampaignName,Keyword,GregorianDate,Clicks\nDrains,blocked drain,2026-11-30,4\n"
    assert read_paths([write(tmp_path / "daily.csv", daily)]).frame["date"].dt.strftime(
        "%Y-%m-%d").tolist() == ["2026-11-30"]
    # a report named neither way holds keywords, as a Google Ads one does: its term rows
    # were imported with no term type, so they counted as neither keywords nor search terms
    text = ("Report Name: Campaign Performance Report\nRows: 1\n\n"
            "CampaignName,Text,Clicks\nDrains,blocked drain,4\n")
    named = read_paths([write(tmp_path / "campaigns.csv", text)])
    assert named.format_by_file == {"campaigns.csv": "microsoft_ads_report"}
    assert named.frame["term_type"].tolist() == ["keyword"]
    # a copyright line is the footer only in such a report; elsewhere it is a ragged row
    plain = "Keyword,Clicks\nred shoes,3\n\"©2026 Microsoft Corporation. All rights reserved.\"\n"
    assert "row has 1 fields but the header (line 1) has 2" in error_of(
        write(tmp_path / "plain.csv", plain))



def test_negative_keywords_are_dropped_with_a_warning(tmp_path: Path) -> None:
    """Negatives in a Match type column (or Google Ads Editor's Criterion type) were imported
    as keywords, with a warning that their match type was unknown: "free" and "jobs" became
    words a plumbing campaign's topics and neighbours were found by. They are dropped and
    counted; a file of negatives alone is refused."""
    text = ("Campaign,Ad group,Keyword,Criterion Type\n"
            "Plumbing,Emergency,emergency plumber,Exact\n"
            "Plumbing,Emergency,free,Negative Broad\n"
            "Plumbing,,plumber jobs,Campaign Negative Phrase\n"
            "Plumbing,Emergency,24 hour plumber,Phrase\n")
    result = read_paths([write(tmp_path / "editor.csv", text)])
    assert result.frame["term"].tolist() == ["emergency plumber", "24 hour plumber"]
    assert result.frame["match_type"].tolist() == ["exact", "phrase"]
    assert result.frame["source_line"].tolist() == [2, 5]
    assert result.warnings == ["editor.csv: 2 negative keywords (match type 'Negative Broad', "
                               "'Campaign Negative Phrase') dropped: they say what a campaign "
                               "excludes, not what it targets"]
    only = "Keyword,Match type\nfree,Negative Exact\njobs,Negative Exact\n"
    assert error_of(write(tmp_path / "neg.csv", only)) == (
        "neg.csv: every row is a negative keyword (match type 'Negative Exact'): negatives say "
        "what campaigns exclude, not what they target; import a keyword or search terms report")
    listed = error_of(write(tmp_path / "list.csv", "Negative keyword,Level\nfree,Campaign\n"))
    assert listed.startswith("list.csv, line 1: no term column.")
    assert listed.endswith("This looks like a list of negative keywords, which say what campaigns "
                           "exclude, not what they target: import a keyword or search terms "
                           "report")

def test_a_google_ads_editor_export_gives_its_keyword_rows(tmp_path: Path) -> None:
    """Google Ads Editor's export (UTF-16, tabs) lists the account's campaigns, ad groups
    and ads on rows of their own beside its keywords: each such row refused the whole file
    as "the term is empty". Its keyword rows are read, the others skipped and counted."""
    header = ["Campaign", "Campaign Type", "Budget", "Campaign Status", "Ad Group", "Max CPC",
              "Keyword", "Criterion Type", "Headline 1", "Final URL"]
    rows = [["Plumbing", "Search", "25.00", "Enabled", "", "", "", "", "", ""],
            ["Plumbing", "", "", "", "Emergency", "1.20", "", "", "", ""],
            ["Plumbing", "", "", "", "Emergency", "", "emergency plumber", "Exact", "", ""],
            ["Plumbing", "", "", "", "Emergency", "", "free", "Negative Broad", "", ""],
            ["Plumbing", "", "", "", "Emergency", "", "", "", "Fast Plumber", "https://x.test"],
            ["Roofing", "Search", "30.00", "Enabled", "", "", "", "", "", ""],
            ["Roofing", "", "", "", "Repairs", "", "roof repair", "Broad", "", ""]]
    text = "\n".join("\t".join(row) for row in [header, *rows]) + "\n"
    result = read_paths([write(tmp_path / "account.csv", text, "utf-16")])
    frame = result.frame
    assert frame["term"].tolist() == ["emergency plumber", "roof repair"]
    assert frame["campaign_id"].tolist() == ["Plumbing", "Roofing"]
    assert frame["ad_group"].tolist() == ["Emergency", "Repairs"]
    assert frame["match_type"].tolist() == ["exact", "broad"]
    assert frame["term_type"].tolist() == ["keyword", "keyword"]
    assert frame["source_line"].tolist() == [4, 8]
    assert result.format_by_file == {"account.csv": "google_ads_editor"}
    assert result.warnings[0] == ("account.csv: 4 rows without a keyword skipped: a Google Ads "
                                  "Editor export lists campaigns, ad groups, ads and other "
                                  "settings on rows of their own")
    assert "1 negative keyword" in result.warnings[1]
    settings = "\n".join("\t".join(row) for row in [header, rows[0], rows[1]]) + "\n"
    assert error_of(write(tmp_path / "settings.csv", settings, "utf-16")) == (
        "settings.csv, line 1: the file has no keyword rows, only campaign, ad group and "
        "other settings")
    # without the Editor's Criterion Type a row with no term is still refused
    plain = "Campaign,Keyword,Match type\nPlumbing,emergency plumber,Exact\nPlumbing,,\n"
    assert "the term is empty" in error_of(write(tmp_path / "plain.csv", plain))


def test_a_microsoft_advertising_bulk_file_gives_its_keyword_rows(tmp_path: Path) -> None:
    """A Microsoft Advertising bulk file (its Editor's export, the Bulk API's download) names
    each row's kind in its Type column: the Format Version, campaign, ad group and ad rows
    refused the file as "the term is empty", and its negative keywords, whose match type
    is a plain "Exact", would have been imported as keywords. Only Keyword rows are read."""
    text = ("Type,Status,Id,Parent Id,Campaign,Ad Group,Client Id,Modified Time,Keyword,"
            "Match Type,Bid,Name\n"
            "Format Version,,,,,,,,,,,6.0\n"
            "Campaign,Active,11,22,Plumbing,,,,,,,\n"
            "Ad Group,Active,33,11,Plumbing,Emergency,,,,,,\n"
            "Keyword,Active,44,33,Plumbing,Emergency,,,emergency plumber,Exact,0.5,\n"
            "Negative Keyword,Active,45,33,Plumbing,Emergency,,,free,Exact,,\n"
            "Campaign Negative Keyword,Active,46,11,Plumbing,,,,plumber jobs,Phrase,,\n"
            "Keyword Best Position Bid,,,44,Plumbing,Emergency,,,emergency plumber,Exact,2.1,\n"
            "Keyword,Paused,47,33,Plumbing,Emergency,,,24 hour plumber,Phrase,0.4,\n")
    result = read_paths([write(tmp_path / "bulk.csv", text)])
    frame = result.frame
    assert frame["term"].tolist() == ["emergency plumber", "24 hour plumber"]
    assert frame["campaign_id"].tolist() == ["Plumbing", "Plumbing"]
    assert frame["match_type"].tolist() == ["exact", "phrase"]
    assert frame["term_type"].tolist() == ["keyword", "keyword"]
    assert frame["source_line"].tolist() == [5, 9]
    assert result.format_by_file == {"bulk.csv": "microsoft_ads_bulk"}
    assert result.warnings == [
        "bulk.csv: 4 rows without a keyword skipped: a Microsoft Advertising bulk file lists "
        "campaigns, ad groups, ads and other settings on rows of their own",
        "bulk.csv: 2 negative keywords (type 'Negative Keyword', 'Campaign Negative Keyword') "
        "dropped: they say what a campaign excludes, not what it targets"]
    # a file of one's own with a Type column (no Parent Id) is read row by row, as before
    own = "Type,Keyword\nkeyword,red shoes\nsearch term,red shoes cheap\n"
    mine = read_paths([write(tmp_path / "own.csv", own)])
    assert mine.frame["term"].tolist() == ["red shoes", "red shoes cheap"]
    assert mine.format_by_file == {"own.csv": "csv"}


def test_an_amazon_ads_search_term_report_is_read(tmp_path: Path) -> None:
    """Amazon Ads' Sponsored Products search term report (saved as CSV) was refused as "no
    term column": its searches are the "Customer Search Term" beside the "Targeting" that
    matched, and its conversions are "7 Day Total Orders (#)"."""
    text = ("Date,Portfolio name,Currency,Campaign Name,Ad Group Name,Targeting,Match Type,"
            "Customer Search Term,Impressions,Clicks,Click-Thru Rate (CTR),Spend,"
            "7 Day Total Sales ,7 Day Total Orders (#),7 Day Conversion Rate\n"
            "Nov 01 2026,Not grouped,USD,SP - Drain,Cleaners,drain cleaner,EXACT,"
            "drain cleaner gel,120,4,3.33%,$3.40,$25.98,2,50.00%\n"
            "Nov 02 2026,Not grouped,USD,SP - Drain,Cleaners,drain cleaner,BROAD,"
            "hair clog remover,80,2,2.50%,$1.40,$0.00,0,0.00%\n")
    result = read_paths([write(tmp_path / "Sponsored_Products_Search_term_report.csv", text)])
    frame = result.frame
    assert frame["term"].tolist() == ["drain cleaner gel", "hair clog remover"]
    assert frame["term_type"].tolist() == ["search_term", "search_term"]
    assert frame["campaign_id"].tolist() == ["SP - Drain", "SP - Drain"]
    assert frame["ad_group"].tolist() == ["Cleaners", "Cleaners"]
    assert frame["match_type"].tolist() == ["exact", "broad"]
    assert frame["cost"].tolist() == [3.4, 1.4]
    assert frame["conversions"].tolist() == [2.0, 0.0]
    assert frame["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-11-01", "2026-11-02"]
    assert result.currency == "USD" and result.warnings == []
    # Amazon's default download, Excel: typed days and numbers, the same rows
    from datetime import date

    from tests.workbook import xlsx

    rows = [next(csv.reader([line])) for line in text.splitlines()]
    for row, day in zip(rows[1:], (date(2026, 11, 1), date(2026, 11, 2)), strict=True):
        row[0] = day
        row[8:10] = [int(row[8]), int(row[9])]
        row[11] = float(row[11].lstrip("$"))
        row[13] = int(row[13])
    book = tmp_path / "Sponsored_Products_Search_term_report.xlsx"
    book.write_bytes(xlsx({"Sponsored Product Search Term R": rows}))
    from_book = read_paths([book]).frame
    pd.testing.assert_frame_equal(from_book.drop(columns="source_file"),
                                  frame.drop(columns="source_file"))


def test_a_keyword_planner_download_is_one_campaign_of_its_ideas(tmp_path: Path) -> None:
    """Keyword Planner's "Keyword Stats … at …" download (a prospect's keyword ideas) was
    refused as "no term column. Columns found: 'Keyword Stats 2026-09-18 at 10_12_33'":
    its title and range lines were not known as a report's. Its ideas are one campaign,
    named after the file, and its search volumes and bids are no campaign's metrics."""
    header = ["Keyword", "Currency", "Avg. monthly searches", "Three month change",
              "Competition", "Top of page bid (low range)", "Top of page bid (high range)"]
    rows = [["emergency plumber", "USD", "1K – 10K", "0%", "Medium", "4.12", "18.30"],
            ["24 hour plumber", "USD", "100 – 1K", "-18%", "Medium", "5.01", "21.77"],
            ["plumber near me", "USD", "100K – 1M", "0%", "Low", "3.20", "15.40"]]
    for range_line in ("Sep 1, 2025 - Aug 31, 2026", "1 de agosto de 2025 - 31 de julho de 2026"):
        text = (f"Keyword Stats 2026-09-18 at 10_12_33\n{range_line}\n"
                + "\n".join("\t".join(row) for row in [header, *rows]) + "\n")
        path = write(tmp_path / "Keyword Stats 2026-09-18 at 10_12_33.csv", text, "utf-16")
        result = read_paths([path])
        frame = result.frame
        assert frame["term"].tolist() == [row[0] for row in rows]
        assert set(frame["campaign_id"]) == {"Keyword Stats 2026-09-18 at 10_12_33"}
        assert set(frame["term_type"]) == {"keyword"}
        assert frame[["impressions", "clicks", "cost", "conversions", "date"]].isna().all().all()
        assert frame["source_line"].tolist() == [4, 5, 6]
        assert result.format_by_file == {path.name: "keyword_planner"}
        assert result.warnings == [f"{path.name}: no campaign column, so the whole file is one "
                                   "campaign named 'Keyword Stats 2026-09-18 at 10_12_33'"]


def test_a_zip_is_refused_saying_what_it_holds(tmp_path: Path) -> None:
    """A ZIP was refused as "a ZIP archive or an Excel workbook", whatever it was: a zipped
    report (Microsoft Advertising zips every download) is named as an archive to extract;
    a workbook is read as one (`test_an_excel_download_is_read_as_its_csv_is`)."""
    import zipfile

    report = tmp_path / "report.zip"
    with zipfile.ZipFile(report, "w") as archive:
        archive.writestr("Keyword Performance Report.csv", MS_KEYWORD_REPORT)
    assert error_of(report) == (
        "report.zip: this is a ZIP archive (it holds 'Keyword Performance Report.csv'), which "
        "cannot be imported as it is; extract it and import the CSV or Parquet files inside "
        "(a folder of them is one import)")
    book = tmp_path / "terms.bin"  # a workbook by its parts, whatever its name: read as one
    with zipfile.ZipFile(book, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    assert error_of(book).startswith("terms.bin: the workbook cannot be read (")

def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"garbage" * 20)
    message = error_of(path)
    assert message.startswith("broken.parquet:") and "not a readable Parquet" in message


def test_file_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPICLAB_MAX_UPLOAD_MB", "0.001")
    path = write(tmp_path / "big.csv", csv_text(pd.concat([small_frame()] * 20)))
    message = error_of(path)
    size_mb = f"{path.stat().st_size / 2**20:.2f} MB"
    assert message.startswith("big.csv:") and size_mb in message
    assert "TOPICLAB_MAX_UPLOAD_MB" in message and "limit of 0.00 MB" in message
    with pytest.raises(InputError, match="TOPICLAB_MAX_UPLOAD_MB"):
        read_bytes(path.read_bytes(), "big.csv")


@pytest.mark.parametrize(("cell", "problem"), [
    ("abc", "'abc' is not a number"),
    ("-3", "'-3' is negative"),
    ("2.5", "'2.5' is not a whole number"),
    ("4.00%", "'4.00%' is not a number"),
])
def test_bad_metric_names_line_column_and_value(tmp_path: Path, cell: str, problem: str
                                                ) -> None:
    text = f"campaign_id,term,Clicks,cost\nc1,a,1,2\nc1,b,{cell},3\n"
    message = error_of(write(tmp_path / "m.csv", text))
    assert message.startswith("m.csv, line 3, column 'Clicks':")
    assert problem in message


def test_negative_metric_in_parquet(tmp_path: Path) -> None:
    frame = small_frame()
    frame.loc[3, "cost"] = -1.0
    frame.to_parquet(tmp_path / "neg.parquet")
    message = error_of(tmp_path / "neg.parquet")
    assert message.startswith("neg.parquet, line 4, column 'cost':") and "negative" in message


def test_bad_date(tmp_path: Path) -> None:
    text = "campaign_id,term,date\nc1,a,2024-05-01\nc1,b,someday\n"
    message = error_of(write(tmp_path / "d.csv", text))
    assert message.startswith("d.csv, line 3, column 'date':") and "'someday'" in message


@pytest.mark.parametrize(("row", "column", "what"), [
    ("c1,   ,3", "term", "term is empty"),
    ("c1,[],3", "term", "term is empty"),
    (",shoes,3", "campaign_id", "campaign is empty"),
])
def test_empty_term_or_campaign_names_the_line(tmp_path: Path, row: str, column: str,
                                               what: str) -> None:
    text = f"campaign_id,term,clicks\nc1,ok,1\n{row}\n"
    message = error_of(write(tmp_path / "e.csv", text))
    assert message.startswith(f"e.csv, line 3, column '{column}':") and what in message



def test_rows_without_a_campaign_are_counted_and_the_fix_named(tmp_path: Path) -> None:
    """A report whose rows lack a class (WANDS' queries as campaigns: 6 of 480) was
    refused at its first such row only, so a user fixed one row per import."""
    text = "Campaign,Keyword\nchairs,salon chair\n,rug\nbeds,bed\n,lamp\n,desk\n"
    message = error_of(write(tmp_path / "w.csv", text))
    assert message.startswith("w.csv, line 3, column 'Campaign': the campaign is empty")
    assert "(and in 2 more rows)" in message and "remove the rows without one" in message
    one = error_of(write(tmp_path / "t.csv", "Campaign,Keyword\nchairs,\nbeds,bed\n"))
    assert "the term is empty: give every row a term" in one and "more rows" not in one

def test_control_or_invisible_characters_in_cells_and_file_names(tmp_path: Path) -> None:
    """An ESC sequence, NUL-like controls or a zero-width space were stored as they came:
    `--format csv` wrote them raw to the terminal, and `C1` with a zero-width space was a
    second campaign that looks like `C1`. A campaign id holding one is refused naming its
    line (CSV and Parquet), and so is a file name (a file without a campaign column is a
    campaign named after it); terms and names lose them, every row kept, with a warning
    counting the cells; a Persian word keeps its zero-width non-joiner."""
    text = ("campaign_id,campaign_name,keyword,ad group,clicks\n"
            "C1,Na\x1b[31mme,blocked\x1b[31m drain,g\u200b1,1\n"
            'C1,Name,"two \u200bwords\tand\u2028more",g1,2\n'
            "C2,\ufeffB,\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645,g2,3\n"
            "C2,B,\x85x\x9b,g2,4\n")
    result = read_paths([write(tmp_path / "ctl.csv", text)])
    frame = result.frame
    assert len(frame) == 4 and frame["clicks"].tolist() == [1, 2, 3, 4]
    assert frame["term"].tolist() == ["blocked[31m drain", "two words and more",
                                      "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "x"]
    assert frame["campaign_name"].tolist() == ["Na[31mme", "Name", "B", "B"]
    assert frame["ad_group"].tolist() == ["g1", "g1", "g2", "g2"]
    assert ("ctl.csv: 3 cells of column 'keyword' held control or invisible characters "
            "(U+0009, U+001B, U+0085, U+009B, U+200B, U+2028); they were removed (a tab or line "
            "break became a space)") in result.warnings
    assert any(w.startswith("ctl.csv: 2 cells of column 'campaign_name' held") and "U+FEFF" in w
               for w in result.warnings)

    bad_id = write(tmp_path / "ids.csv", "campaign_id,term\nC1,a\nC1\u200b,b\nC\x1b]0;x\x07,c\n")
    assert error_of(bad_id) == ("ids.csv, line 3, column 'campaign_id': the campaign id "
                                "'C1\\u200b' holds control or invisible characters (U+200B); "
                                "correct it in the file")
    pd.DataFrame({"campaign_id": ["C1", "C\x00"], "term": ["a", "b"]}).to_parquet(
        tmp_path / "ids.parquet")
    assert "line 2, column 'campaign_id': the campaign id 'C\\x00' holds" in error_of(
        tmp_path / "ids.parquet")
    named = write(tmp_path / "brand\x1b[2Jnew.csv", "keyword\nshoes\n")
    assert error_of(named) == ("'brand\\x1b[2Jnew.csv': the file name holds control or "
                               "invisible characters (U+001B); rename the file")


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    text = "campaign_id,term,clicks\nc1,a,1\nc1,b,2,9\nc1,c,3\n"
    message = error_of(write(tmp_path / "r.csv", text))
    assert message.startswith("r.csv, line 3:") and "4 fields" in message and "has 3" in message


def test_short_row_names_the_line(tmp_path: Path) -> None:
    text = "campaign_id\tterm\tclicks\nc1\ta\t1\nc1\tb\n"
    message = error_of(write(tmp_path / "s.tsv", text))
    assert message.startswith("s.tsv, line 3:") and "tab" in message


def test_unterminated_quote_names_the_line(tmp_path: Path) -> None:
    text = 'campaign_id,term,clicks\nc1,a,1\nc1,"b,2\nc1,c,3\nc1,d,4\n'
    message = error_of(write(tmp_path / "q.csv", text))
    assert message.startswith("q.csv, line 3:") and "quote" in message


def test_folder_without_supported_files(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / "readme.md", "hi")
    message = error_of(folder)
    assert "docs" in message and "no supported files" in message and "readme.md" in message


def test_two_files_with_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    first = write(tmp_path / "x" / "same.csv", "keyword\na\n")
    second = write(tmp_path / "y" / "same.csv", "keyword\nb\n")
    assert "both named 'same.csv'" in error_of([first, second])


def test_the_same_file_given_twice_is_named_as_such(tmp_path: Path, monkeypatch) -> None:
    """`ingest f.csv f.csv` was told to rename one of two files that are one file."""
    path = write(tmp_path / "f.csv", "keyword\na\n")
    twice = error_of([path, path])
    assert f"the same file was given twice ('{path}'); give it once" in twice
    assert "rename" not in twice
    monkeypatch.chdir(tmp_path)
    assert "'f.csv' and" in error_of(["f.csv", tmp_path])   # a folder holding it
    (tmp_path / "link.csv").symlink_to(path)
    assert "the same file was given twice" in error_of([path, tmp_path / "link.csv"])


# --------------------------------------------------------------------------- details


def test_google_ads_report_saved_as_utf8_csv(tmp_path: Path) -> None:
    text = ('Search keyword report\n"May 1, 2024 - May 1, 2024"\n'
            'Keyword,Match type,Clicks,Impr.,Cost\n'
            '[red shoes],Exact match,"1,200","30,000","4,500.50"\n'
            '"""red shoes""",Phrase match,3,40,--\n'
            ',"Total: Account","1,203","30,040","4,500.50"\n')
    result = read_paths([write(tmp_path / "shoes.csv", text)])
    frame = result.frame
    assert result.format_by_file == {"shoes.csv": "google_ads_keyword_report"}
    assert result.warnings == []  # a per-campaign export never has a campaign column
    assert frame["term"].tolist() == ["red shoes", "red shoes"]
    assert frame["match_type"].tolist() == ["exact", "phrase"]
    assert frame["clicks"].tolist() == [1200, 3]
    assert frame["cost"].iloc[0] == 4500.5 and pd.isna(frame["cost"].iloc[1])
    assert (frame["date"] == pd.Timestamp("2024-05-01")).all()  # a one-day range
    assert frame["source_line"].tolist() == [4, 5]


def test_a_term_that_starts_with_total_is_kept_outside_reports(tmp_path: Path) -> None:
    text = "campaign_id,term\ngames,Total: War\ngames,,\n"
    with pytest.raises(InputError, match=r"line 3, column 'term': the term is empty"):
        read_paths([write(tmp_path / "g.csv", text)])
    frame = read_paths([write(tmp_path / "g2.csv", "campaign_id,term\ngames,Total: War\n")]).frame
    assert frame["term"].tolist() == ["Total: War"]


def test_blank_lines_and_trailing_delimiters_are_tolerated(tmp_path: Path) -> None:
    text = "campaign_id,term,clicks\nc1,a,1,\n\nc1,b,2,,\n   \nc2,c,3\n"
    frame = read_paths([write(tmp_path / "t.csv", text)]).frame
    assert frame["term"].tolist() == ["a", "b", "c"]
    assert frame["source_line"].tolist() == [2, 4, 6]


def test_unknown_match_type_is_left_empty_with_a_warning(tmp_path: Path) -> None:
    text = 'campaign_id,term,match type\nc1,[a],Exact match\nc1,[b],weird\nc1,c,weird\n'
    result = read_paths([write(tmp_path / "mt.csv", text)])
    assert result.frame["match_type"].fillna("-").tolist() == ["exact", "exact", "-"]
    assert len(result.warnings) == 1 and "2 rows" in result.warnings[0]
    assert "'weird'" in result.warnings[0]


def test_term_type_column_values_are_normalised(tmp_path: Path) -> None:
    text = "campaign_id,term,Term Type\nc1,a,Search term\nc1,b,KEYWORD\nc1,c,\n"
    frame = read_paths([write(tmp_path / "tt.csv", text)]).frame
    assert frame["term_type"].fillna("-").tolist() == ["search_term", "keyword", "-"]


def test_many_rows_stay_aligned(tmp_path: Path) -> None:
    n = 20_000
    frame = pd.DataFrame({"campaign_id": [f"c{i % 97}" for i in range(n)],
                          "term": [f"term {i}" for i in range(n)],
                          "clicks": np.arange(n) % 13})
    frame.loc[5_000, "term"] = "multi\nline"  # forces the row-by-row path
    result = read_paths([write(tmp_path / "many.csv", csv_text(frame))])
    got = result.frame
    assert len(got) == n
    assert got["clicks"].tolist() == frame["clicks"].tolist()
    assert got["source_line"].iloc[5_001] == 5_004  # one quoted line break before it
    assert got.loc[got["term"] == "term 19999", "source_line"].item() == n + 2


def read_in_small_chunks(text: str, monkeypatch: pytest.MonkeyPatch):
    """`_read_delimited` of `text` in chunks of 1,000 rows and pieces of 20,000 characters,
    asserting Python held less than 4x the text at its peak."""
    import tracemalloc

    from core.data import readers

    monkeypatch.setattr(readers, "_CHUNK_ROWS", 1_000, raising=False)
    monkeypatch.setattr(readers, "_TEXT_PIECE", 20_000, raising=False)
    tracemalloc.start()
    try:
        raw = readers._read_delimited(text, "big.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(text), f"peak {peak / len(text):.1f}x the text"
    return raw


def test_a_regular_csv_is_parsed_without_a_python_string_per_cell_held_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A regular CSV was parsed into one Python list of strings per row, all held at once
    and then transposed, beside a StringIO of the whole text (four bytes per character):
    3.0 GB at 2M rows for a 133 MB file (bench/import_big.py). Its rows now go to Arrow
    `_CHUNK_ROWS` at a time, from pieces of the text: Python holds about twice the text at
    its peak (23x before), and every row, line and totals row is as it was."""
    text = "Keyword,Campaign ID,Clicks,Impr.,Cost\n" + "".join(
        f"kw {i} x{i % 7},C{i % 300},{i % 9},{i % 90},{i % 13}.5\n" for i in range(30_000))
    text += ",Total: account,9,9,9\n"
    raw = read_in_small_chunks(text, monkeypatch)
    assert raw.lines.tolist() == list(range(2, 30_002))  # the totals row dropped
    assert raw.values["term"].iloc[[0, -1]].tolist() == ["kw 0 x0", "kw 29999 x4"]
    assert raw.values["clicks"].iloc[-1] == str(29_999 % 9)
    assert raw.cells(np.array([1])) == [("kw 1 x1", "C1", "1", "1", "1.5")]


def test_an_irregular_csv_is_read_row_by_row_without_every_row_held_in_python(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV the one-pass parse cannot take (here one blank line) is read row by row, and
    its rows also go to Arrow `_CHUNK_ROWS` at a time: they were all held as Python lists
    of strings (a 133 MB file with one blank line peaked at 2.1 GB, 1.0 GB now). Lines,
    the blank line and the totals row are as before."""
    body = [f"kw {i} x{i % 7},C{i % 300},{i % 9},{i % 90},{i % 13}.5\n" for i in range(30_000)]
    text = ("Keyword,Campaign ID,Clicks,Impr.,Cost\n" + "".join(body[:15_000]) + "\n"
            + "".join(body[15_000:]) + ",Total: account,9,9,9\n")
    raw = read_in_small_chunks(text, monkeypatch)
    assert raw.lines.tolist() == [*range(2, 15_002), *range(15_003, 30_003)]
    assert raw.values["term"].iloc[[0, -1]].tolist() == ["kw 0 x0", "kw 29999 x4"]
    assert raw.cells(np.array([15_000])) == [("kw 15000 x6", "C0", "6", "60", "11.5")]


def test_a_csvs_bytes_and_text_are_not_held_while_its_rows_are_cleaned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a CSV's cells are in Arrow its bytes and decoded text are let go: the reader
    held both through the cleaning, where a big import peaks (266 MB of a 133 MB file's
    1.9 GB, bench/import_big.py). No frame of the reader holds either when it starts."""
    import sys

    from core.data import readers

    text = "Keyword,Campaign ID,Clicks\n" + "".join(
        f"term {i} word,C{i % 50},{i % 7}\n" for i in range(20_000))
    path = write(tmp_path / "big.csv", text)
    held: list[str] = []
    clean = readers._canonical_frame

    def measured(raw, name):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals["__name__"].startswith("core."):
                held.extend(f"{frame.f_code.co_name}: {local}"
                            for local, value in frame.f_locals.items()
                            if isinstance(value, str | bytes) and len(value) >= len(text) // 2)
            frame = frame.f_back
        return clean(raw, name)

    monkeypatch.setattr(readers, "_canonical_frame", measured)
    result = read_paths([path])
    assert held == []
    assert len(result.frame) == 20_000


def test_only_cells_that_need_cleaning_are_cleaned_in_python() -> None:
    """Terms and names are cleaned in Python only where Arrow finds a cell cleaning may
    change (`_PLAIN_TERM`, `_PLAIN_STRIPPED`): a Python string per distinct term and its
    cleaned forms held 470 MB of a 2M-row file whose terms needed none
    (bench/import_big.py). Every cell comes out as the Python cleaning gives it: in two
    Arrow chunks, with nulls, decorations and every kind of whitespace Python knows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.data import readers

    every = pa.array([chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF],
                     pa.large_string())
    spaces = every.filter(pc.match_substring_regex(every, f"^[{readers._PY_SPACE}]$"))
    assert spaces.to_pylist() == [c for c in every.to_pylist() if c.isspace()]

    odd = ["[a b]", '"a b"', "+a +b", "a  b", " a", "a ", "a\u3000b", "a\xa0", "\x1cb",
           "[", "a+", "+", '"']
    cells = ["a b", "東京 ホテル", "a", None, "", *odd, "c [d]", 'c "d"']
    values = pa.chunked_array([pa.array(cells[:9], pa.large_string()),
                               pa.array(cells[9:], pa.large_string())]).to_pandas()
    seen: list[str] = []

    def counted(cell: str) -> tuple[str, str | None]:
        seen.append(cell)
        return strip_match_decoration(cell)

    terms, decorated = readers._per_distinct(values, counted, ("", None), readers._PLAIN_TERM)
    expected = [strip_match_decoration(cell) if cell is not None else ("", None)
                for cell in cells]
    assert terms.tolist() == [term for term, _ in expected]
    assert [None if pd.isna(v) else v for v in decorated] == [kind for _, kind in expected]
    assert sorted(seen) == sorted(odd)
    stripped = readers._stripped(values)
    assert [None if pd.isna(v) else v for v in stripped] == [
        cell.strip() or None if cell is not None else None for cell in cells]
    seen.clear()
    plain = pd.Series(["a b", "東京 ホテル"] * 3, dtype="str")
    terms, decorated = readers._per_distinct(plain, counted, ("", None), readers._PLAIN_TERM)
    assert terms.tolist() == plain.tolist() and decorated.isna().all() and seen == []


def test_hidden_characters_are_looked_for_without_making_every_cell_distinct() -> None:
    """Only the cells that may hold a hidden character are made distinct: the distinct
    cells of all of them (2M terms of a 2M-row file) held 190 MB, four times the column,
    to find none. Arrow now allocates next to nothing for a column without one."""
    import pyarrow as pa

    from core.data import readers

    values = pa.array([f"term {i} word" for i in range(200_000)], pa.large_string()).to_pandas()
    default = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default)  # counts what is allocated from here on
    pa.set_memory_pool(pool)
    try:
        assert readers._hidden_cells(values) == []
        assert readers._hidden_cells(pd.concat([values, pd.Series(["a\u200bb"], dtype="str")],
                                               ignore_index=True)) == ["a\u200bb"]
    finally:
        pa.set_memory_pool(default)
    assert pool.max_memory() < values.array.nbytes / 10


def test_rows_are_hashed_for_the_duplicate_check_in_duckdb() -> None:
    """Rows that may repeat are found by a 64-bit hash of each canonical row, in DuckDB
    a vector at a time (pandas' `duplicated` held 410 MB of per-column codes and hash
    tables for 2M rows): equal rows hash alike, and a row that differs in any one column,
    if only by a null against an empty text, 0 or a day, hashes apart."""
    from core.data import readers

    row = {"campaign_id": "C1", "term": "a b", "clicks": 3, "cost": 1.5,
           "date": pd.Timestamp("2024-05-01")}
    others = [{**row, "campaign_id": None}, {**row, "campaign_id": ""}, {**row, "term": "a  b"},
              {**row, "clicks": None}, {**row, "clicks": 0}, {**row, "cost": None},
              {**row, "cost": 0.0}, {**row, "date": None}, {**row, "date": pd.Timestamp(0)}]
    frame = pd.DataFrame([row, *others, row]).astype(
        {"campaign_id": "str", "term": "str", "clicks": "Int64", "cost": "float64",
         "date": "datetime64[us]"})
    hashes = readers._row_hashes(frame)
    assert len(hashes) == len(frame) and hashes[0] == hashes[-1]
    assert len(set(hashes[:-1].tolist())) == len(frame) - 1


def test_sony_research_file_keeps_rows_that_differ_in_rank() -> None:
    """sony_bank_morgage.csv repeats keywords with another Rank (a column the importer
    ignores); PROVENANCE.md gives 1,000 rows, and every one is kept."""
    path = shared_data("sony_okg_ad_keywords/dataset/sony_bank_morgage.csv")
    result = read_paths([path])
    assert len(result.frame) == 1000
    assert not any("duplicate" in w for w in result.warnings)


def test_metric_cells_are_parsed_once_per_distinct_odd_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain numbers ("12", "3.50") are read by Arrow's cast and only the distinct other
    cells go to the careful parser: every cell of a metric column was made a Python string
    first (~90 MB, ~0.5 CPU s per 2M-row column, bench/import_big.py). Each cell reads as
    the careful parser reads it, in either number style, and a refusal still names the
    cell, its line and its column."""
    import pyarrow as pa

    from core.data import readers

    cells = ["12", "3.50", "007", "1,340", "$5", "--", None, "1.5", "1,340", " 3 ", "12.345678",
             "99999999999999999", "123456789012345", "1234567890123.45", "0.1", "1.234",
             "1.234,5", "€5", "1e3"]
    values = pa.chunked_array([pa.array(cells[:7], pa.large_string()),
                               pa.array(cells[7:] * 200, pa.large_string())]).to_pandas()
    parsed: list[int] = []
    careful = readers._parsed_numbers

    def counted(cells: pd.Series, decimal_comma: bool = False) -> readers._Parsed:
        parsed.append(len(cells))
        return careful(cells, decimal_comma)

    monkeypatch.setattr(readers, "_parsed_numbers", counted)
    for decimal_comma in (False, True):
        parsed.clear()
        fast = readers._plain_numbers(values, decimal_comma)
        slow = careful(values, decimal_comma)
        assert sum(parsed) <= 14, parsed  # the distinct odd cells, not 2,407 cells
        assert fast.numbers.equals(slow.numbers)
        assert fast.bad.tolist() == slow.bad.tolist()
        assert fast.marks.tolist() == slow.marks.tolist()
    text = "campaign_id,term,Clicks\n" + "".join(f"c1,t{i},{i % 5}\n" for i in range(3000))
    with pytest.raises(InputError, match=r"big.csv, line 1502, column 'Clicks': '1,5x' is not"):
        read_bytes((text[:text.index("c1,t1500")] + "c1,t1500,\"1,5x\"\n"
                    + text[text.index("c1,t1501"):]).encode(), "big.csv")


def test_duplicate_rows_are_compared_in_duckdb_not_as_python_tuples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that may repeat are compared cell by cell by DuckDB over their Arrow cells: a
    Python tuple of every candidate row made a file pasted twice (1M rows, 500k repeated)
    take 2.6 CPU s and peak 1.4 GB (now 1.1 s, 0.8 GB). Rows differing only in a column
    the import does not keep, in a null against an empty cell, or in a list cell of an
    unused Parquet column are no duplicates; a repeat of each is."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.data import readers

    def no_tuples(table, at):
        raise AssertionError(f"{len(at)} rows made Python tuples")

    monkeypatch.setattr(readers, "_parquet_rows", no_tuples)
    body = "".join(f"c{i % 3},t{i % 50},{i % 4},{i % 2}\n" for i in range(200))
    text = "campaign_id,term,clicks,Rank\n" + body + body
    result = read_paths([write(tmp_path / "twice.csv", text)])
    assert result.frame["source_line"].tolist() == list(range(2, 202))
    assert result.warnings == ["twice.csv: 200 duplicate rows dropped, identical in every "
                               "column to an earlier one (lines 202, 203, 204, 205, 206, 207, "
                               "208, 209, 210, 211, ...)"]
    pq.write_table(pa.table({
        "campaign_id": ["C1", "C1", "C1", "C1", "C1", "C1"], "term": ["a"] * 6,
        "note": pa.array([None, "", None, "", "x", "x"]),
        "tags": pa.array([["p"], ["p"], ["p"], ["p"], ["q", "r"], ["q"]])}),
        tmp_path / "t.parquet")
    result = read_paths([tmp_path / "t.parquet"])
    assert result.frame["source_line"].tolist() == [1, 2, 5, 6]
    assert result.warnings[-1].endswith("(lines 3, 4)")


def test_parsed_cells_are_held_in_the_system_allocator() -> None:
    """A CSV's cells go to Arrow in the system allocator's memory, not Arrow's default
    pool (mimalloc), which kept ~50-100 MB more resident than the cells of a 2M-row,
    133 MB file hold, through the whole cleaning (bench/import_big.py); row by row too."""
    import pyarrow as pa

    from core.data import readers

    system = pa.system_memory_pool()
    body = "".join(f"kw {i},C{i % 300},{i % 9}\n" for i in range(20_000))
    for text in ("Keyword,Campaign ID,Clicks\n" + body,
                 "Keyword,Campaign ID,Clicks\n\n" + body):  # a blank line: row by row
        gc.collect()  # earlier tests' garbage freed during the read would offset the count
        gc.disable()
        try:
            before = system.bytes_allocated()
            raw = readers._read_delimited(text, "t.csv")
            assert system.bytes_allocated() - before >= raw.table.nbytes
        finally:
            gc.enable()
        del raw


def test_the_cleaned_frame_is_built_without_copying_its_columns() -> None:
    """The cleaned columns become the frame as they are: pandas copied every number, day
    and line column into one block per type beside them (50 MB of the peak of importing a
    2M-row, 133 MB file, bench/import_big.py)."""
    import tracemalloc

    from core.data import readers

    text = "Keyword,Campaign ID,Clicks,Cost,Conversions,Impr.\n" + "".join(
        f"kw {i},C{i % 300},{i % 9},{i % 7}.5,{i % 3},{i % 11}\n" for i in range(100_000))
    raw = readers._read_delimited(text, "t.csv")
    tracemalloc.start()
    try:
        frame, _ = readers._canonical_frame(raw, "t.csv")
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    numbers = sum(frame[c].to_numpy().nbytes for c in frame.columns
                  if frame[c].dtype.kind in "ifM")
    assert numbers > 4_000_000
    assert peak - held < numbers / 2, (peak - held, numbers)


def test_a_quoted_line_break_late_in_a_csv_does_not_parse_the_file_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk whose rows span more lines than rows (a quoted line break), or that holds a
    blank or ragged row, is noticed as it is parsed, and the row-by-row read goes on from
    that chunk: the fast parse only noticed at the end of the file, which was then parsed
    again from its start. Lines, totals rows and the row-by-row refusals are as before."""
    from core.data import readers

    monkeypatch.setattr(readers, "_CHUNK_ROWS", 1_000, raising=False)
    monkeypatch.setattr(readers, "_TEXT_PIECE", 20_000, raising=False)
    given = 0
    csv_rows = readers._csv_rows

    class Counted:  # the CSV reader, counting the records it parses
        def __init__(self, *args) -> None:
            self.reader = csv_rows(*args)

        def __iter__(self):
            return self

        def __next__(self) -> list[str]:
            nonlocal given
            given += 1
            return next(self.reader)

        @property
        def line_num(self) -> int:
            return self.reader.line_num

    monkeypatch.setattr(readers, "_csv_rows", Counted)
    body = [f"kw {i},C{i % 300},{i % 9}\n" for i in range(30_000)]
    body[500] = ",Total: account,9\n"
    body[28_500] = '"kw\nbroken",C1,1\n'
    text = "Keyword,Campaign ID,Clicks\n" + "".join(body)
    raw = readers._read_delimited(text, "late.csv")
    assert given < 30_001 + 2 * 1_000, f"{given} records parsed for 30,001"
    assert raw.lines.tolist() == [*range(2, 502), *range(503, 28_503), *range(28_504, 30_003)]
    assert raw.values["term"].iloc[28_499] == "kw\nbroken"
    assert raw.values["term"].iloc[-1] == "kw 29999"
    ragged = text + "a,b,c,d\n"
    with pytest.raises(InputError, match=r"late.csv, line 30003: row has 4 fields"):
        readers._read_delimited(ragged, "late.csv")
    with pytest.raises(InputError, match=r"late.csv, line 30003: unterminated quoted field"):
        readers._read_delimited(text + '"a,b,c\n', "late.csv")


def test_a_file_pasted_twice_is_compared_row_to_row_in_arrow_not_grouped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row whose hash repeats is compared, column by column in Arrow, with the first
    row of its hash; only hashes whose rows differ somewhere are grouped by all their cells
    in DuckDB: grouping the 4M rows of a 2M-row file pasted twice held 1.3 GB there
    (bench/import_big.py). The hash is of the input cells, taken before the file is
    cleaned (its hashes and hash table beside the cleaned columns were the peak of that
    file's import), so rows that differ only in Rank, a column the import does not keep,
    hash apart; when DuckDB cannot hash the input cells the cleaned rows are hashed, and
    such rows hash alike and are grouped."""
    from core.data import readers

    grouped: list[int] = []
    group = readers._repeated_rows

    def counted(table, at):
        grouped.append(len(at))
        return group(table, at)

    def cleaned_rows_hashed(frame):
        hashed.append(len(frame))
        return row_hashes(frame)

    hashed: list[int] = []
    row_hashes = readers._row_hashes
    monkeypatch.setattr(readers, "_repeated_rows", counted)
    monkeypatch.setattr(readers, "_row_hashes", cleaned_rows_hashed)
    body = "".join(f"c{i % 3},t{i % 50},{i % 4},{i % 2}\n" for i in range(200))
    text = "campaign_id,term,clicks,Rank\n" + body + body + "c0,t0,0,1\nc0,t0,0,1\n"
    for input_hashed in (True, False):
        if not input_hashed:  # as for a Parquet column DuckDB cannot read (float16)
            monkeypatch.setattr(readers, "_input_duplicates", lambda raw: None)
        grouped.clear()
        hashed.clear()
        result = read_paths([write(tmp_path / "twice.csv", text)])
        assert result.frame["source_line"].tolist() == [*range(2, 202), 402]
        assert result.warnings[-1].startswith("twice.csv: 201 duplicate rows dropped")
        assert result.warnings[-1].endswith("(lines 202, 203, 204, 205, 206, 207, 208, 209, "
                                            "210, 211, ...)")
        # the rows of c0,t0,0 (two with Rank 0, two with Rank 1) clean alike
        assert (grouped, hashed) == (([], []) if input_hashed else ([4], [402]))
