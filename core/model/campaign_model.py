"""CampaignModel: from term rows to fingerprints, topics, neighbours and suggested actions.

The notebook API, scikit-learn style (`__init__` stores settings, `fit` learns the
attributes ending in `_`), with no store involved:

    from core import CampaignModel, read_terms
    terms = read_terms(["exports/"])
    model = CampaignModel(k=40, engine="tomotopy", seed=0).fit(terms)
    model.neighbors("C00042", n=10)

The store's `core.serve.lookup.Lookup` answers with the same functions defined here (neighbour
index, neighbour table, campaign table rules, actions, keyword fold-in), so a model gives
the same answers in a notebook and on the Lookup page. `save` writes the registry's
artifact format (`core.model.artifact`); `core.serve.registry.register_fitted` registers a fitted
model against a dataset version holding the same rows.

This module is the model layer: it never touches the store.
"""

from __future__ import annotations

import copy
import numbers
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from os import PathLike, fspath
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import metadata_routing

from core import whole
from core.config import STORE_FILE
from core.data.columns import lacking_columns
from core.data.currencies import checked_code, shown_sums
from core.data.files import check_not_a_pattern, given_path
from core.data.schema import METRIC_COLUMNS, ROW_POSITION
from core.errors import (
    InputError,
    NotFoundError,
    TopicLabError,
    case_hint,
    counted,
    plural,
    quoted,
    shown,
)
from core.jsonable import RATE_DECIMALS, python_numbers
from core.model import actions, artifact, brand, fitted_k, namewords, relevance, spare_topics
from core.model.brand import BrandIndex
from core.model.corpus import Corpus, EncodedCounts, Encoder
from core.model.engines import (
    DEFAULT_ENGINE,
    DEFAULTS,
    MAX_K,
    MIN_K,
    Engine,
    bow_matrix,
    check_params,
    fitting_k,
    make_engine,
    shown_topics,
    size_warnings,
    split_hidden,
)
from core.model.metrics import TOPN, topic_diversity
from core.model.neighbors import (
    DEFAULT_METRIC,
    DEFAULT_TERM_WEIGHT,
    DEFAULT_VECTOR_WEIGHT,
    MIN_SIMILARITY,
    NeighborIndex,
    check_weights,
    neighbors_frame,
)
from core.model.text import TextConfig
from core.plain_text import given_id

# Per-campaign columns shown beside each neighbour (the Lookup page's table).
PERFORMANCE = ["campaign_name", "account", "label", "terms", "impressions", "clicks", "cost",
               "conversions", "ctr", "cpc", "conversion_rate"]
# Of those, the amounts (in the cost's currency) and the sums of counts that answers round
# as reports show them (`shown_performance`).
PERFORMANCE_MONEY = ("cost", "cpc")
PERFORMANCE_COUNTS = ("impressions", "clicks", "conversions")
PERFORMANCE_RATES = ("ctr", "conversion_rate")
# How the neighbours table reads: who, how similar, how it performs, then the detail.
NEIGHBOR_COLUMNS = ["campaign_name", "campaign_id", "similarity", "ctr", "cpc",
                    "conversion_rate", "clicks", "impressions", "cost", "conversions",
                    "shared_topics", "account", "label", "terms", "topic_similarity",
                    "term_similarity", "vector_similarity", "group_similarity"]
TERMS_FILE = "terms.parquet"
CURRENCY_ATTR = "currency"  # of term rows' cost: read_terms sets it in the frame's attrs
CURRENCY_KEY = "currency"  # of the model's cost, in the manifest `save` writes


# -- fingerprints of new keywords ---------------------------------------------------------
UNKNOWN_SHOWN = 50  # unknown words listed at most
AUTO_K = "auto"  # CampaignModel(k=AUTO_K): a K fitted to the data, as the pipeline fits one


def words_in_order(tokens: Iterable[str]) -> list[str]:
    """Distinct tokens, the most frequent first, ties in alphabetical order: an order that
    does not depend on the order the keywords came in. The scoring service answers (and
    caches) a keyword set sorted, whatever order it was sent in, and the CLI reads it as
    given: listed in first-seen order, the same keywords gave their unknown words in two
    orders."""
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return sorted(counts, key=lambda t: (-counts[t], t))


@dataclass
class Fingerprint:
    """One campaign's topic weights, with what the encoder could and could not read."""

    weights: np.ndarray            # length K, sums to 1
    oov_share: float               # share of tokens not in the model's vocabulary
    known_tokens: list[str] = field(default_factory=list)
    unknown_tokens: list[str] = field(default_factory=list)   # every token not in it
    dropped: dict[str, str] = field(default_factory=dict)     # of those: seen in training
                                                              # but filtered out -> why
    bow: list[tuple[int, float]] = field(default_factory=list, repr=False)  # as folded in
    # over the hidden topics too (`Engine.transform_all`, `hidden_spares`); None: `weights`
    all_weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def for_neighbours(self) -> np.ndarray:
        """The vector a neighbour index ranks this campaign by: every topic, hidden ones
        included."""
        return self.weights if self.all_weights is None else self.all_weights

    def __eq__(self, other: object) -> bool:
        """Field by field, the weights as arrays: the dataclass's own `==` compared the
        fields as tuples, "ValueError: The truth value of an array with more than one
        element is ambiguous" (also for `fingerprint in a_list`)."""
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return all(np.array_equal(mine, theirs) if isinstance(mine, np.ndarray)
                   else mine == theirs
                   for mine, theirs in ((getattr(self, f.name), getattr(other, f.name))
                                        for f in fields(self)))

    @property
    def confidence(self) -> float:
        """The largest topic weight: the share of the campaign its main topic holds."""
        return float(self.weights.max())

    @property
    def hidden_share(self) -> float:
        """The share of the campaign on topics kept hidden (`hidden_spares`; 0 without):
        `weights` describe only the rest, renormalised."""
        if self.all_weights is None:
            return 0.0
        return float(self.all_weights[len(self.weights):].sum())

    @property
    def knows_no_word(self) -> bool:
        """No word of the campaign is in the model's vocabulary: its weights are the prior
        alone (1/K on every topic), which says nothing of what it is about."""
        return self.oov_share >= 1

    @property
    def never_seen_tokens(self) -> list[str]:
        """Unknown tokens the training data never had (not merely filtered out)."""
        return [t for t in self.unknown_tokens if t not in self.dropped]

    @property
    def dropped_tokens(self) -> list[str]:
        """Unknown tokens the training data had but the vocabulary filters removed."""
        return [t for t in self.unknown_tokens if t in self.dropped]

    def unknown_words(self, limit: int = UNKNOWN_SHOWN) -> list[str]:
        """The distinct words the model could not read (`unknown_words` of the CLI, the
        Lookup answer and the scoring service), in `words_in_order`."""
        return words_in_order(self.unknown_tokens)[:limit]

    def unknown_report(self) -> dict[str, object]:
        """Why words were not used, in shares of all tokens and distinct examples (in
        `words_in_order`)."""
        total = len(self.known_tokens) + len(self.unknown_tokens)
        never, dropped = self.never_seen_tokens, self.dropped_tokens
        return {
            "never_seen_share": round(len(never) / total, 4) if total else 0.0,
            "dropped_share": round(len(dropped) / total, 4) if total else 0.0,
            "never_seen": words_in_order(never)[:UNKNOWN_SHOWN],
            "dropped": {t: self.dropped[t] for t in words_in_order(dropped)[:UNKNOWN_SHOWN]},
        }



def fold_in_keywords(encoder: Encoder, engine: Engine, terms: Sequence[str],
                     model_name: str) -> Fingerprint:
    """Fingerprint of keywords that are not in the model's data (pasted, or from a file)."""
    result = fold_in_keyword_lists(encoder, engine, [terms], model_name)[0]
    if isinstance(result, InputError):
        raise result
    return result


