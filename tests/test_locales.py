"""Google Ads exports downloaded with the UI in another language: translated headers, match
types and totals rows, and decimal-comma numbers, decided once per file."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from core.data import datasets, ingest, store
from core.data.columns import _NORMALISED_ALIASES, normalise_name
from core.data.readers import read_paths
from core.errors import InputError
from tests.conftest import SONY, shared_data

NBSP, NNBSP = "\u00a0", "\u202f"


def ui_download(path: Path, title: str, range_line: str, rows: list[list[str]]) -> Path:
    """A file as the Google Ads UI downloads it: UTF-16 with BOM, tab-separated, a title
    and a date-range line above the header (as the Sony exports are)."""
    out = io.StringIO()
    out.write(f'{title}\n"{range_line}"\n')
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows)
    path.write_bytes(codecs.BOM_UTF16_LE + out.getvalue().encode("utf-16-le"))
    return path


def imported(path: Path, dataset: str):
    summary = ingest.import_paths([path], dataset)
    terms = datasets.terms(dataset, summary.version).sort_values("source_line")
    return summary, terms.reset_index(drop=True)


def test_german_search_terms_report(home, tmp_path: Path) -> None:
    path = ui_download(tmp_path / "de.csv", "Suchbegriffbericht", "1. Mai 2024 - 31. Mai 2024", [
        ["Suchbegriff", "Übereinstimmungstyp", "Kampagne", "Anzeigengruppe", "Keyword",
         "Währungscode", "Klicks", "Impr.", "CTR", "Kosten", "Conversions"],
        ["gps uhr kinder", "Exakt passend (ähnliche Variante)", "Kinder GPS", "Uhren",
         "[gps uhr]", "EUR", "1.234", "12.000", "10,28 %", "1.234,56", "3,00"],
        ["gps kinder", "Wortgruppe", "Kinder GPS", "Uhren", '"gps kind"', "EUR", "7", "90",
         "7,78 %", "12,5", "0,00"],
        ["tracker app", "Weitgehend passend", "Tracker", "Apps", "tracker", "EUR", "0", "15",
         " --", "0,00", " --"],
        ["Gesamt: Konto", "", "", "", "", "", "1.241", "12.105", "", "1.247,06", "3,00"],
    ])
    summary, terms = imported(path, "de")
    assert (summary.rows, summary.campaigns, summary.warnings) == (3, 2, [])
    assert terms["term"].tolist() == ["gps uhr kinder", "gps kinder", "tracker app"]
    assert set(terms["term_type"]) == {"search_term"}  # "Suchbegriff" beats "Keyword"
    assert terms["campaign_id"].tolist() == ["Kinder GPS", "Kinder GPS", "Tracker"]
    assert terms["ad_group"].tolist() == ["Uhren", "Uhren", "Apps"]
    assert terms["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert terms["clicks"].tolist() == [1234, 7, 0]
    assert terms["impressions"].tolist() == [12000, 90, 15]
    assert terms["cost"].tolist() == pytest.approx([1234.56, 12.5, 0.0])
    assert terms["conversions"].iloc[:2].tolist() == [3.0, 0.0]
    assert terms["conversions"].isna().iloc[2]
    assert datasets.currency("de") == "EUR"


def test_french_keyword_report_with_space_thousands(home, tmp_path: Path) -> None:
    path = ui_download(tmp_path / "fr.csv", "Rapport sur les mots clés",
                       "1 mai 2024 - 31 mai 2024", [
        ["Mot clé", "Type de correspondance", "Campagne", "Groupe d'annonces",
         "Code de la devise", "Clics", "Impr.", "Coût", "Conversions"],
        ["montre gps", "Mot clé exact", "Montres", "GPS", "EUR", f"1{NNBSP}234",
         f"12{NBSP}000", f"1{NNBSP}234,56", "2,50"],
        ["montre enfant", "Expression exacte", "Montres", "Enfants", "EUR", "3", "40",
         "4,2", "0"],
        ["traceur", "Requête large", "Traceurs", "Apps", "EUR", "0", "9", "0", "0"],
        ["Total : compte", "", "", "", "", f"1{NNBSP}237", f"12{NBSP}049", f"1{NNBSP}238,76",
         "2,50"],
    ])
    summary, terms = imported(path, "fr")
    assert (summary.rows, summary.campaigns) == (3, 2)
    assert set(terms["term_type"]) == {"keyword"}
    assert terms["match_type"].tolist() == ["exact", "phrase", "broad"]  # not "exacte"
    assert terms["clicks"].tolist() == [1234, 3, 0]
    assert terms["impressions"].tolist() == [12000, 40, 9]
    assert terms["cost"].tolist() == pytest.approx([1234.56, 4.2, 0.0])
    assert terms["conversions"].tolist() == pytest.approx([2.5, 0.0, 0.0])


def test_spanish_utf8_csv(home, tmp_path: Path) -> None:
    path = tmp_path / "es.csv"
    path.write_text(
        "Informe de términos de búsqueda\n\"1 may 2024 - 31 may 2024\"\n"
        "Término de búsqueda,Tipo de concordancia,Campaña,Grupo de anuncios,Clics,Impr.,"
        "Coste,Conversiones\n"
        'reloj gps,Concordancia exacta,Relojes,GPS,"1.234","12.000","1.234,56","3,00"\n'
        'reloj niños,Concordancia de frase,Relojes,Niños,5,80,"0,75",0\n'
        "localizador,Concordancia amplia,Localizadores,Apps,0,3,0,0\n"
        'Total: cuenta,,,,"1.239","12.083","1.235,31","3,00"\n', encoding="utf-8")
    summary, terms = imported(path, "es")
    assert (summary.rows, summary.campaigns) == (3, 2)
    assert set(terms["term_type"]) == {"search_term"}
    assert terms["campaign_id"].tolist() == ["Relojes", "Relojes", "Localizadores"]
    assert terms["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert terms["clicks"].tolist() == [1234, 5, 0]
    assert terms["impressions"].tolist() == [12000, 80, 3]
    assert terms["cost"].tolist() == pytest.approx([1234.56, 0.75, 0.0])


def test_japanese_report_keeps_decimal_points(home, tmp_path: Path) -> None:
    path = ui_download(tmp_path / "ja.csv", "検索語句レポート", "2024年5月1日～2024年5月31日", [
        ["検索語句", "マッチタイプ", "キャンペーン", "広告グループ", "通貨コード", "クリック数",
         "表示回数", "費用", "コンバージョン"],
        ["見守り 時計", "完全一致（類似パターン）", "見守り", "時計", "JPY", "1,234", "12,000",
         "45,600", "3.50"],
        ["子供 gps", "フレーズ一致", "見守り", "GPS", "JPY", "7", "90", "1,200", "0.00"],
        ["gps", "部分一致", "GPS", "汎用", "JPY", "0", "15", "0", " --"],
        ["合計: アカウント", "", "", "", "", "1,241", "12,105", "46,800", "3.50"],
    ])
    summary, terms = imported(path, "ja")
    assert (summary.rows, summary.campaigns) == (3, 2)
    assert set(terms["term_type"]) == {"search_term"}
    assert terms["match_type"].tolist() == ["exact", "phrase", "broad"]
    assert terms["clicks"].tolist() == [1234, 7, 0]
    assert terms["impressions"].tolist() == [12000, 90, 15]
    assert terms["cost"].tolist() == [45600.0, 1200.0, 0.0]
    assert terms["conversions"].iloc[:2].tolist() == [3.5, 0.0]
    assert datasets.currency("ja") == "JPY"


def stored_format(dataset: str) -> str:
    formats = store.query_one("SELECT formats FROM datasets WHERE name = ?", [dataset])[0]
    assert len(formats) == 1
    return formats[0]


@pytest.mark.parametrize("title, term_header, expected", [
    ("Rapport sur les mots clés", "Mot clé", "google_ads_keyword_report"),
    ("Keyword-Bericht", "Keyword", "google_ads_keyword_report"),
    ("Informe de palabras clave", "Palabra clave", "google_ads_keyword_report"),
    ("Rapporto", "Parola chiave", "google_ads_keyword_report"),  # the column says
    ("Relatório de termos de pesquisa", "Termo de pesquisa", "google_ads_search_terms_report"),
    ("Rapport zoektermen", "Zoekterm", "google_ads_search_terms_report"),
    ("Zoektermenrapport", "Zoekterm", "google_ads_search_terms_report"),  # one compound
    ("キーワード レポート", "キーワード", "google_ads_keyword_report"),
    ("Search keyword report", "Keyword", "google_ads_keyword_report"),
    ("Campaign report", "Text", "google_ads_report")])
def test_translated_report_gets_its_format_label(home, tmp_path: Path, title: str,
                                                 term_header: str, expected: str) -> None:
    path = ui_download(tmp_path / "report.csv", title, "1 mai 2024 - 31 mai 2024", [
        [term_header, "Campaign", "Clicks"], ["uhr", "K1", "3"]])
    ingest.import_paths([path], "labelled")
    assert stored_format("labelled") == expected


def test_currency_sign_after_the_number(home, tmp_path: Path) -> None:
    """Hand-made files write "1.234,56 €" (the UI downloads write no sign); the sign after
    the figure is dropped and the number style still read from such cells."""
    path = tmp_path / "de.csv"
    path.write_text(f'Keyword;Kampagne;Klicks;Kosten\nuhr;K1;5;"1.234,56 €"\n'
                    f'wecker;K1;2;"12,5{NBSP}€"\nradio;K2;1;1.000€\nfunk;K2;0;0 €\n',
                    encoding="utf-8")
    summary, terms = imported(path, "signs")
    assert (summary.rows, summary.warnings) == (4, [])
    assert terms["cost"].tolist() == pytest.approx([1234.56, 12.5, 1000.0, 0.0])

    french = tmp_path / "fr.csv"
    french.write_text(f"Mot clé;Campagne;Clics;Coût\nmontre;M1;3;1{NNBSP}234,56{NNBSP}€\n"
                      f"traceur;M1;1;€7\n", encoding="utf-8")  # £7 here: two currencies
    assert imported(french, "signs_fr")[1]["cost"].tolist() == pytest.approx([1234.56, 7.0])


def test_a_currency_code_reads_as_a_sign_does(home, tmp_path: Path) -> None:
    """"12,50 EUR" and "EUR 3" were refused as "not a number", though "12,50 €" was read."""
    path = tmp_path / "codes.csv"
    path.write_text('Keyword;Kampagne;Klicks;Kosten\nuhr;K1;5;"12,50 EUR"\nwecker;K1;2;EUR 3\n'
                    'radio;K2;1;1.000,5EUR\nfunk;K2;0;"3,25 €"\n', encoding="utf-8")
    summary, terms = imported(path, "codes")
    assert (summary.rows, summary.warnings) == (4, [])
    assert terms["cost"].tolist() == pytest.approx([12.5, 3.0, 1000.5, 3.25])
    dollars = tmp_path / "usd.csv"
    dollars.write_text("Keyword,Campaign,Cost\nshoes,C1,USD 3\nboots,C1,$1.50\n",
                       encoding="utf-8")
    assert imported(dollars, "usd")[1]["cost"].tolist() == pytest.approx([3.0, 1.5])


@pytest.mark.parametrize(("first", "second"), [("$5", "7 €"), ("USD 3", "12.50 EUR"),
                                               ("£2", "USD 1")])
def test_cells_of_one_column_in_two_currencies_are_refused_naming_both(
        home, tmp_path: Path, first: str, second: str) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(f'Keyword,Campaign,Cost\nshoes,C1,{first}\nboots,C1,1\n'
                    f'hats,C2,"{second}"\n', encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(
            f"mixed.csv, line 4, column 'Cost': '{second}' is in another currency than "
            f"'{first}' (line 2); a sum of both would mean nothing")):
        ingest.import_paths([path], "mixed")
    assert datasets.list_versions().empty
    coded = tmp_path / "coded.csv"
    coded.write_text("Keyword,Campaign,Currency code,Cost\nshoes,C1,USD,5\n"
                     "boots,C1,USD,5 EUR\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3, column 'Cost': '5 EUR' is not in USD, the "
                                         "currency code of its row"):
        ingest.import_paths([coded], "coded")


@pytest.mark.parametrize("cell", ["€5 €", "12,50 EUR EUR", "5 € €", "12,50 eur", "12 PCS",
                                  "PCS 5", "3,50 XYZ"])
def test_a_cell_with_two_signs_or_a_currency_code_is_refused(home, tmp_path: Path,
                                                             cell: str) -> None:
    """Three capitals ISO 4217 lacks ("12 PCS") were read as a currency: 12 in "PCS"."""
    path = tmp_path / "odd.csv"
    path.write_text(f'Keyword;Kampagne;Klicks;Kosten\nuhr;K1;5;"1,50 €"\nwecker;K1;2;"{cell}"\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=f"odd.csv, line 3, column 'Kosten': '{cell}' is not "
                                         "a number"):
        ingest.import_paths([path], "odd")
    assert datasets.list_versions().empty


@pytest.mark.parametrize("range_line", [
    "1. Mai 2024 - 1. Mai 2024", "1. Mai 2024", "1er mai 2024 - 1 mai 2024",
    "1 may. 2024 - 1 may. 2024", "1 de mayo de 2024 - 1 de mayo de 2024", "1 mag 2024",
    "1 de mai. de 2024 - 1 de maio de 2024", "1 mei 2024 – 1 mei 2024",
    "2024年5月1日～2024年5月1日", "May 1, 2024 - May 1, 2024"])
def test_translated_one_day_range_line_dates_the_rows(home, tmp_path: Path,
                                                      range_line: str) -> None:
    path = ui_download(tmp_path / "day.csv", "Suchbegriffbericht", range_line, [
        ["Suchbegriff", "Kampagne", "Klicks"], ["uhr", "K1", "3"], ["wecker", "K2", "1"]])
    terms = imported(path, "day")[1]
    assert pd.to_datetime(terms["date"]).tolist() == [pd.Timestamp("2024-05-01")] * 2


@pytest.mark.parametrize("range_line", [
    "1. Mai 2024 - 31. Mai 2024", "3. Sept. 2024 - 31. Dez. 2024", "1 ma 2024 - 1 ma 2024",
    "31. Februar 2024 - 31. Februar 2024"])
def test_a_translated_range_or_unreadable_day_leaves_rows_undated(home, tmp_path: Path,
                                                                  range_line: str) -> None:
    """As in English: figures summed over a range belong to no one day; a month that is
    no month ("ma": März or Mai) or no such day gives no date rather than a wrong one."""
    path = ui_download(tmp_path / "range.csv", "Suchbegriffbericht", range_line, [
        ["Suchbegriff", "Kampagne", "Klicks"], ["uhr", "K1", "3"]])
    summary, terms = imported(path, "range")
    assert summary.rows == 1 and terms["date"].isna().all()


def test_month_names_and_abbreviations() -> None:
    from core.data.readers import _report_date

    assert _report_date("31. Dez. 2024 - 31. Dezember 2024") == pd.Timestamp("2024-12-31")
    assert _report_date("3 févr. 2024") == pd.Timestamp("2024-02-03")
    assert _report_date("7 de set. de 2024") == pd.Timestamp("2024-09-07")
    assert _report_date("9 mrt 2024") == pd.Timestamp("2024-03-09")
    assert _report_date("２０２４年１０月５日") == pd.Timestamp("2024-10-05")
    assert _report_date("1 ju 2024") is None  # Juni or Juli


@pytest.mark.parametrize("all_time", ["Gesamter Zeitraum", "Gesamte Laufzeit",
                                      "Toute la période", "Todo el período",
                                      "Tutto il periodo", "Todo o período", "全期間"])
def test_translated_all_time_line_is_the_range_line(home, tmp_path: Path,
                                                    all_time: str) -> None:
    """Before: the all-time line (no year in it) was taken for the header, and the file
    refused as having no term column."""
    path = ui_download(tmp_path / "all.csv", "Keyword-Bericht", all_time, [
        ["Keyword", "Kampagne", "Klicks"], ["uhr", "K1", "3"]])
    summary, terms = imported(path, "all")
    assert summary.rows == 1 and terms["term"].tolist() == ["uhr"]
    assert terms["date"].isna().all()
    assert stored_format("all") == "google_ads_keyword_report"


def test_mixed_number_styles_are_refused_naming_a_cell_of_each(home, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text('keyword;campaign;clicks;cost\nuhr;K1;5;"1.234,56"\nclock;C1;7;"1,234.50"\n',
                    encoding="utf-8")
    with pytest.raises(InputError) as caught:
        ingest.import_paths([path], "mixed")
    message = str(caught.value)
    assert message.startswith("mixed.csv:") and "two styles" in message
    assert "'1.234,56' (line 2, column 'cost')" in message
    assert "'1,234.50' (line 3, column 'cost')" in message
    assert datasets.list_versions().empty  # nothing stored


def test_ambiguous_cells_follow_the_header_language(tmp_path: Path) -> None:
    """"1.234" alone is 1234 under German headers (with a warning) and 1.234 under English
    ones, as before."""
    german = tmp_path / "de.csv"
    german.write_text("Keyword;Kampagne;Klicks;Kosten\nuhr;K1;5;1.234\nwecker;K1;2;2.500\n",
                      encoding="utf-8")
    result = read_paths([german])
    assert result.frame["cost"].tolist() == [1234.0, 2500.0]
    assert len(result.warnings) == 1
    assert "'1.234' (line 2, column 'Kosten')" in result.warnings[0]
    assert "decimal comma" in result.warnings[0] and "'Kampagne'" in result.warnings[0]

    english = tmp_path / "en.csv"
    english.write_text("keyword,campaign,clicks,cost\nwatch,C1,5,1.234\n", encoding="utf-8")
    result = read_paths([english])
    assert result.frame["cost"].tolist() == [1.234] and result.warnings == []


def test_decimal_comma_file_refuses_a_decimal_point_cell_it_cannot_place(tmp_path: Path
                                                                          ) -> None:
    path = tmp_path / "odd.csv"
    path.write_text('Keyword;Kampagne;Klicks;Kosten\nuhr;K1;5;"12,5"\nwecker;K1;2;1.2345\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"odd.csv, line 3, column 'Kosten': '1.2345' is not "
                                         "a number"):
        read_paths([path])


def test_rival_columns_compare_in_the_file_style(tmp_path: Path) -> None:
    path = tmp_path / "rival.csv"
    path.write_text('Keyword;Kampagne;Impr.;Impressionen\nuhr;K1;"1.234";"1.234"\n'
                    'wecker;K1;"12,0";"12"\n', encoding="utf-8")
    assert read_paths([path]).frame["impressions"].tolist() == [1234, 12]


def test_translated_aliases_collide_with_no_other_column() -> None:
    """Only a lone campaign column feeds both campaign id and name, in every language."""
    owners: dict[str, set[str]] = {}
    for column, aliases in _NORMALISED_ALIASES.items():
        for alias in aliases:
            owners.setdefault(alias, set()).add(column)
    shared = {alias for alias, columns in owners.items() if len(columns) > 1}
    assert all(owners[a] == {"campaign_id", "campaign_name"} for a in shared)
    assert {normalise_name(a) for a in ("Campaign", "Kampagne", "Campagne", "Campaña",
                                        "Campagna", "Campanha", "キャンペーン")} == shared


def test_sony_exports_import_as_before(home) -> None:
    folder = shared_data(SONY)
    summary = ingest.import_paths([folder], "sony")
    terms = datasets.terms("sony", summary.version)
    assert (summary.rows, summary.campaigns, summary.warnings) == (6634, 16, [])
    assert int(terms["clicks"].sum()) == 209_649


@pytest.mark.parametrize("cell, expected", [
    ("Genau passend", "exact"), ("Exakt passend (ähnliche Variante)", "exact"),
    ("Passende Wortgruppe", "phrase"), ("Weitgehend passend", "broad"),
    ("Mot clé exact", "exact"), ("Expression exacte", "phrase"), ("完全一致", "exact"),
    ("Exact match (close variant)", "exact"), ("Kein Typ", None)])
def test_translated_match_type_names(cell: str, expected: str | None) -> None:
    from core.data.columns import normalise_name
    from core.data.match_types import named_match_type

    assert named_match_type(normalise_name(cell)) == expected
