"""The account manager's lookup for one model: find a campaign, its fingerprint, its
nearest neighbours with their performance, and the suggested actions.

Everything a query needs is loaded once per model (`Lookup(model_id)`): the stored
fingerprints, the campaigns' bag-of-words for the term part of the similarity, the
per-campaign table and the term rows. Queries are then numpy work only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import actions, datasets, registry, score, store
from core.engines import bow_matrix
from core.errors import NotFoundError
from core.neighbors import NeighborIndex, neighbors_frame

PERFORMANCE = ["campaign_name", "account", "label", "terms", "impressions", "clicks", "cost",
               "conversions", "ctr", "cpc", "conversion_rate"]
# How the neighbours table reads: who, how similar, how it performs, then the detail.
NEIGHBOR_COLUMNS = ["campaign_name", "campaign_id", "similarity", "ctr", "cpc",
                    "conversion_rate", "clicks", "impressions", "cost", "conversions",
                    "shared_topics", "account", "label", "terms", "topic_similarity",
                    "term_similarity"]


@dataclass
class LookupResult:
    """One query's answer: the fingerprint, the neighbours and the suggested actions."""

    campaign_id: str | None            # None for pasted keywords
    fingerprint: score.Fingerprint
    neighbors: pd.DataFrame
    suggestions: actions.SuggestionResult

    def fingerprint_frame(self, topic_names: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame({"topic": range(len(topic_names)), "name": topic_names,
                             "weight": self.fingerprint.weights})

    def to_dict(self, topic_names: Sequence[str]) -> dict:
        weights = self.fingerprint.weights
        top = np.argsort(-weights)[:5]
        return {
            "campaign_id": self.campaign_id,
            "fingerprint": [round(float(w), 5) for w in weights],
            "top_topics": [{"topic": int(t), "name": topic_names[t],
                            "weight": round(float(weights[t]), 4)} for t in top],
            "oov_share": round(self.fingerprint.oov_share, 4),
            "unknown_words": self.fingerprint.unknown_tokens[:50],
            "neighbors": self.neighbors.to_dict(orient="records"),
            "actions": actions.to_frame(self.suggestions.actions).to_dict(orient="records"),
            "notes": self.suggestions.notes,
        }


def _term_rows(name: str, version: int) -> pd.DataFrame:
    """All term rows of a dataset version (as `datasets.terms`), read through Arrow: for
    millions of rows several times faster. Dates come as datetime64[ms], and integer
    columns with missing values as float64 rather than Int64; actions read them as floats."""
    with store.connect(read_only=True) as con:
        table = con.sql(
            "SELECT * EXCLUDE (dataset, version) FROM terms WHERE dataset = ? AND version = ? "
            "ORDER BY source_file, source_line", params=[name, version]).to_arrow_table()
    # One chunk per column: gathering a campaign's rows from many chunks is ~10x slower.
    return table.combine_chunks().to_pandas(date_as_object=False)


class Lookup:
    """Loaded state for one scored model. Build once, query many times."""

    def __init__(self, model_id: str | None = None) -> None:
        self.model_id = registry.resolve(model_id)
        self.model = registry.load(self.model_id)
        self.topic_names = registry.topic_names(self.model)
        info = self.model.manifest["dataset"]
        self.dataset, self.version = info["name"], int(info["version"])
        self.fingerprints = score.load_fingerprints(self.model_id)
        self.terms = _term_rows(self.dataset, self.version)
        ids, counts, _ = self.model.encoder.encode_frame(self.terms, as_matrix=True)
        order = pd.Index(ids).get_indexer(self.fingerprints.campaign_ids)
        if (order < 0).any():
            raise NotFoundError(f"Model {self.model_id} has fingerprints of campaigns that are "
                                f"not in {self.dataset} v{self.version}: score it again.")
        self.index = NeighborIndex().fit(self.fingerprints.weights,
                                         self.fingerprints.campaign_ids, counts[order])
        self.campaigns = (datasets.campaigns(self.dataset, self.version)
                          .set_index("campaign_id").reindex(self.fingerprints.campaign_ids))
        # Term rows of each campaign, as positions into self.terms in import order, so a
        # query gathers a few hundred rows instead of scanning millions.
        codes, self._row_campaigns = pd.factorize(self.terms["campaign_id"])
        self._rows_by_code = np.argsort(codes, kind="stable")
        self._row_bounds = np.searchsorted(codes[self._rows_by_code],
                                           np.arange(len(self._row_campaigns) + 1))
        self._code_of = {cid: i for i, cid in enumerate(self._row_campaigns)}
        self._term_fit = actions.term_topic_fit_from(self.model.encoder, self.model.engine)

    def _rows_of(self, campaign_ids: Sequence[str]) -> pd.DataFrame:
        """The term rows of some campaigns, in import order (as a boolean filter gives)."""
        codes = [self._code_of[c] for c in campaign_ids if c in self._code_of]
        parts = [self._rows_by_code[self._row_bounds[c]:self._row_bounds[c + 1]]
                 for c in codes]
        positions = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        return self.terms.iloc[positions]

    # -- finding campaigns ------------------------------------------------------------
    def search(self, text: str, limit: int = 20) -> pd.DataFrame:
        """Campaigns whose id, name or account contains `text` (any case), exact ids first."""
        table = self.campaigns.reset_index()[["campaign_id", "campaign_name", "account"]]
        return datasets.search_campaigns(table, text, limit)

    def check(self, campaign_id: str) -> str:
        if campaign_id not in self.index.position_:
            raise NotFoundError(
                f"No campaign {campaign_id!r} in {self.dataset} v{self.version} (the data of "
                f"model {self.model_id}). Search by name with `python -m core find`.")
        return campaign_id

    # -- queries ----------------------------------------------------------------------
    def _filters(self, account: str | None, exclude_account: bool,
                 min_terms: int) -> tuple[list[str], np.ndarray | None]:
        exclude: list[str] = []
        if exclude_account and account:
            same = self.campaigns["account"] == account
            exclude = self.campaigns.index[same.fillna(False).to_numpy()].tolist()
        allowed = None
        if min_terms > 1:
            allowed = (self.campaigns["terms"].fillna(0) >= min_terms).to_numpy()
        return exclude, allowed

    def _neighbor_table(self, found) -> pd.DataFrame:
        table = neighbors_frame(found, self.topic_names)
        performance = self.campaigns.loc[table["campaign_id"], PERFORMANCE].reset_index(drop=True)
        table = pd.concat([table, performance], axis=1)
        return table[[c for c in NEIGHBOR_COLUMNS if c in table]
                     + [c for c in table if c not in NEIGHBOR_COLUMNS]]

    def neighbors(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                  min_terms: int = 0) -> pd.DataFrame:
        """The n most similar stored campaigns, with similarity, shared topics, metrics."""
        self.check(campaign_id)
        account = self.campaigns.at[campaign_id, "account"]
        exclude, allowed = self._filters(account, exclude_account, min_terms)
        return self._neighbor_table(self.index.query_id(campaign_id, n, exclude=exclude,
                                                        allowed=allowed))

    def campaign(self, campaign_id: str, n: int = 10, *, exclude_account: bool = False,
                 min_terms: int = 0) -> LookupResult:
        """Fingerprint, neighbours and actions of a stored campaign."""
        self.check(campaign_id)
        weights = self.fingerprints.weights[self.fingerprints.index_of(campaign_id)]
        oov = float(self.fingerprints.oov_share[self.fingerprints.index_of(campaign_id)])
        fingerprint = score.Fingerprint(np.asarray(weights, dtype=float), oov)
        table = self.neighbors(campaign_id, n, exclude_account=exclude_account,
                               min_terms=min_terms)
        own = self._rows_of([campaign_id])
        return LookupResult(campaign_id, fingerprint, table, self._suggest(own, fingerprint,
                                                                          table))

    def keywords(self, keywords: Sequence[str], n: int = 10, *,
                 min_terms: int = 0) -> LookupResult:
        """Fingerprint (folded in), neighbours and actions of keywords not in the store."""
        fingerprint, table = self.keyword_neighbors(keywords, n, min_terms=min_terms)
        own = pd.DataFrame({"campaign_id": "(new)", "term": list(keywords),
                            "term_type": "keyword"})
        return LookupResult(None, fingerprint, table, self._suggest(own, fingerprint, table))

    def keyword_neighbors(self, keywords: Sequence[str], n: int = 10, *, min_terms: int = 0
                          ) -> tuple[score.Fingerprint, pd.DataFrame]:
        """Fingerprint (folded in) and neighbours of new keywords, without the actions (the
        scoring service's /v1/neighbors: actions cost more than the search)."""
        fingerprint = score.fold_in(self.model, keywords)
        bow, _ = self.model.encoder.encode(fingerprint.known_tokens + fingerprint.unknown_tokens)
        counts = bow_matrix([bow], len(self.model.vocabulary))
        _, allowed = self._filters(None, False, min_terms)
        found = self.index.query(fingerprint.weights, n, terms=counts, allowed=allowed)
        return fingerprint, self._neighbor_table(found)

    def _suggest(self, own: pd.DataFrame, fingerprint: score.Fingerprint,
                 table: pd.DataFrame) -> actions.SuggestionResult:
        neighbor_ids = table["campaign_id"].tolist()
        neighbor_terms = self._rows_of(neighbor_ids)
        return actions.suggest(
            own, neighbor_terms, table, fingerprint.weights,
            topic_term=self.model.engine.topic_term_, vocab=self.model.vocabulary,
            term_topic_fit=self._term_fit, topic_names=self.topic_names,
        )