def read_words(encoder: Encoder, terms: Sequence[str]) -> Fingerprint | None:
    """What the model reads of a stored campaign's terms: its known and unknown words, and
    why each dropped one was dropped, without folding them in (its weights are stored, so
    `weights` is left empty). Also when the model knows none of them, which
    `fold_in_keywords` refuses: the Lookup page showed "Words the model does not use:
    100%" and not one word. None when the terms hold no word at all."""
    cleaned = [t.strip() for t in terms if t and t.strip()]
    tokens = [tok for term in encoder.tokenizer.tokenize_terms(cleaned) for tok in term
              ] if cleaned else []
    if not tokens:
        return None
    vocabulary = encoder.dictionary.token2id
    known = [t for t in tokens if t in vocabulary]
    unknown = [t for t in tokens if t not in vocabulary]
    dropped = {t: encoder.dropped[t] for t in unknown if t in encoder.dropped}
    return Fingerprint(np.empty(0), len(unknown) / len(tokens), known, unknown, dropped)


def fold_in_keyword_lists(encoder: Encoder, engine: Engine,
                          keyword_lists: Sequence[Sequence[str]], model_name: str
                          ) -> list[Fingerprint | InputError]:
    """`fold_in_keywords` of many new campaigns at once (`model_name`: as messages name
    it, "model <id>" or "this model"): one tokenizer pass over all their
    terms and one `transform` call. Each item is its fingerprint, or the InputError that
    `fold_in_keywords` would raise for it; a fingerprint does not depend on the others."""
    cleaned = [[t.strip() for t in terms if t and t.strip()] for terms in keyword_lists]
    flat = [t for terms in cleaned for t in terms]
    tokenized = iter(encoder.tokenizer.tokenize_terms(flat) if flat else [])
    vocabulary = encoder.dictionary.token2id
    results: list[Fingerprint | InputError] = []
    bows, slots = [], []
    for terms in cleaned:
        if not terms:
            results.append(InputError("No keywords were given: paste one keyword per line or "
                                      "separate them with commas."))
            continue
        tokens = [tok for _ in terms for tok in next(tokenized)]
        known = [t for t in tokens if t in vocabulary]
        unknown = [t for t in tokens if t not in vocabulary]
        if not known:
            shown = ", ".join(dict.fromkeys(unknown)) if unknown else "none after stop words"
            results.append(InputError(
                f"None of the words is in the vocabulary of {model_name} (words "
                f"found: {shown[:300]}), so no fingerprint can be computed. Add keywords "
                "closer to the campaigns the model was trained on."))
            continue
        bow, oov = encoder.encode(tokens)
        bows.append(bow)
        slots.append(len(results))
        dropped = {t: encoder.dropped[t] for t in unknown if t in encoder.dropped}
        results.append(Fingerprint(np.empty(0), oov, known, unknown, dropped, bow))
    if bows:
        every = engine.transform_all(bows)
        shown, hidden = split_hidden(every, engine.k)
        for slot, row, all_row in zip(slots, shown, every, strict=True):
            results[slot].weights = row  # type: ignore[union-attr]
            if hidden is not None:
                results[slot].all_weights = all_row  # type: ignore[union-attr]
    return results


