"""The account manager's lookup for one model: find a campaign, its fingerprint, its
nearest neighbours with their performance, and the suggested actions.

Everything a query needs is loaded once per model (`Lookup(model_id)`): the stored
fingerprints, the campaigns' bag-of-words for the term part of the similarity (saved
with the model), the per-campaign table, and the term rows (on disk, memory-mapped:
`core.data.term_file`). Queries are then numpy work only, through the same functions as
the notebook's `core.model.campaign_model.CampaignModel`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from threading import Lock

import numpy as np
import pandas as pd

from core import memory, whole
from core.data import datasets, store, term_file
from core.data.schema import ROW_POSITION
from core.errors import InputError, NotFoundError, quoted, shown
from core.model import actions, brand
from core.model.brand import BrandIndex
from core.model.campaign_model import (
    NEIGHBOR_COLUMNS,
    PERFORMANCE,
    TermRows,
    decoded,
    fit_index,
    keyword_rows,
    neighbor_table,
    own_account,
    query_filters,
    read_words,
    shown_performance,
    suggest_actions,
)
from core.model.corpus import EncodedCounts
from core.model.engines import bow_matrix
from core.model.neighbors import MIN_SIMILARITY, shared_topic_names
from core.plain_text import given_id
from core.serve import brand_lists, naming, registry, score

# Stored campaigns whose unread words a Lookup keeps (`Lookup.unknown_of`): reading them
# again tokenises the campaign's term rows, 2-7 ms on the demo and more on Japanese ones,
# which the Lookup page paid on every rerun.
UNKNOWN_CACHED = 256


@dataclass
class LookupResult:
    """One query's answer: the fingerprint, the neighbours and the suggested actions."""

    campaign_id: str | None            # None for pasted keywords
    fingerprint: score.Fingerprint
    neighbors: pd.DataFrame            # the n nearest; `similar_enough`: at or above the
                                       # floor, the only ones actions learn from
    suggestions: actions.SuggestionResult
    min_similarity: float = MIN_SIMILARITY
    below_floor: int = 0               # of the n nearest, how many were below the floor

    def fingerprint_frame(self, topic_names: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame({"topic": range(len(topic_names)), "name": topic_names,
                             "weight": self.fingerprint.weights})

    def to_dict(self, topic_names: Sequence[str]) -> dict:
        weights = self.fingerprint.weights
        return {
            "campaign_id": self.campaign_id,
            "fingerprint": score.shown_weights(weights),
            "top_topics": score.top_topics(weights, topic_names),
            "oov_share": round(self.fingerprint.oov_share, 4),
            "hidden_share": round(self.fingerprint.hidden_share, 4),
            # a stored campaign's fingerprint keeps only the share: its words are added by
            # `Lookup.unknown_fields` where an answer can pay for reading them (None: not read)
            **({"unknown_words": self.fingerprint.unknown_words(),
                "unknown": self.fingerprint.unknown_report()} if self.campaign_id is None
               else {"unknown_words": None}),
            "min_similarity": self.min_similarity,
            "below_floor": self.below_floor,
            "neighbors": self.neighbors.to_dict(orient="records"),
            "actions": actions.to_frame(self.suggestions.actions).to_dict(orient="records"),
            "notes": self.suggestions.notes,
        }


@dataclass
class AccountResult:
    """Suggested actions over every campaign of an account, ranked together."""

    account: str
    campaigns: pd.DataFrame                 # campaign_id, campaign_name, actions
    actions: list[tuple[str, actions.Action]]  # (campaign id, action), best first
    notes: dict[str, list[str]]             # per campaign id

    def to_frame(self) -> pd.DataFrame:
        """One row per action x evidence row, with the campaign of each action (CSV)."""
        frame = actions.to_frame([a for _, a in self.actions])
        if frame.empty:
            return frame.assign(campaign_id=pd.Series(dtype=str))
        frame = frame.rename(columns={c: f"evidence_{c}" for c in ("campaign_id",
                                                                  "campaign_name")
                                      if c in frame})  # e.g. duplicates in other campaigns
        ids = [cid for cid, _ in self.actions]
        names = self.campaigns.set_index("campaign_id")["campaign_name"]
        frame.insert(1, "campaign_id", [ids[r - 1] for r in frame["rank"]])
        frame.insert(2, "campaign_name", frame["campaign_id"].map(names).to_numpy())
        return frame

    def to_dict(self) -> dict:
        return {"account": self.account,
                "campaigns": self.campaigns.to_dict(orient="records"),
                "actions": self.to_frame().to_dict(orient="records"),
                "notes": self.notes}


class Lookup:
    """Loaded state for one scored model. Build once, query many times."""

    def __init__(self, model_id: str | None = None) -> None:
        # Every store read of a load on one connection: each of the 8 reads opened the
        # store (~30 ms each then, half of a load on the demo). Only reads and files in this
        # block; the work on them comes after it, with the store released.
        with store.reading():
            self.model_id = registry.resolve(model_id)
            self.model = registry.load(self.model_id)
            labels = naming.label_rows(self.model_id)
            info = self.model.manifest["dataset"]
            self.dataset, self.version = info["name"], int(info["version"])
            self.fingerprints = score.load_fingerprints(self.model_id)
            # the columns suggested actions read, on disk and mapped (`core.data.term_file`)
            self._term_file = term_file.open_term_file(self.dataset, self.version,
                                                       actions.ROW_COLUMNS)
            # The encoded term matrix saved with the model (encoding the rows again is most
            # of a load's time at 100,000 campaigns); older models encode below.
            counts = registry.encoded_counts(self.model_id)
            self.campaigns = datasets.campaigns(self.dataset, self.version,
                                                self.fingerprints.campaign_ids)
            self.currency = datasets.currency(self.dataset)  # of amounts actions quote
        self.topic_names = registry.topic_names(self.model, labels)
        if counts is None:
            counts = EncodedCounts(*self.model.encoder.encode_frame(self.terms, as_matrix=True))
        self._counts = counts
        self.index = fit_index(self.fingerprints.campaign_ids,
                               self.fingerprints.for_neighbours, counts,
                               f"Model {self.model_id} (on {self.dataset} v{self.version})",
                               self.model.encoder, shown=self.model.k,
                               groups=self.fingerprints.groups)
        self._rows = TermRows(self._term_file)
        self._term_fit = actions.term_topic_fit_from(self.model.encoder, self.model.engine)
        self.brand_words = naming.name_words(self.model).brand  # kept out of keyword ideas
        # campaign id -> its unread words, latest asked last (an lru_cache of a bound
        # method would hold the Lookup in a cycle, kept after Streamlit drops it)
        self._unknown: OrderedDict[str, score.Fingerprint | None] = OrderedDict()
        self._unknown_lock = Lock()   # the service answers in threads
        memory.release()  # what loading built and dropped (long-lived app, service)

    @cached_property
    def terms(self) -> pd.DataFrame:
        """Every term row of the model's data (the columns actions read), as a DataFrame in
        import order. All of them in memory: for models saved without encoded counts, not
        for queries."""
        table = decoded(self._term_file.table).sort_by(ROW_POSITION)
        return table.drop_columns([ROW_POSITION]).to_pandas()

    def _rows_of(self, campaign_ids: Sequence[str]) -> pd.DataFrame:
        """The term rows of some campaigns, in import order (as a boolean filter gives)."""
        return self._rows.of(campaign_ids)

    def unknown_of(self, campaign_id: str) -> score.Fingerprint | None:
        """`score.unknown_of_stored` from Lookup's copy of the term rows (the page showed
        the share of words the model does not use, and no word), kept for the last
        `UNKNOWN_CACHED` campaigns asked: the Lookup page asks again on every rerun."""
        self.check(campaign_id)
        with self._unknown_lock:
            if campaign_id in self._unknown:
                self._unknown.move_to_end(campaign_id)
                return self._unknown[campaign_id]
        words = self._read_unknown(campaign_id)   # outside the lock: others need not wait
        with self._unknown_lock:
            self._unknown[campaign_id] = words
            while len(self._unknown) > UNKNOWN_CACHED:
                self._unknown.popitem(last=False)
        return words

    def unknown_fields(self, campaign_id: str) -> dict:
        """A stored campaign's `unknown_words` and `unknown`, as `fingerprint --text` says
        them of pasted keywords (`suggest` of the CLI and of the scoring service)."""
        words = self.unknown_of(campaign_id)
        if words is None:
            return {"unknown_words": []}
        return {"unknown_words": words.unknown_words(), "unknown": words.unknown_report()}

    def _read_unknown(self, campaign_id: str) -> score.Fingerprint | None:
        rows = self._rows_of([campaign_id])   # mapped, not read from the store
        return read_words(self.model.encoder, rows["term"].dropna().astype(str).tolist())

    # -- finding campaigns ------------------------------------------------------------
    def search(self, text: str, limit: int = 20) -> pd.DataFrame:
        """Campaigns whose id, name or account contains `text` (any case), exact ids first."""
        limit = whole.whole("limit", limit)
        table = self.campaigns.reset_index()[["campaign_id", "campaign_name", "account"]]
        return datasets.search_campaigns(table, text, limit)

    def example_keywords(self, n: int = 3) -> list[str]:
        """The first `n` distinct keywords (search terms when it has none) of the first
        campaign, by id, that the model knows words of: an example of pasted keywords in
        the data's own words and language (Sony's Japanese exports were shown the demo's
        "emergency plumber"). Empty for data without such a campaign."""
        known = np.flatnonzero(~self.fingerprints.knows_no_word())
        if not len(known):
            return []
        rows = self._rows_of([self.fingerprints.campaign_ids[known[0]]])
        # a row without a type is a keyword, as every action reads it
        keywords = rows[rows["term_type"].fillna("keyword") == "keyword"]
        terms = (keywords if len(keywords) else rows)["term"].dropna().astype(str)
        return list(dict.fromkeys(t.strip() for t in terms if t.strip()))[:n]

    def check(self, campaign_id: str) -> str:
        """The id as stored (surrounding spaces trimmed, as an import trims them), or
        NotFoundError naming the id."""
        campaign_id = given_id(campaign_id)
        if campaign_id not in self.index.position_:
            hint = datasets.campaign_case_hint(campaign_id, model_id=self.model_id)
            raise NotFoundError(
                f"No campaign {quoted(campaign_id)} in {self.dataset} v{self.version} (the data of "
                f"model {self.model_id}).{hint} Search by name with `python -m core find`.")
        return campaign_id

    # -- queries ----------------------------------------------------------------------
    def _filters(self, account: str | None, exclude_account: bool,
                 min_terms: int) -> tuple[list[str], np.ndarray | None]:
        return query_filters(self.campaigns, account, exclude_account, min_terms)

    def _neighbor_table(self, found) -> pd.DataFrame:
        return neighbor_table(found, self.topic_names, self.campaigns, self.currency)

    def neighbors(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                  min_terms: int = 0, min_similarity: float = 0.0) -> pd.DataFrame:
        """The n most similar stored campaigns, with similarity, shared topics, metrics;
        those below `min_similarity` are left out (0 keeps all n). `similar_enough` marks
        them at that floor, as the Lookup page marks at its own (it said False of kept
        rows below 0.55), or at the one actions use (`MIN_SIMILARITY`) when there is none
        (`neighbor_floor`, which the scoring service's /v1/neighbors uses too)."""
        keep_at, mark_at = neighbor_floor(min_similarity)
        table = self._neighbor_table(self.find_neighbors(campaign_id, n,
                                                         exclude_account=exclude_account,
                                                         min_terms=min_terms))
        table = table.assign(similar_enough=table["similarity"] >= mark_at)
        return table[table["similarity"] >= keep_at].reset_index(drop=True)

    def find_neighbors(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                       min_terms: int = 0) -> list:
        """The n nearest stored campaigns as `Neighbor`s (no table): see `neighbors`."""
        n, min_terms = whole.whole("n", n), whole.whole("min_terms", min_terms, 0)
        # "no" left the campaign's own account out, as it did in `CampaignModel.neighbors`
        exclude_account = whole.flag("exclude_account", exclude_account)
        campaign_id = self.check(campaign_id)
        # the account is only read to leave it out (a pandas lookup per request otherwise)
        account = own_account(self.campaigns, campaign_id,
                              f"{self.dataset} v{self.version}") if exclude_account else None
        exclude, allowed = self._filters(account, exclude_account, min_terms)
        return self.index.query_id(campaign_id, n, exclude=exclude, allowed=allowed)

    def campaign(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                 min_terms: int = 0, min_similarity: float = MIN_SIMILARITY) -> LookupResult:
        """Fingerprint, neighbours and actions of a stored campaign. Of its n nearest
        campaigns, only those at or above `min_similarity` are learnt from (the table
        marks them in `similar_enough`)."""
        _check_floor(min_similarity)
        campaign_id = self.check(campaign_id)
        fingerprint = self.fingerprints.of(campaign_id)
        table = self.neighbors(campaign_id, n, exclude_account=exclude_account,
                               min_terms=min_terms)
        own = self._rows_of([campaign_id])
        return self._result(campaign_id, fingerprint, own, table, min_similarity)

    def _result(self, campaign_id: str | None, fingerprint: score.Fingerprint,
                own: pd.DataFrame, table: pd.DataFrame, min_similarity: float) -> LookupResult:
        table = table.assign(similar_enough=table["similarity"] >= min_similarity)
        return LookupResult(campaign_id, fingerprint, table,
                            self._suggest(own, fingerprint, table, min_similarity),
                            min_similarity, int((~table["similar_enough"]).sum()))

    def account(self, account: str, n: int = 10, *,
                min_similarity: float = MIN_SIMILARITY) -> AccountResult:
        """Suggested actions of every campaign of an account, ranked by score across its
        campaigns (the same actions as `campaign` gives one by one)."""
        _check_floor(min_similarity)
        datasets.check_account(account)
        names = self.campaigns["account"]
        ids = self.campaigns.index[(names == account).fillna(False).to_numpy()].tolist()
        if not ids:
            close = datasets.search_campaigns(
                self.campaigns.reset_index()[["campaign_id", "campaign_name", "account"]],
                str(account), 5)["account"].dropna().unique().tolist()
            hint = f" Accounts like it: {', '.join(map(repr, close))}." if close else ""
            raise NotFoundError(f"No account {quoted(account)} in {self.dataset} v{self.version} "
                                f"(the data of model {self.model_id}).{hint}")
        found: list[tuple[str, actions.Action]] = []
        notes: dict[str, list[str]] = {}
        counts = []
        for cid in ids:
            result = self.campaign(cid, n, min_similarity=min_similarity)
            found += [(cid, a) for a in result.suggestions.actions]
            notes[cid] = result.suggestions.notes
            counts.append(len(result.suggestions.actions))
        found.sort(key=lambda pair: (-pair[1].score, actions.KINDS.index(pair[1].kind)
                                     if pair[1].kind in actions.KINDS else len(actions.KINDS),
                                     pair[0]))
        table = pd.DataFrame({"campaign_id": ids,
                              "campaign_name": self.campaigns.loc[ids, "campaign_name"].tolist(),
                              "actions": counts})
        return AccountResult(str(account), table, found, notes)

    def keywords(self, keywords: Sequence[str], n: int = 10, *,
                 min_terms: int = 0, min_similarity: float = MIN_SIMILARITY) -> LookupResult:
        """Fingerprint (folded in), neighbours and actions of keywords not in the store."""
        _check_floor(min_similarity)
        fingerprint, table = self.keyword_neighbors(keywords, n, min_terms=min_terms)
        return self._result(None, fingerprint, keyword_rows(keywords), table, min_similarity)

    def keyword_neighbors(self, keywords: Sequence[str], n: int = 10, *, min_terms: int = 0
                          ) -> tuple[score.Fingerprint, pd.DataFrame]:
        """Fingerprint (folded in) and neighbours of new keywords, without the actions (the
        scoring service's /v1/neighbors: actions cost more than the search)."""
        fingerprint, found = self.find_keyword_neighbors(keywords, n, min_terms=min_terms)
        return fingerprint, self._neighbor_table(found)

    def find_keyword_neighbors(self, keywords: Sequence[str], n: int = 10, *,
                               min_terms: int = 0) -> tuple[score.Fingerprint, list]:
        """Fingerprint (folded in) and the nearest stored campaigns as `Neighbor`s."""
        n, min_terms = whole.whole("n", n), whole.whole("min_terms", min_terms, 0)
        fingerprint = score.fold_in(self.model, keywords)
        # the bag of words the fold-in read (the same counts as encoding its tokens again)
        counts = bow_matrix([fingerprint.bow], len(self.model.encoder.dictionary))
        _, allowed = self._filters(None, False, min_terms)
        return fingerprint, self.index.query(fingerprint.for_neighbours, n, terms=counts,
                                             allowed=allowed)

    def neighbor_records(self, found: Sequence, min_similarity: float = 0.0) -> list[dict]:
        """The rows of `neighbors`' table as dicts, without building a DataFrame: the
        scoring service's hot path (pandas indexing was ~80% of a request's CPU). Same
        columns, order and values (a test compares them), the same floor (`neighbor_floor`),
        already JSON-ready (`answers.plain`: missing values are None), so the service
        sends them as they are."""
        from core.serve.answers import plain  # answers imports this module

        keep_at, mark_at = neighbor_floor(min_similarity)
        columns = self._performance_arrays
        position = self._campaign_position
        records = []
        for nb in found:
            if not nb.similarity >= keep_at:
                continue
            i = position[nb.campaign_id]
            row = {c: column[i] for c, column in columns.items()}
            row.update(campaign_id=nb.campaign_id, similarity=plain(nb.similarity),
                       topic_similarity=plain(nb.topic_similarity),
                       term_similarity=plain(nb.term_similarity),
                       vector_similarity=plain(nb.vector_similarity),
                       group_similarity=plain(nb.group_similarity),
                       shared_topics=shared_topic_names(nb.shared_topics, self.topic_names))
            records.append({**{c: row[c] for c in NEIGHBOR_COLUMNS},
                            "similar_enough": bool(nb.similarity >= mark_at)})
        return records

    @cached_property
    def _performance_arrays(self) -> dict[str, list]:
        """The performance columns as JSON-ready values in `campaigns` order, rounded as
        `neighbors`' table rounds them (`shown_performance`)."""
        from core.serve.answers import plain  # answers imports this module

        frame = shown_performance(self.campaigns.reindex(columns=PERFORMANCE), self.currency)
        return {c: plain(frame[c].to_numpy(dtype=object)) for c in PERFORMANCE}

    def prepare_serving(self, lists: Mapping[str, Sequence[str]] | None = None) -> None:
        """Build now what the scoring service's first answers would otherwise build: the
        neighbour rows' columns, the brand index (from `lists`, the brand lists the poller
        read; else read here: an answer must never open the store, whose lock an import
        may hold for minutes), the compiled loops (numba: the fold-in of large batches,
        the term part of neighbour queries; ~0.6 s) and the tokenizer's spaCy pipeline,
        run over the words of the model's own terms (`Tokenizer.warm`: ~4 s of CPU at
        100,000 campaigns, once per model)."""
        from core.model.engines import warm_compiled_fold_in

        _ = self._performance_arrays, self._campaign_position  # built now, not in an answer
        self.use_brand_lists(brand_lists.brand_lists() if lists is None else lists)
        warm_compiled_fold_in()
        self.index.warm()
        tokenizer = self.model.encoder.tokenizer
        if not tokenizer.config.pretokenized:
            tokenizer.nlp()
            tokenizer.warm(self._term_file.table.column("term"))

    @cached_property
    def _campaign_position(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.campaigns.index)}

    def _suggest(self, own: pd.DataFrame, fingerprint: score.Fingerprint,
                 table: pd.DataFrame, min_similarity: float) -> actions.SuggestionResult:
        return suggest_actions(own, fingerprint, table, self._rows, self.model.engine,
                               self.model.vocabulary, self._term_fit, self.topic_names,
                               min_similarity=min_similarity, brand_words=self.brand_words,
                               brands=self.brands, currency=self.currency)

    def forget_brands(self) -> None:
        """Drop the brand index built for this Lookup, so the next answer reads the brand
        lists again (after `core.serve.brand_lists.set_brand_list`)."""
        self.__dict__.pop("brands", None)

    def use_brand_lists(self, lists: Mapping[str, Sequence[str]]) -> None:
        """Build the brand index with these per-account brand lists now (the scoring
        service's poller, off the request path), instead of reading them when first needed."""
        self.__dict__["brands"] = self._brand_index(lists)

    @cached_property
    def brands(self) -> BrandIndex:
        """Every advertiser's brand (`core.model.brand`), with the per-account brand lists as
        they were when first needed (built once per Lookup)."""
        return self._brand_index(brand_lists.brand_lists())

    def _brand_index(self, lists: Mapping[str, Sequence[str]]) -> BrandIndex:
        table = self.campaigns.reset_index()[["campaign_id", "campaign_name", "account"]]
        index = BrandIndex.build(table, self.model.vocabulary, self.brand_words, lists)
        index.is_known = brand.known_by(self.model.encoder)
        return index


def neighbor_floor(min_similarity: float) -> tuple[float, float]:
    """(keep at, mark `similar_enough` at) of a neighbour list with this floor, as the
    CLI's `neighbors --min-similarity` and the service's /v1/neighbors `min_similarity`
    read it: below the floor is left out (0 keeps all n), and the kept rows are marked at
    the floor, or at the one suggested actions use (`MIN_SIMILARITY`) when there is none."""
    _check_floor(min_similarity)
    return min_similarity, min_similarity or MIN_SIMILARITY


def _check_floor(min_similarity: float) -> None:
    if isinstance(min_similarity, bool) or not isinstance(min_similarity, int | float) or \
            not 0 <= min_similarity <= 1:
        raise InputError(f"min_similarity must be between 0 and 1, not {shown(min_similarity)}.")
