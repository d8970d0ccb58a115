"""Exports round numbers to what they mean; a dataset's cost knows its currency."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data import datasets, export, ingest, readers
from core.errors import InputError, NotFoundError
from core.model import actions
from tests.conftest import FIXTURES


def test_export_rounds_per_column_and_keeps_counts_whole():
    frame = pd.DataFrame({"term": ["a", "b"], "cost": [155.49999999999997, None],
                          "similarity": [0.87432189, 0.1], "ctr": [0.1234567, 0.5],
                          "neighbor_clicks": [3.0, None], "score": [1 / 3, 0.5]})
    text = export.to_csv(frame, columns=["similarity", "term"])
    assert text.splitlines() == ["similarity,term,cost,ctr,neighbor_clicks,score",
                                 "0.874322,a,155.5,0.1235,3,0.333",   # as answers show it
                                 "0.1,b,,0.5,,0.5"]
    assert export.export_frame(frame)["cost"].tolist()[0] == 155.5
    assert frame["cost"].iloc[0] != 155.5  # the input is left alone


def test_actions_export_has_no_float_noise():
    evidence = pd.DataFrame({"term": ["x"], "cost": [0.1 + 0.2], "fit": [0.123456]})
    rows = export.to_csv(actions.to_frame([actions.Action(
        "add_negatives", "Add 1 negative keyword", "why", 0.7071067811865476, evidence)]))
    assert "0.30000000000000004" not in rows and "0.7071067811865476" not in rows
    assert rows.splitlines()[1].endswith(",0.707,x,0.3,0.123")


def test_google_ads_currency_code_becomes_the_dataset_currency(home):
    result = readers.read_paths([FIXTURES / "sony" / "PO_brand.csv"])
    assert result.currency == "JPY"
    ingest.import_result(result, "sony")
    assert datasets.currency("sony") == "JPY"


def test_a_currency_code_column_holding_no_iso_code_is_refused(home, tmp_path):
    """A "Currency code" cell "PCS" became the dataset's currency; " --" stays no code."""
    path = tmp_path / "codes.csv"
    path.write_text("Campaign,Keyword,Currency code,Cost\nC1,a, --,5\nC2,b,pcs,3\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"codes\.csv, line 3, column 'Currency code': 'pcs' is "
                                         r"not an ISO 4217 currency code"):
        ingest.import_paths([path], "shop")
    assert datasets.list_versions().empty
    path.write_text("Campaign,Keyword,Currency code,Cost\nC1,a, --,5\nC2,b,eur,3\n",
                    encoding="utf-8")
    ingest.import_paths([path], "shop")
    assert datasets.currency("shop") == "EUR"


def test_currency_setting_is_checked(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    assert datasets.currency("shop") is None
    with pytest.raises(InputError, match="'EURO' is not an ISO 4217 code"):
        datasets.set_currency("shop", "euro")
    with pytest.raises(InputError, match="'PCS' is not an ISO 4217 code"):
        datasets.set_currency("shop", "pcs")
    with pytest.raises(NotFoundError, match="No dataset named 'nope'"):
        datasets.set_currency("nope", "EUR")
    assert datasets.set_currency("shop", " usd ") == "USD"
    assert datasets.currency("shop") == "USD"