# -- per-campaign table -------------------------------------------------------------------
def campaign_table(terms: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign (index `campaign_id`, sorted): name, account, row counts,
    totals and rates, most common label. The same rules as the store's `campaigns` view
    (totals from `core.model.actions.campaign_totals`); a test checks that they agree."""
    frame = terms.assign(campaign_id=terms["campaign_id"].astype(str))
    groups = frame.groupby("campaign_id", sort=True)

    def first(column: str) -> pd.Series:
        if column not in frame:
            return pd.Series(None, index=groups.size().index, dtype=object)
        return groups[column].first()

    table = pd.DataFrame({"campaign_name": first("campaign_name"),
                          "account": first("account"), "terms": groups.size()})
    kind = frame["term_type"] if "term_type" in frame else pd.Series(None, index=frame.index)
    table["search_terms"] = (kind == "search_term").groupby(frame["campaign_id"]).sum()
    totals = actions.campaign_totals(frame).reindex(table.index)
    for column in METRIC_COLUMNS:
        table[column] = totals[column]
    table["ctr"] = table["clicks"] / table["impressions"].where(table["impressions"] != 0)
    table["cpc"] = table["cost"] / table["clicks"].where(table["clicks"] != 0)
    table["conversion_rate"] = table["conversions"] / table["clicks"].where(table["clicks"] != 0)
    table["label"] = _most_common_label(frame).reindex(table.index)
    table.index.name = "campaign_id"
    return table


def _most_common_label(frame: pd.DataFrame) -> pd.Series:
    """Each campaign's most common label (a tie: the one seen first), counted in one
    groupby: a `value_counts` per campaign took 0.9 of the 1.1 s a registry model's load
    with its 157,000 demo rows took (`registry.campaign_model` reads them by default)."""
    if "label" not in frame:
        return pd.Series(dtype=object)
    labels = frame.dropna(subset=["label"])
    counts = labels.groupby(["campaign_id", "label"], sort=False).size()
    best = counts.sort_values(ascending=False, kind="stable").reset_index()
    best = best.drop_duplicates("campaign_id")
    return pd.Series(best["label"].to_numpy(), index=best["campaign_id"].to_numpy(),
                     dtype=labels["label"].dtype)


def decoded(table: pa.Table) -> pa.Table:
    """`table` with its run-end encoded columns (the term file's per-campaign ones) as
    plain arrays, which `take`, `sort_by` and `to_pandas` need."""
    for i, column in enumerate(table.schema):
        if pa.types.is_run_end_encoded(column.type):
            table = table.set_column(i, column.name, pc.run_end_decode(table.column(i)))
    return table


class GroupedTermRows(Protocol):
    """Term rows already grouped by campaign, with each row's import position in
    `ROW_POSITION` (Lookup's term file on disk, `core.data.term_file.TermFile`)."""

    table: pa.Table             # campaign i's rows are table[bounds[i]:bounds[i + 1]]
    campaign_ids: list[str]
    bounds: np.ndarray
    accounts: pd.DataFrame      # distinct (account, campaign_id) pairs


class TermRows:
    """Term rows grouped by campaign, so a query gathers a few hundred rows instead of
    scanning millions.

    Holds a DataFrame, an Arrow table, or `GroupedTermRows` (Lookup: the rows on disk, sorted by
    campaign and memory-mapped; in memory they did not fit at 1,000,000 campaigns). For
    Arrow, only the rows a query gathers are converted to pandas (turning 5M rows of
    strings into pandas objects was most of a load at 100,000 campaigns). The table stays
    in the record batches it was read in: joining them into one copied ~1 GB at that size,
    and a take over many chunks is ~300x slower than per batch, so `of` takes from each
    batch it needs (from a grouped source it slices each campaign's run of rows, and
    decodes the run-end encoded columns of those rows only). Whatever it holds, `of`
    returns the same DataFrame, indexed by the rows' import positions.
    """

    def __init__(self, terms: pd.DataFrame | pa.Table | GroupedTermRows) -> None:
        grouped = not isinstance(terms, pd.DataFrame | pa.Table)
        self._grouped = grouped
        self.terms = terms.table if grouped else terms
        self._by_account: dict | None = None
        if isinstance(self.terms, pa.Table):
            self._batches = self.terms.to_batches()
            self._starts = np.cumsum([0] + [len(b) for b in self._batches])
            # As the whole table's to_pandas: integers with a gap anywhere come as float64.
            self._as_float = [c.name for c in self.terms.schema if pa.types.is_integer(c.type)
                              and c.name != ROW_POSITION and self.terms.column(c.name).null_count]
        # (account, campaign_id) pairs for `of_account`: a grouped source has them already
        self._account_pairs = terms.accounts if grouped else None
        if grouped:   # by campaign already: no index to build
            self._bounds = terms.bounds
            self._code_of = {cid: i for i, cid in enumerate(terms.campaign_ids)}
            return
        if isinstance(terms, pa.Table):
            encoded = pc.dictionary_encode(terms.column("campaign_id").combine_chunks())
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            campaigns = encoded.dictionary.to_pylist()
        else:
            codes, campaigns = pd.factorize(terms["campaign_id"].astype(str))
        self._rows_by_code = np.argsort(codes, kind="stable")
        self._bounds = np.searchsorted(codes[self._rows_by_code], np.arange(len(campaigns) + 1))
        self._code_of = {cid: i for i, cid in enumerate(campaigns)}

    def _columns(self) -> list[str]:
        if isinstance(self.terms, pa.Table):
            return [c for c in self.terms.column_names if c != ROW_POSITION]
        return list(self.terms)

    def _slices(self, codes: Sequence[int]) -> list[pa.RecordBatch]:
        """The rows of some campaigns of a grouped source, in file order, as zero-copy
        slices of the mapped batches (a campaign may straddle two)."""
        slices = []
        for c in sorted(codes):
            lo, hi = int(self._bounds[c]), int(self._bounds[c + 1])
            while lo < hi:
                w = int(np.searchsorted(self._starts, lo, side="right")) - 1
                end = min(hi, int(self._starts[w + 1]))
                slices.append(self._batches[w].slice(lo - int(self._starts[w]), end - lo))
                lo = end
        return slices

    def of_account(self, account: object) -> pd.DataFrame | None:
        """The rows of every campaign of an account (None without one), for duplicate
        keywords; the account -> campaigns map is built on first use."""
        if account is None or pd.isna(account) or "account" not in self._columns():
            return None
        if self._by_account is None:
            pairs = self._account_pairs
            if pairs is None:
                pairs = (self.terms.group_by(["account", "campaign_id"], use_threads=False)
                         .aggregate([]).to_pandas() if isinstance(self.terms, pa.Table)
                         else self.terms[["account", "campaign_id"]].drop_duplicates())
            self._by_account = (pairs.dropna().groupby("account")["campaign_id"]
                                .agg(list).to_dict())
        return self.of([str(c) for c in self._by_account.get(account, [])])

    def of(self, campaign_ids: Sequence[str]) -> pd.DataFrame:
        """The rows of some campaigns, in their original order (as a boolean filter gives)."""
        codes = [self._code_of[c] for c in campaign_ids if c in self._code_of]
        if self._grouped:   # each campaign's rows are one run: sliced, then in import order
            table = decoded(pa.Table.from_batches(self._slices(codes), self.terms.schema))
            index = table.column(ROW_POSITION).to_numpy()
            order = np.argsort(index, kind="stable")
            table, positions = table.drop_columns([ROW_POSITION]).combine_chunks().take(
                order), index[order]
        else:
            parts = [self._rows_by_code[self._bounds[c]:self._bounds[c + 1]] for c in codes]
            positions = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
            if not isinstance(self.terms, pa.Table):
                return self.terms.iloc[positions]
            which = np.searchsorted(self._starts, positions, side="right") - 1
            cuts = np.flatnonzero(np.diff(which)) + 1
            table = pa.Table.from_batches(
                [self._batches[w[0]].take(p - self._starts[w[0]]) for w, p in
                 zip(np.split(which, cuts), np.split(positions, cuts), strict=True) if len(p)],
                self.terms.schema)
        frame = table.to_pandas()
        frame[self._as_float] = frame[self._as_float].astype("float64")
        frame.index = positions
        return frame


# -- neighbours and actions: what Lookup and CampaignModel both answer with ----------------
def fit_index(campaign_ids: Sequence[str], weights: np.ndarray, counts: EncodedCounts,
              what: str, encoder: Encoder, term_weight: float = DEFAULT_TERM_WEIGHT,
              vector_weight: float = DEFAULT_VECTOR_WEIGHT, metric: str = DEFAULT_METRIC,
              shown: int | None = None, groups: np.ndarray | str | None = None
              ) -> NeighborIndex:
    """The neighbour index over fingerprints (in the given campaign order) and the
    campaigns' encoded terms, with what the encoder learnt of its words: their
    similarity (soft terms) and vectors (campaign vectors), where it has them. `shown`:
    how many of the fingerprints' topics users see, when hidden ones follow them.
    `groups`: the campaigns' groups in the same order (stored at scoring), or "find"
    (`core.model.neighbor_groups`)."""
    order = pd.Index(counts.campaign_ids).get_indexer(list(campaign_ids))
    if (order < 0).any():
        raise NotFoundError(f"{what} has fingerprints of campaigns that are not in its data: "
                            "score it again.")
    return NeighborIndex(metric, term_weight, vector_weight, shown_topics=shown).fit(
        weights, campaign_ids, counts.matrix[order], encoder.word_similarity,
        encoder.word_vectors, groups)


def own_account(campaigns: pd.DataFrame, campaign_id: str, data: str) -> str:
    """The account whose campaigns `exclude_account` leaves out: refused when the campaign
    names none (exports without an account column, as Sony's), where nothing was left out
    and the advertiser's own campaigns answered first (`akashi_nonbrand` for
    `akashi_brand`) without a word. The CLI, Python, the service and Lookup all ask here."""
    account = campaigns.at[campaign_id, "account"]
    if account is None or account != account or not str(account).strip():
        raise InputError(f"campaign {quoted(campaign_id)} of {data} has no account: its "
                         "export has no account column, so there is no own account to leave "
                         "out; ask without leaving it out")
    return str(account)


def query_filters(campaigns: pd.DataFrame, account: str | None, exclude_account: bool,
                  min_terms: int) -> tuple[list[str], np.ndarray | None]:
    """(campaign ids never returned, mask of campaigns allowed) for a neighbour query."""
    exclude: list[str] = []
    if exclude_account and account:
        same = campaigns["account"] == account
        exclude = campaigns.index[same.fillna(False).to_numpy()].tolist()
    allowed = None
    if min_terms > 1:
        allowed = (campaigns["terms"].fillna(0) >= min_terms).to_numpy()
    return exclude, allowed


def shown_performance(frame: pd.DataFrame, currency: str | None) -> pd.DataFrame:
    """`frame`'s performance columns as every answer shows them (CLI, Python, service,
    pages): money to `currency`'s minor unit (a JPY CPC read 164.39383894381893), sums of
    counts without their float noise (conversions read 469.90999999999997), rates to
    `RATE_DECIMALS` (a CTR read 0.08161859664227292)."""
    shown = shown_sums(frame, currency, money=PERFORMANCE_MONEY, counts=PERFORMANCE_COUNTS)
    return shown.assign(**{c: pd.to_numeric(shown[c], errors="coerce").round(RATE_DECIMALS)
                           for c in PERFORMANCE_RATES if c in shown})


def neighbor_table(found, topic_names: Sequence[str], campaigns: pd.DataFrame,
                   currency: str | None) -> pd.DataFrame:
    """Neighbours with their similarity parts, shared topics, performance columns (rounded
    by `shown_performance` in `currency`, the cost's) and `similar_enough` (at the floor
    suggested actions use by default; Lookup re-marks it at the floor the user picked)."""
    table = neighbors_frame(found, topic_names)
    columns = {c: table[c].array for c in table}
    columns["similar_enough"] = (table["similarity"] >= MIN_SIMILARITY).to_numpy()
    # Gathered column by column and built once: `loc`, a concat and a reorder of columns
    # cost ~2.5 ms per answer, as much as the neighbour search itself.
    positions = campaigns.index.get_indexer(table["campaign_id"])
    if (positions < 0).any():
        raise KeyError(f"not among the campaigns: {table['campaign_id'][positions < 0].tolist()}")
    for c in PERFORMANCE:
        columns[c] = (campaigns[c].array.take(positions) if c in campaigns.columns
                      else np.full(len(table), np.nan))
    order = [c for c in NEIGHBOR_COLUMNS if c in columns]
    return shown_performance(pd.DataFrame(
        {c: columns[c] for c in order + [c for c in columns if c not in order]}), currency)


def suggest_actions(own: pd.DataFrame, fingerprint: Fingerprint, table: pd.DataFrame,
                    rows: TermRows, engine: Engine, vocabulary: Sequence[str],
                    term_fit: actions.TermTopicFit, topic_names: Sequence[str], *,
                    min_similarity: float = MIN_SIMILARITY,
                    brand_words: Collection[str] = (),
                    brands: BrandIndex,
                    currency: str | None = None) -> actions.SuggestionResult:
    """Suggested actions for a campaign's own rows given its neighbour table; only
    neighbours at or above `min_similarity` are learnt from (`core.model.actions`).
    brands: every advertiser's brand, built once by the caller (Lookup, CampaignModel).
    currency: of the cost, for the amounts the reasons quote."""
    close = table[pd.to_numeric(table["similarity"], errors="coerce") >= min_similarity]
    neighbor_terms = rows.of(close["campaign_id"].tolist())
    own_id = str(own["campaign_id"].iloc[0]) if len(own) else None
    return actions.suggest(own, neighbor_terms, table, fingerprint.weights,
                           topic_term=engine.topic_term_, vocab=vocabulary,
                           term_topic_fit=term_fit, topic_names=topic_names,
                           settings=actions.ActionSettings(min_similarity=min_similarity,
                                                           currency=currency),
                           brand_words=brand_words,
                           account_terms=rows.of_account(
                               own["account"].dropna().iloc[0]
                               if "account" in own and own["account"].notna().any() else None),
                           brands=brands,
                           owner_terms=(rows.of(brands.campaigns_of(own_id))
                                        if own_id in brands.owner_of else None),
                           prior_only=fingerprint.knows_no_word)


def keyword_rows(keywords: Sequence[str]) -> pd.DataFrame:
    """Pasted keywords as the term rows of a new campaign (for its actions)."""
    return pd.DataFrame({"campaign_id": "(new)", "term": list(keywords), "term_type": "keyword"})


# -- reading term rows --------------------------------------------------------------------
def read_terms(paths: str | Path | Sequence[str | Path],
               encoding: str | None = None) -> pd.DataFrame:
    """Canonical term rows of files and/or folders (what an import would store), in the
    store's order (by source file, then line). `encoding`: a codec name for text files
    without a byte-order mark, as `ingest --encoding` (None: detect). Reader warnings
    become Python warnings. The exports' "Currency code" (when the files agree on one,
    as an import stores it for its dataset) is the frame's `attrs["currency"]`, which
    `CampaignModel.fit` takes as its `currency_`."""
    from core.data.readers import read_paths

    if isinstance(paths, str | PathLike):
        paths = [paths]
    elif isinstance(paths, pd.DataFrame):  # a frame's column names were read as
        # paths: "campaign_id: no such file or folder"
        raise InputError(f"read_terms reads files and folders, not a {type(paths).__name__}: "
                         "give a frame of term rows to fit or transform as it is")
    elif not isinstance(paths, Iterable) or isinstance(paths, bytes | Mapping):
        raise InputError(f"read_terms takes a file or folder name, or a list of them, not "
                         f"{paths!r:.80}")
    paths = list(paths)
    if not paths:  # as glob.glob of a pattern that matches nothing gives: "no files given"
        raise InputError("read_terms: the list of paths is empty (a glob.glob(...) that "
                         "matched no file gives one); name files or folders")
    for path in paths:
        # a shell expands a pattern, Python does not: "exports/*.csv" named no file
        check_not_a_pattern(path, "read_terms", "read_terms(glob.glob({pattern}))")
    result = read_paths(paths, encoding=encoding)
    for message in result.warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    frame = (result.frame.sort_values(["source_file", "source_line"], kind="stable")
             .reset_index(drop=True))
    frame.attrs[CURRENCY_ATTR] = result.currency
    return frame


# -- the estimator ------------------------------------------------------------------------
class ModelNotFittedError(NotFittedError, RuntimeError):
    """An answer asked of a CampaignModel before `fit` or `load`: scikit-learn's
    NotFittedError (what `check_is_fitted` raises and scikit-learn code catches), and a
    RuntimeError as it was before."""


class CampaignModel(BaseEstimator):
    """An LDA topic model of campaigns, with their fingerprints and neighbour index.

    Parameters: `k` topics, or "auto" for the K the pipeline fits to data no one chose a
    K for (`core.model.fitted_k`: what the campaigns and words hold, lowered while the
    topics repeat each other's top words); `engine` ("tomotopy", "gensim", "btm", or
    "spark" once `make spark` installed pyspark and Java); `seed`; `engine_params`, other
    engine settings (e.g. `{"iterations": 300}`; defaults in
    `core.model.engines.DEFAULTS`); `text`, a `TextConfig` (or its dict) for tokenising;
    `term_weight` and `vector_weight`, the shares of term and campaign-vector similarity
    in the neighbour ranking (`core.model.neighbors`).

    Fitted attributes: `k_` (the K trained), `k_tried_` (with "auto", when more than one
    K was tried: each K and its topic diversity, in order), `engine_`, `encoder_`,
    `vocabulary_`, `topic_term_` (K x V),
    `fingerprints_` (campaign_id x topic, rows sum to 1, float32 as stored by scoring),
    `oov_share_`, `counts_` (the encoded term matrix), `topic_names_`, `campaigns_` (one
    row per campaign), `terms_` (the rows fitted on), `index_`, `manifest_`, `currency_`
    (of the cost, for the amounts `suggest` quotes: the exports' *Currency code* as
    `read_terms` found it, kept by `save` and `load`; the dataset's for a registry model
    loaded with `core.serve.registry.campaign_model`; else None).
    """

    # `terms` is what fit and transform work on (scikit-learn's X), not metadata to route:
    # read from the signatures it was, so help() listed `set_fit_request(terms=…)` and
    # `set_transform_request(terms=…)`, which say "metadata should be passed"
    __metadata_request__fit: ClassVar[dict[str, str]] = {"terms": metadata_routing.UNUSED}
    __metadata_request__transform: ClassVar[dict[str, str]] = {
        "terms": metadata_routing.UNUSED}

    def __init__(self, k: int = 20, engine: str = DEFAULT_ENGINE, seed: int = 0,
                 engine_params: dict[str, Any] | None = None,
                 text: TextConfig | dict[str, Any] | None = None,
                 term_weight: float = DEFAULT_TERM_WEIGHT,
                 vector_weight: float = DEFAULT_VECTOR_WEIGHT) -> None:
        self.k = k
        self.engine = engine
        self.seed = seed
        self.engine_params = engine_params
        self.text = text
        self.term_weight = term_weight
        self.vector_weight = vector_weight

    # -- fitting --------------------------------------------------------------------------
    def _text_config(self) -> TextConfig:
        if self.text is None:
            return TextConfig()
        if isinstance(self.text, TextConfig):
            return self.text
        if not isinstance(self.text, Mapping):
            raise InputError(f"text must be a TextConfig or a dict of its settings, not "
                             f"{self.text!r:.80}")
        return TextConfig.from_dict(dict(self.text))

    def _make_engine(self, k: int | None = None) -> Engine:
        """The engine at `k` (default: the estimator's K; for "auto" the engine's default
        K), every setting checked first."""
        if self.k != AUTO_K and (isinstance(self.k, bool) or not isinstance(
                self.k, int | np.integer) or not MIN_K <= self.k <= MAX_K):
            raise InputError(f"K must be a whole number from {MIN_K} to {MAX_K} or {AUTO_K!r}, "
                             f"not {shown(self.k)}.")
        if self.engine_params is not None and not isinstance(self.engine_params, Mapping):
            raise InputError(f"engine_params must be a dict of engine settings, not "
                             f"{self.engine_params!r:.80}")
        given = dict(self.engine_params or {})
        for name in ("k", "seed"):
            if name in given:
                raise InputError(f"give {name} as CampaignModel({name}=...), not in "
                                 "engine_params")
        # checked as given, numpy numbers included (numbers.Real knows them), so that a
        # refusal shows what was typed: np.float32(-0.1) made Python read "not
        # -0.10000000149011612"; made Python numbers only for the engine and manifest
        check_params(self.engine, {"seed": self.seed, **given})  # as TrainSpec does
        if k is None:
            k = DEFAULTS[self.engine]["k"] if self.k == AUTO_K else int(self.k)
        return make_engine(self.engine, k=k, seed=python_numbers(self.seed),
                           **python_numbers(given))

    def fit(self, terms: pd.DataFrame, y: None = None) -> CampaignModel:
        """Tokenise the term rows (one document per campaign), train the engine, and
        fingerprint and index every campaign. `y` is ignored (scikit-learn convention).
        The cost's currency, `currency_`, is the rows' `attrs["currency"]` (`read_terms`
        sets it from the exports' "Currency code"), else None."""
        terms = _checked_frame("fit", terms)
        currency = _frame_currency(terms)
        started = time.perf_counter()
        # every setting is checked before the (minutes of) training, not after it
        check_weights(self.term_weight, self.vector_weight)
        config = self._text_config()
        engine = self._make_engine()
        corpus = Corpus.from_frame(terms, config)
        tried = []
        if self.k == AUTO_K:  # as the pipeline fits a K no one chose (`fitted_k`)
            engine, tried = fitted_k.lower_until_diverse(
                fitting_k(engine.k, len(corpus), len(corpus.vocabulary)),
                lambda k: self._make_engine(k).fit(corpus), _diversity)
        else:
            # K too large for the data: warned as `train` and the CLI warn (it said nothing)
            for note in size_warnings(self.k, len(corpus), len(corpus.vocabulary)):
                warnings.warn(note, UserWarning, stacklevel=2)
            engine.fit(corpus)
        for note in spare_topics.dropped_theme_warnings(engine):
            warnings.warn(note, UserWarning, stacklevel=2)
        counts = corpus.encoded_counts()
        names = campaign_table(terms).reindex(counts.campaign_ids)
        found = namewords.detect(counts.matrix, corpus.vocabulary,
                                 names["campaign_name"].tolist(), names["account"].tolist(),
                                 corpus.tokenizer)
        manifest = {"engine": self.engine, "params": {"k": engine.k, **_json_params(engine)},
                    "text_config": corpus.config.to_dict(), "language": corpus.language,
                    "dataset": None, "k": engine.k, "vocab_size": len(corpus.dictionary),
                    **({"k_tried": [[e.k, round(_diversity(e), 4)] for e in tried]}
                       if len(tried) > 1 else {}),
                    "metrics": {}, "name_words": found.to_dict(),
                    "timings": {"fit": round(time.perf_counter() - started, 3)},
                    "library_versions": artifact.library_versions(),
                    "estimator": _settings_as_trained(self)}
        self._set_state(manifest, engine, corpus.encoder, counts, terms)
        self.currency_ = currency
        return self

    def _set_state(self, manifest: dict[str, Any], engine: Engine, encoder: Encoder,
                   counts: EncodedCounts, terms: pd.DataFrame | None,
                   labels: dict[int, str] | None = None) -> None:
        self.manifest_ = manifest
        self.k_ = int(manifest["k"])
        self.k_tried_ = [tuple(pair) for pair in manifest.get("k_tried", [])]
        self.engine_, self.encoder_, self.counts_ = engine, encoder, counts
        self.vocabulary_ = encoder.vocabulary
        self.topic_term_ = engine.topic_term_
        self.language_ = encoder.tokenizer.language_
        ids = sorted(counts.campaign_ids)  # the store's order (fingerprints by campaign id)
        order = pd.Index(counts.campaign_ids).get_indexer(ids)
        every = engine.transform_all(counts.matrix[order]).astype(np.float32)
        weights = shown_topics(every, engine.k)
        k = weights.shape[1]
        self.fingerprints_ = pd.DataFrame(weights, index=pd.Index(ids, name="campaign_id"),
                                          columns=pd.RangeIndex(k, name="topic"))
        self.oov_share_ = pd.Series(np.asarray(counts.oov_share)[order], index=self.fingerprints_
                                    .index, name="oov_share")
        excluded = namewords.NameWords.from_dict(manifest.get("name_words"))
        self.brand_words_ = excluded.brand  # kept out of keyword ideas (as in Lookup)
        auto = relevance.automatic_names(engine.topic_term_,
                                         relevance.encoder_word_share(encoder),
                                         encoder.vocabulary, excluded, 3)
        self.topic_names_ = [(labels or {}).get(t) or name for t, (name, _, _) in
                             enumerate(auto)]
        self.terms_ = terms
        if terms is not None:
            self.campaigns_ = campaign_table(terms).reindex(ids)
            self._rows = TermRows(terms)
        else:
            self.campaigns_ = pd.DataFrame(index=self.fingerprints_.index, columns=PERFORMANCE)
            self._rows = None
        self._brand_index: BrandIndex | None = None  # built by `_brands` when first asked
        self.currency_: str | None = None
        self.index_ = fit_index(ids, every, counts, "This model", encoder,
                                self.term_weight, self.vector_weight, shown=engine.k,
                                groups="find")  # as scoring finds them for Lookup
        self._term_fit = actions.term_topic_fit_from(encoder, engine)

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise ModelNotFittedError("CampaignModel is not fitted: call fit(terms) or "
                                      "load(path)")

    @property
    def _name(self) -> str:
        """The model as messages name it: `model <id>` once registered, else `this model`
        (a model fitted in Python said "the vocabulary of model CampaignModel")."""
        model_id = self.manifest_.get("model_id")
        return f"model {model_id}" if model_id else "this model"

    @property
    def _data(self) -> str:
        """The rows the model was trained on, for messages: a registry model's dataset
        version, as the CLI names it (a Sony id asked of a demo model was "No campaign
        'akashi_brand' in the data of tomotopy-k50-…", which dataset that was unsaid)."""
        dataset = self.manifest_.get("dataset")
        if isinstance(dataset, Mapping) and dataset.get("name") is not None:
            return (f"{dataset['name']} v{dataset.get('version')} (the data of "
                    f"{self._name})")
        return f"the data of {self._name}"

    # -- answers --------------------------------------------------------------------------
    def transform(self, terms: pd.DataFrame) -> pd.DataFrame:
        """Fingerprints of the campaigns in other term rows (campaign_id x topic), one row
        per campaign with a term, in the order the rows first name them (not sorted, as
        `fingerprints_` is)."""
        self._check_fitted()
        terms = _checked_frame("transform", terms)
        ids, matrix, _ = self.encoder_.encode_frame(terms, as_matrix=True)
        return self._fingerprints_of(terms, ids, matrix)

    def fit_transform(self, terms: pd.DataFrame, y: None = None) -> pd.DataFrame:
        """`fit(terms)`, then the fingerprints `transform(terms)` gives, in its row order
        (campaigns as the rows first name them), as scikit-learn's fit_transform: it was
        missing, so a Pipeline step or `fit_transform` call failed. The rows are encoded
        once: fit's own encoding is what `transform` would make of them again."""
        self.fit(terms, y)
        return self._fingerprints_of(self.terms_, self.counts_.campaign_ids,
                                     self.counts_.matrix)

    def _fingerprints_of(self, terms: pd.DataFrame, ids: Sequence[str], matrix: Any
                         ) -> pd.DataFrame:
        """The fingerprints of encoded campaigns (`ids`, rows of `matrix`), warning of
        those `_unread_campaigns` finds at the user's line."""
        for note in _unread_campaigns(terms, ids, matrix):
            warnings.warn(note, UserWarning, stacklevel=3)
        weights = self.engine_.transform(matrix).astype(np.float32)
        return pd.DataFrame(weights, index=pd.Index(ids, name="campaign_id"),
                            columns=pd.RangeIndex(weights.shape[1], name="topic"))

    def topics(self, n: int = 10) -> pd.DataFrame:
        """One row per topic: `topic`, `name`, the `n` `words` it shows (picked for coherence
        by default, `shown_words`) and their `weights`, in probability order."""
        self._check_fitted()
        n = whole.whole("n", n, 1)
        phi = self.topic_term_
        shown = [self.engine_.top_word_ids(t, n) for t in range(phi.shape[0])]
        return pd.DataFrame({
            "topic": range(phi.shape[0]), "name": self.topic_names_,
            "words": [[self.vocabulary_[i] for i in row] for row in shown],
            "weights": [phi[t, row].round(6).tolist() for t, row in enumerate(shown)],
        })

    def fingerprint(self, keywords: Sequence[str] | str) -> Fingerprint:
        """Fingerprint of a new campaign's keywords (a list of them, or one keyword)."""
        self._check_fitted()
        return fold_in_keywords(self.encoder_, self.engine_, _keyword_list(keywords),
                                self._name)

    def _check_campaign(self, campaign_id: str) -> str:
        if _missing(campaign_id):  # was "No campaign 'None'", as if an id were "None"
            raise InputError(f"campaign_id: give a campaign id, not {campaign_id!r}.")
        if not pd.api.types.is_scalar(campaign_id):  # was "No campaign \"['C1', 'C2']\""
            raise InputError(f"campaign_id: give one campaign id, not a "
                             f"{type(campaign_id).__name__} ({list(campaign_id)!r:.80}); ask once "
                             "per campaign.")
        campaign_id = given_id(str(_id_text(campaign_id)))  # trimmed, as an import trims
        if campaign_id not in self.index_.position_:  # a scan for the hint, on a miss only
            hint = case_hint(campaign_id, self.index_.position_, "Campaign ids")
            raise NotFoundError(f"No campaign {quoted(campaign_id)} in {self._data}.{hint}")
        return campaign_id

    def neighbors(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                  min_terms: int = 0) -> pd.DataFrame:
        """The n most similar campaigns with similarity, shared topics and performance:
        the table the Lookup page shows. `exclude_account`: leave out the campaign's own
        account's campaigns; `min_terms`: only campaigns with at least that many term rows."""
        self._check_fitted()
        n, min_terms = whole.whole("n", n, 1), whole.whole("min_terms", min_terms, 0)
        exclude_account = whole.flag("exclude_account", exclude_account)  # "no" left it out
        campaign_id = self._check_campaign(campaign_id)
        account = own_account(self.campaigns_, campaign_id, self._data) if exclude_account \
            else None
        exclude, allowed = query_filters(self.campaigns_, account, exclude_account, min_terms)
        found = self.index_.query_id(campaign_id, n, exclude=exclude, allowed=allowed)
        return neighbor_table(found, self.topic_names_, self.campaigns_, self.currency_)

    def suggest(self, campaign: str | Sequence[str], n: int = 10, *,
                currency: str | None = None) -> actions.SuggestionResult:
        """Suggested actions (best first, with evidence) for a campaign id, or for the
        keywords of a new campaign (a list of them; one text is an id): the same as the
        Lookup page's, learnt from its `n` nearest neighbours. `core.model.actions.to_frame`
        turns them into one table. `currency`: an ISO 4217 code, the cost's, for the
        amounts reasons quote (default `currency_`): they said "spent 30.00" where the
        app says "spent 30 JPY"."""
        self._check_fitted()
        n = whole.whole("n", n, 1)
        currency = self.currency_ if currency is None else checked_code(currency)
        if self._rows is None:
            raise InputError("This model was loaded without its term rows: "
                             "CampaignModel.load(path, terms=...) to get suggestions (a "
                             "registry model: core.serve.registry.campaign_model(model_id), "
                             "which reads its dataset version's rows).")
        if _missing(campaign):  # list(None) was "TypeError: 'NoneType' object is not iterable"
            raise InputError(f"campaign: give a campaign id or a list of keywords, not "
                             f"{campaign!r}.")
        if isinstance(campaign, str | bytes) or (isinstance(campaign, numbers.Real)
                                                 and not isinstance(campaign, bool)):
            # an id (as a number or bytes too, as neighbors takes it: b"C1" was read as
            # the keywords [67, 49]); one that is not there: say so
            campaign = self._check_campaign(campaign)
        if isinstance(campaign, str):
            table = self.neighbors(campaign, n)
            i = self.fingerprints_.index.get_loc(campaign)
            fingerprint = Fingerprint(self.fingerprints_.to_numpy()[i].astype(float),
                                      float(self.oov_share_.iloc[i]))
            own = self._rows.of([campaign])
        else:
            # a dict's keys were taken as its keywords
            keywords = _keyword_list(campaign, "campaign")
            fingerprint = self.fingerprint(keywords)
            table = self._keyword_neighbors(fingerprint, n)
            own = keyword_rows(keywords)
        return suggest_actions(own, fingerprint, table, self._rows, self.engine_,
                               self.vocabulary_, self._term_fit, self.topic_names_,
                               brand_words=self.brand_words_, brands=self._brands(),
                               currency=currency)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the brand index, a cache of closures that pickle refuses
        (`known_by.<locals>.known`): `_brands` builds it again when first asked."""
        state = super().__getstate__()
        if state.get("_brand_index") is not None:
            state = {**state, "_brand_index": None}
        return state

    def _brands(self) -> BrandIndex:
        """Every advertiser's brand in the term rows, built on first use after fit/load."""
        if self._brand_index is None:
            self._brand_index = BrandIndex.build(brand.campaign_table(self._rows.terms),
                                                 self.vocabulary_, self.brand_words_)
            self._brand_index.is_known = brand.known_by(self.encoder_)
        return self._brand_index

    def _keyword_neighbors(self, fingerprint: Fingerprint, n: int) -> pd.DataFrame:
        bow, _ = self.encoder_.encode(fingerprint.known_tokens + fingerprint.unknown_tokens)
        counts = bow_matrix([bow], len(self.vocabulary_))
        found = self.index_.query(fingerprint.for_neighbours, n, terms=counts)
        return neighbor_table(found, self.topic_names_, self.campaigns_, self.currency_)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, *, include_terms: bool = True) -> Path:
        """Write the model in the registry's artifact format (`core.model.artifact`), with the
        encoded counts, its `currency_` and, unless `include_terms=False`, the term rows it
        was fitted on."""
        self._check_fitted()
        path = _folder_path("save", path)
        _check_not_current_folder(path)
        _check_not_in_registry(path)
        terms = self.terms_ if whole.flag("include_terms", include_terms) else None
        manifest = {**self.manifest_, CURRENCY_KEY: _known_currency(
            self.currency_, "save: the model's currency_")}

        def write_terms(folder: Path) -> None:
            if terms is not None:
                terms.to_parquet(folder / TERMS_FILE, index=False)

        return artifact.write(path, engine=self.engine_, encoder=self.encoder_,
                              manifest=manifest, counts=self.counts_, extra=write_terms)

    @classmethod
    def load(cls, path: str | Path, terms: pd.DataFrame | None = None, *,
             topic_names: Mapping[int, str] | None = None) -> CampaignModel:
        """A model from an artifact folder: one `save` wrote, or a registry model's
        (`$TOPICLAB_HOME/models/<model_id>/`). `terms`: the rows it was trained on, when
        the folder has none (registry models; needed for suggestions and for models
        saved before encoded counts were). `topic_names`: {topic: name} for topics people
        named; the others keep their automatic names. A registry model's names live in
        its store, not its folder: `core.serve.registry.campaign_model(model_id)` loads it
        with them, as the app shows them."""
        path = _folder_path("load", path)
        if topic_names is None and _in_registry(path):
            warnings.warn(
                f"{path} is a registry model: loaded this way its topics have automatic names "
                "only. core.serve.registry.campaign_model(model_id) loads it with the names "
                "given on the Topics page.", UserWarning, stacklevel=2)
        return cls._load(path, terms, topic_names, "load")

    @classmethod
    def _load(cls, path: Path, terms: pd.DataFrame | None,
              topic_names: Mapping[int, str] | None, caller: str) -> CampaignModel:
        """`load`, for it and `registry.campaign_model`: `caller` is the function the user
        called, which messages about `terms` name (`registry.campaign_model(terms=5)` said
        "load takes a DataFrame …"); kept out of `load`'s signature, where it was a
        `_caller=` keyword."""
        manifest, engine, encoder = artifact.read(path)
        if terms is None and (path / TERMS_FILE).exists():
            terms = _read_part(path, TERMS_FILE, lambda: pd.read_parquet(path / TERMS_FILE))
        elif terms is not None:
            terms = _checked_frame(caller, terms)
        counts = _read_part(path, EncodedCounts.FILE, lambda: EncodedCounts.load(path))
        if counts is not None and terms is not None:
            _check_same_campaigns(terms, counts.campaign_ids, path)
        if counts is None:
            if terms is None:
                raise InputError(f"The model in {path} has no saved encoded counts: "
                                 "CampaignModel.load(path, terms=...) with its term rows.")
            counts = EncodedCounts(*encoder.encode_frame(terms, as_matrix=True))
        settings = manifest.get("estimator")
        if settings is None:  # a registry model: its full settings as trained
            params = dict(manifest.get("params") or {})
            settings = {"k": int(params.pop("k", manifest["k"])), "engine": manifest["engine"],
                        "seed": params.pop("seed", 0), "engine_params": params,
                        "text": manifest["text_config"]}
        settings = copy.deepcopy(dict(settings))  # the model's own, not its manifest's
        if settings.get("text") is not None:
            settings["text"] = TextConfig.from_dict(settings["text"], trained=True)
        model = cls(**settings)
        model._set_state(manifest, engine, encoder, counts, terms,
                         _checked_names(topic_names, int(manifest["k"])))
        # None in a folder saved before models kept their currency, and in a registry
        # model's (its dataset's is in the store: `registry.campaign_model` reads it)
        model.currency_ = _known_currency(manifest.get(CURRENCY_KEY),
                                          f"The model in {path}: its manifest's currency")
        return model


def _read_part(path: Path, name: str, read: Callable[[], Any]) -> Any:
    """`read()` of the file `name` of the model folder `path`, its failure one message
    naming the folder and the file, as `artifact.read` names a broken engine or encoder: a
    truncated terms.parquet was pyarrow's "ArrowInvalid: … Parquet magic bytes not found
    in footer", a truncated counts.npz "BadZipFile: File is not a zip file"."""
    try:
        return read()
    except Exception as err:
        raise TopicLabError(
            f"The model in {path} is damaged: its {name} cannot be read "
            f"({err.__class__.__name__}: {str(err)[:200]}).") from err


def _diversity(engine: Engine) -> float:
    """Topic diversity of a fitted engine's top words, as `train` measures it."""
    return topic_diversity(engine.topics(TOPN))


def _settings_as_trained(model: CampaignModel) -> dict[str, Any]:
    """The estimator's settings for its manifest, copied: `engine_params` is the caller's
    dict, so changing it after fit (`params["iterations"] = 999` for the next model)
    changed what the fitted model's manifest, `save` and `load` said it was trained with."""
    settings = python_numbers(copy.deepcopy(model.get_params()))
    settings["text"] = None if model.text is None else model._text_config().to_dict()
    return settings


def _frame_currency(terms: pd.DataFrame) -> str | None:
    """The currency `read_terms` found in the exports (the frame's `attrs["currency"]`),
    checked as `suggest(currency=...)` checks one: fitted on Sony's exports the model
    quoted "spent 30.00" where the app, from the same files, says "spent 30 JPY"."""
    return _known_currency(terms.attrs.get(CURRENCY_ATTR),
                           f"fit: the term rows' attrs[{CURRENCY_ATTR!r}]")


def _known_currency(code: object, where: str) -> str | None:
    """`code` as an ISO 4217 code, or None for none; else an InputError saying `where` it
    came from, so a bad code is refused where it enters, not quoted in every reason."""
    if code is None:
        return None
    try:
        return checked_code(code)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None


def _checked_names(names: Mapping[int, str] | None, k: int) -> dict[int, str] | None:
    """Topic names as {topic: name}, refused naming a topic the model does not have (a
    name for topic 40 of a K = 20 model was dropped silently)."""
    if names is None:
        return None
    if not isinstance(names, Mapping):
        raise InputError(f"topic_names: give {{topic: name}}, not {type(names).__name__}.")
    bad = [t for t in names if isinstance(t, bool) or not isinstance(t, numbers.Integral)
           or not 0 <= t < k]
    if bad:
        raise InputError(f"topic_names: the model has topics 0-{k - 1}, not {bad[0]!r}.")
    # a missing name (NaN from a column of names, as `dict(zip(df.topic, df.name))` gives
    # for unnamed topics) is no name, as "" is: it named the topic "nan"
    return {int(t): str(name) for t, name in names.items() if not _missing(name) and name}


def _check_same_campaigns(terms: pd.DataFrame, campaign_ids: Sequence[str], path: Path) -> None:
    """Term rows given to `load` must be those of the model's campaigns: other rows (another
    version or dataset) gave neighbours without names and empty or wrong actions, silently."""
    missing_columns = [c for c in ("campaign_id", "term") if c not in terms.columns]
    if missing_columns:
        raise InputError(lacking_columns(terms.columns, missing_columns))
    # the campaigns fit learns from: those with a term (`corpus.campaign_rows`); a
    # campaign whose rows have none is not in the model, so its own rows loaded must match
    given = set(terms.loc[terms["term"].notna(), "campaign_id"].dropna().astype(str).unique())
    own = set(campaign_ids)
    if given != own:
        missing, other = sorted(own - given), sorted(given - own)
        raise InputError(
            f"The term rows given are not those the model in {path} was trained on: "
            f"{len(missing):,} of its {counted(len(own), 'campaign')} "
            f"{plural(len(missing), 'is', 'are')} not in them"
            f"{f' (e.g. {missing[:3]})' if missing else ''} and they hold "
            f"{counted(len(other), 'other campaign')}"
            f"{f' (e.g. {other[:3]})' if other else ''}. Pass the rows of "
            "the dataset version it was trained on (read_terms of the same files).")


def _folder_path(method: str, path: object) -> Path:
    """An artifact folder given to `save` or `load` as a Path, `~` expanded as
    `read_terms` expands it (`save("~/models/m1")` made a folder named `~` in the current
    one, then failed with "Cannot save file into a non-existent directory"), refused
    naming the argument unless it is text or a path: `load(5)` was pathlib's "expected
    str, bytes or os.PathLike object, not int" from deep inside, and "" was read as the
    current folder."""
    text = fspath(path) if isinstance(path, PathLike) else path
    if not isinstance(text, str):
        raise InputError(f"{method}: path must be a folder name (text or a pathlib.Path), not "
                         f"{type(path).__name__} {path!r:.80}.")
    if not text.strip():
        raise InputError(f"{method}: path is empty; give the model's folder.")
    return given_path(text)


def _check_not_current_folder(path: Path) -> None:
    """`save` replaces its folder whole, so the current folder (or one holding it) cannot be
    it: `save(".")` in an empty folder was "OSError: [Errno 16] Device or resource busy:
    '.' -> '.old-'", and by its full name it would have left Python in a deleted folder."""
    cwd = Path.cwd().resolve()
    folder = path.resolve()
    if folder == cwd or folder in cwd.parents:
        where = "is the current folder" if folder == cwd else "holds the current folder"
        raise InputError(f"save: {path} {where} ({cwd}), which saving would replace: give a "
                         "new folder for the model, e.g. save(\"model/\").")


def _in_registry(path: Path) -> bool:
    """Whether `path` is in the models folder of a store (only its files are looked at)."""
    folder = path.resolve()
    return folder.parent.name == "models" and (folder.parent.parent / STORE_FILE).is_file()


def _check_not_in_registry(path: Path) -> None:
    """The models folder of a store (`$TOPICLAB_HOME/models/`) is the registry's: a notebook
    model saved over a registered one changed it under its registry row (K = 4 there, 3 in
    the folder; `score` then failed with a TypeError), and one saved beside them is removed
    as an orphan. Only the folder's files are looked at, never the store itself."""
    folder = path.resolve()
    if _in_registry(path):
        raise InputError(
            f"{path} is in the models folder of the Topic Lab store {folder.parent.parent}, "
            "which belongs to its registry: save the model elsewhere, or register it with "
            "core.serve.registry.register_fitted.")


def _checked_frame(method: str, terms: object) -> pd.DataFrame:
    """fit and transform take term rows as a DataFrame (transform of a list of keywords
    was "AttributeError: 'list' object has no attribute 'columns'"), with each column once
    (two `term` columns, e.g. from a `pd.concat(axis=1)`, gave pandas' "cannot reindex on
    an axis with duplicate labels" from inside fit), and index levels named as a column
    unnamed (only the columns are read); campaign ids that are numbers become
    the text an import gives them (`_id_texts`), and control and invisible characters are
    removed or refused as an import does (`visible_frame`)."""
    if not isinstance(terms, pd.DataFrame):
        raise InputError(f"{method} takes a DataFrame of term rows (see read_terms), not "
                         f"{type(terms).__name__}")
    if isinstance(terms.columns, pd.MultiIndex):  # terms["term"] was a DataFrame, then
        # "AttributeError: 'DataFrame' object has no attribute 'dtype'"
        raise InputError(f"{method}: the term rows have columns on {terms.columns.nlevels} "
                         "levels; give one level of names (campaign_id, term, …)")
    repeated = terms.columns[terms.columns.duplicated()]
    if len(repeated):
        raise InputError(f"{method}: the term rows have more than one column named "
                         f"{repeated[0]!r}, so which one to read is unclear; drop or rename "
                         "the others")
    clashing = [name for name in terms.index.names if name is not None and name in terms.columns]
    if clashing:  # set_index("campaign_id", drop=False): pandas' "'campaign_id' is both an
        # index level and a column label, which is ambiguous" from inside fit and suggest
        terms = terms.rename_axis(index=[None if name in clashing else name
                                         for name in terms.index.names])
    from core.data.readers import (
        canonical_term_types,
        check_one_value_per_cell,
        checked_metrics,
        visible_frame,
    )

    check_one_value_per_cell(terms, method)  # a list of tokens was read as its printed form
    if "campaign_id" in terms.columns and pd.api.types.is_bool_dtype(terms["campaign_id"]):
        # as text every row was in campaign "True" or "False" (an import refuses it too)
        raise InputError(f"{method}: the campaign_id column holds true/false values, not "
                         "campaign ids")
    dates = "campaign_id" in terms.columns and _date_kind(terms["campaign_id"])
    if dates:  # as text every id was a time, "1970-01-01 00:00:01" (an import refuses it too)
        raise InputError(f"{method}: the campaign_id column holds {dates} values (dates or "
                         "times), not campaign ids")
    if "campaign_id" in terms.columns and pd.api.types.is_float_dtype(terms["campaign_id"]):
        infinite = np.flatnonzero(np.isinf(terms["campaign_id"].to_numpy(float)))
        if infinite.size:  # as text it was the campaign "inf" (an import refuses it too)
            from core.data.readers import row_label

            raise InputError(f"{method}: {row_label(terms, int(infinite[0]))}, column "
                             f"'campaign_id': {terms['campaign_id'].iloc[infinite[0]]} is not "
                             "a campaign id")
    if "campaign_id" in terms.columns:
        ids = terms["campaign_id"]
        ids = _trimmed_ids(ids if ids.dtype == "str" else _id_texts(ids))
        if ids is not terms["campaign_id"]:
            terms = terms.assign(campaign_id=ids)
    # as an import cleans a file's cells: a colour code or zero-width space in a term was a
    # word no keyword matches, one in an id a second campaign that looks like the first
    terms, notes = visible_frame(checked_metrics(terms, method), method)
    terms, type_notes = canonical_term_types(terms, method)
    for note in notes + type_notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return terms


_DATE_KINDS = ("datetime64", "datetime", "date", "time", "timedelta64", "timedelta", "period")


def _date_kind(ids: pd.Series) -> str | None:
    """What dates or times a campaign id column holds (its dtype, or pandas' inferred kind),
    else None: besides datetime64 columns, an object column of Timestamps or `date`s, a
    Period column and a categorical of dates were read as ids such as
    '2024-01-01 00:00:00' and '2024-01'."""
    if pd.api.types.is_datetime64_any_dtype(ids) or pd.api.types.is_timedelta64_dtype(ids):
        return str(ids.dtype)
    values = ids.cat.categories if isinstance(ids.dtype, pd.CategoricalDtype) else ids
    kind = pd.api.types.infer_dtype(values, skipna=True)
    return f"{ids.dtype} of {kind}" if kind in _DATE_KINDS else None


def _id_texts(ids: pd.Series) -> pd.Series:
    """Campaign ids as text the way an import of the same values gives them (Arrow's
    cast, as the Parquet reader does): 7.0 is "7", not pandas' "7.0", so that a frame of
    float ids (a CSV read by pandas, with a missing cell) fits the campaigns the store
    holds. Missing ids stay missing, for the check that names them."""
    if pd.api.types.is_float_dtype(ids):  # 12345678901.0 is "12345678901", as imported
        from core.data.readers import float_id_texts

        return float_id_texts(pa.array(ids, from_pandas=True)).to_pandas().set_axis(ids.index)
    if pd.api.types.is_numeric_dtype(ids) and not pd.api.types.is_bool_dtype(ids):
        # on the frame's own index: `assign` aligns by label, and a 0..n index gave a frame
        # indexed [10, 11] no ids and one indexed [0, 2, 1] its rows' ids swapped
        text = pa.array(ids, from_pandas=True).cast(pa.large_string()).to_pandas()
        return text.set_axis(ids.index)
    if pd.api.types.infer_dtype(ids, skipna=True) in ("string", "empty"):
        return ids
    return pd.Series([_id_text(v) for v in ids.tolist()], index=ids.index, dtype=object)


def _trimmed_ids(ids: pd.Series) -> pd.Series:
    """Campaign ids (as text) without surrounding spaces, a blank one missing, as an import
    trims them and refuses a blank one ("the campaign is empty"): fitted on ids padded by a
    spreadsheet, " C1 " was a campaign no query reaches (`neighbors` trims the id asked
    for, so " C1 " and "C1" alike were "No campaign 'C1'"), and rows of "" or "  " made
    one campaign of many. `ids` itself when no id changes. Trimmed once per distinct id."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    trimmed = [given_id(u) or None if isinstance(u, str) else u for u in uniques]
    if all(a == b for a, b in zip(trimmed, uniques, strict=True)):
        return ids
    values = np.asarray([*trimmed, None], dtype=object)[codes]  # code -1 (missing): None
    return pd.Series(values, index=ids.index, dtype=ids.dtype, name=ids.name)


def _id_text(value: object) -> object:
    """One campaign id as `_id_texts` writes it (None and NaN stay missing)."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bytes):  # as an import reads a BINARY id column: b"C1" is "C1"
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"the campaign id {value[:40]!r} is not UTF-8 text") from None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, float) and np.isnan(value):
            return None
        return pa.scalar(value).cast(pa.string()).as_py()
    return str(value)


def _unread_campaigns(terms: pd.DataFrame, ids: Sequence[str], matrix: Any) -> list[str]:
    """What `transform` could not read, said: a campaign with no word the model knows got
    the engine's prior as its fingerprint (1/K each, or BTM's topic mix), which looked
    like a reading of its terms, and one without any term was left out of the answer,
    both silently (`fingerprint` of such keywords is refused)."""
    notes = []
    empty = [ids[i] for i in np.flatnonzero(np.asarray(matrix.sum(axis=1)).ravel() == 0)]
    if empty:
        notes.append(f"transform: {len(empty):,} of {counted(len(ids), 'campaign')} "
                     f"{plural(len(empty), 'has', 'have')} no word the model knows (e.g. "
                     f"{', '.join(map(quoted, empty[:3]))}): "
                     f"{plural(len(empty), 'its fingerprint is', 'their fingerprints are')} "
                     f"the model's prior, not a reading of "
                     f"{plural(len(empty), 'its', 'their')} terms")
    given = pd.unique(terms["campaign_id"].dropna())
    absent = sorted(set(given) - set(ids))
    if absent:
        notes.append(f"transform: {counted(len(absent), 'campaign')} "
                     f"{plural(len(absent), 'has no term and gets', 'have no term and get')}"
                     f" no fingerprint (e.g. "
                     f"{', '.join(map(quoted, absent[:3]))})")
    return notes


def _keyword_list(keywords: object, argument: str = "keywords") -> list[str]:
    """Keywords as a list of text: one keyword, or a list, Series, array or set of them;
    anything else (None, bytes, a dict, a list holding a NaN) is refused naming it, and so
    is a list with no keyword with text, naming the `argument` the user gave it as (it was
    the Lookup page's "No keywords were given: paste one keyword per line …")."""
    if isinstance(keywords, str):
        keywords = [keywords]
    elif isinstance(keywords, Iterable) and not isinstance(keywords, bytes | Mapping):
        keywords = list(keywords)  # a list, a Series or array of a column, a set
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise InputError(f"{argument}: give a keyword or a list of keywords (text), not "
                         f"{keywords!r:.80}.")
    if not any(k.strip() for k in keywords):  # what the fold-in keeps of them
        raise InputError(f"{argument}: give at least one keyword with text, not "
                         f"{keywords!r:.80}.")
    return keywords


def _missing(value: object) -> bool:
    """Whether an id argument is no value at all: None, NaN or pandas' NA."""
    return value is None or (not isinstance(value, str | bytes) and pd.api.types.is_scalar(value)
                             and bool(pd.isna(value)))


def _json_params(engine: Engine) -> dict[str, Any]:
    """The engine's constructor params that a manifest can hold."""
    return {k: v for k, v in engine.get_params().items()
            if k != "k" and isinstance(v, str | int | float | bool | None)}
