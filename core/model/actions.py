"""Suggested actions for one campaign, each with the rows of evidence that triggered it.

Nine kinds (`KINDS`), each a rule a person can re-check from the evidence table. Four
are decided here (below); five have modules of their own, and their docstrings give the
rules and thresholds:

- `ngram_waste` (`core.model.ngrams`): 1- to 3-word fragments of search terms that spent
  at least a conversion's cost and never converted, beyond chance, as negatives.
- `promote_search_terms` (`core.model.promote`): converting search terms that are not yet
  keywords (close-variant match), at a cost per conversion no worse than the campaign's.
- `duplicate_keywords` (`core.model.duplicates`): the same keyword and match type in
  several ad groups or campaigns of one account, side by side.
- `brand_leak` (`core.model.brand`): the advertiser's own brand in a non-brand campaign,
  or another advertiser's brand in a brand campaign.
- `wrong_ad_group` (`core.model.adgroups`): search terms that fit another ad group of the
  campaign much better, by topic or by words, than the one that served them.

The four decided here follow. Those that learn from neighbours (keyword ideas, benchmark
gaps) only use neighbours at or above the similarity floor `min_similarity` (default
`core.model.neighbors.MIN_SIMILARITY`, 0.5, measured by `bench/similarity_floor.py`): below
it a neighbour is as likely another kind of business, and the notes say how many were
similar enough.

- `add_keywords`: terms that the nearest neighbours use and this campaign lacks, weighted
  by neighbour similarity x the term's conversions (else clicks, else 1). A neighbour's
  term is never suggested when it carries that neighbour's own name (a word of its
  account or campaign name that this campaign does not use), a brand word of the data
  (`brand_words`, e.g. a model's `core.serve.naming.name_words`), or a place
  (`core.model.namewords.place_words`) this campaign does not use itself.
- `add_negatives`: this campaign's search terms that cost money, never converted, and fit
  its own topics poorly. Topic fit of a term t with topic mix theta_t against the campaign
  fingerprint f is `(theta_t . f) / (f . f)`: 1 means "as on-topic as the campaign's own
  mix", 0 means "none of its topics"; below `negative_fit_max` (0.25) is poor.
- `benchmark_gap`: CTR, CPC or conversion rate materially worse than the neighbours'
  median (CTR or conversion rate < 0.7 x median, CPC > 1.3 x median), judged only when
  the campaign has enough volume (1,000 impressions for CTR, 50 clicks for CPC, 100 clicks
  for conversion rate) and at least 3 neighbours have the metric on the same minimums.
- `split_campaign`: the fingerprint holds >= 2 topics of weight >= 0.25 each.

`score` is a rough size of the problem in [0, 1] used to rank actions; for the four kinds
here: the share of neighbour similarity behind the top keyword idea; the square root of
the wasted share of the campaign's cost; the relative gap to the median; the second
strongest topic's weight relative to the strongest.

Campaign totals count keyword rows when a campaign has keyword rows with metrics, else
all its rows: Google Ads keyword and search-term reports describe the same clicks, and
adding both would double them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.data.columns import lacking_columns
from core.data.currencies import format_money
from core.data.export import export_frame
from core.data.schema import METRIC_COLUMNS
from core.errors import InputError, counted, listed, plural
from core.model.namewords import place_words
from core.model.neighbors import MIN_SIMILARITY

# Stable names (benchmarks, CSV consumers and the API read them); the module docstring says
# what each is and which module decides it.
KINDS = ("add_keywords", "add_negatives", "benchmark_gap", "split_campaign", "ngram_waste",
         "promote_search_terms", "duplicate_keywords", "brand_leak", "wrong_ad_group")
# The term-row columns the rules read (others are ignored).
ROW_COLUMNS = ("campaign_id", "campaign_name", "account", "term", "term_type", *METRIC_COLUMNS,
               "ad_group", "match_type")  # + duplicates, promote (own modules)
TermTopicFit = Callable[[list[str]], np.ndarray]
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[^\W_]+")  # words; "akashi_brand" is two
# Campaign names that say "not brand" (Google Ads naming habits: "X - Non-Brand", "x_nonbrand",
# "Generic"); their own name words are the brand they must not bid on.
_NON_BRAND = re.compile(r"non[\s_-]?brand|generic", re.IGNORECASE)
_NON_BRAND_WORDS = {"non", "brand", "nonbrand", "generic"}
SPELLED_OUT_SHARE = 0.1  # of a campaign's terms that spell out its name's abbreviation


@dataclass(frozen=True)
class ActionSettings:
    """Thresholds of the rules; the defaults are the ones stated in the module docstring."""

    min_similarity: float = MIN_SIMILARITY  # neighbours below it are not learnt from
    keyword_max: int = 10            # terms listed in one add_keywords action
    keyword_min_neighbors: int = 2   # a term must be used by this many neighbours
    negative_fit_max: float = 0.25   # relative topic fit below which a term is off-topic
    negative_max: int = 20           # search terms listed in one add_negatives action
    ctr_ratio: float = 0.7           # flag CTR below this x the neighbours' median
    cpc_ratio: float = 1.3           # flag CPC above this x the median
    cvr_ratio: float = 0.7           # flag conversion rate below this x the median
    min_impressions: int = 1000      # to judge CTR (campaign and each neighbour)
    min_clicks: int = 50             # to judge CPC
    min_clicks_cvr: int = 100        # to judge conversion rate
    min_neighbors: int = 3           # neighbours with the metric, for a median
    split_min_weight: float = 0.25   # a "strong" topic
    split_min_topics: int = 2        # strong topics that suggest a split
    split_examples: int = 5          # example keywords listed per topic
    currency: str | None = None      # of the cost, for the amounts reasons quote (JPY: none
                                     # of Sony's yen are split into hundredths)


@dataclass
class Action:
    """One suggestion: what to do, why (one checkable line) and the evidence rows."""

    kind: str
    title: str
    reason: str
    score: float
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class SuggestionResult:
    actions: list[Action]            # best first
    notes: list[str]                 # what was skipped and why

    def nothing_to_suggest(self, neighbors: pd.DataFrame) -> str:
        """Why there is no action, for a reader who sees none: with no neighbour similar
        enough nothing was learnt, and with notes they say why; only with neither does
        the campaign look like its neighbours (Sony, `勤怠管理 システム`: two similar
        campaigns sharing no term were "looks like its neighbours" under a note saying
        no term was shared)."""
        if neighbors.empty or not neighbors["similar_enough"].any():
            return ("Nothing to suggest: no campaign is similar enough to learn from (see "
                    "*Minimum similarity*).")
        if self.notes:
            return "Nothing to suggest: the notes above say why."
        return "Nothing to suggest: this campaign looks like its neighbours."


def normalize_term(term: Any) -> str:
    """Comparable form of a term: NFKC, lower-case, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", str(term)).lower()
    return _SPACES.sub(" ", text).strip()


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _has(frame: pd.DataFrame | None, column: str) -> bool:
    return (frame is not None and len(frame) > 0 and column in frame.columns
            and bool(_numeric(frame, column).notna().any()))


def campaign_totals(terms: pd.DataFrame) -> pd.DataFrame:
    """Impressions, clicks, cost, conversions per campaign (NaN where never reported).

    Keyword rows are counted when the campaign has keyword rows with metrics, else all
    of its rows (see the module docstring). Campaigns in order of their first counted
    row. NumPy sums by campaign code: a pandas group-by was ~4 ms of every lookup's
    answer, most of it overhead on a handful of rows.
    """
    if "campaign_id" not in terms.columns:
        raise InputError(lacking_columns(terms.columns, ["campaign_id"]))
    metrics = np.column_stack([_numeric(terms, c).to_numpy() for c in METRIC_COLUMNS])
    codes, ids = pd.factorize(terms["campaign_id"].astype(str).to_numpy())
    is_keyword = ((terms["term_type"].fillna("keyword") == "keyword").to_numpy()
                  if "term_type" in terms.columns else np.ones(len(terms), dtype=bool))
    reported = ~np.isnan(metrics).all(axis=1)
    keyword_based = np.bincount(codes[is_keyword & reported], minlength=len(ids)) > 0
    use = (~keyword_based[codes] | is_keyword) & (codes >= 0)  # a missing id: no campaign
    codes, order = pd.factorize(codes[use])  # first counted row's order, as groupby gives
    used = metrics[use]
    known = ~np.isnan(used)
    sums = np.full((len(order), len(METRIC_COLUMNS)), np.nan)
    for j in range(len(METRIC_COLUMNS)):
        counted = np.bincount(codes[known[:, j]], minlength=len(order)) > 0
        total = np.bincount(codes, weights=np.where(known[:, j], used[:, j], 0.0),
                            minlength=len(order))
        sums[counted, j] = total[counted]  # never reported stays NaN, as sum(min_count=1)
    return pd.DataFrame(sums,
                        index=pd.Index(ids[order], name="campaign_id"),
                        columns=list(METRIC_COLUMNS))


# -- topics of terms --------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _ModelTermFit:
    """`term_topic_fit_from`'s callable: a class, not a closure, so that whatever holds it
    (a fitted `CampaignModel`) can be pickled or `joblib.dump`ed."""

    encoder: Any
    engine: Any

    def __call__(self, terms: list[str]) -> np.ndarray:
        bows, oov = self.encoder.encode_docs(list(terms))
        theta = np.asarray(self.engine.transform(bows), dtype=float)
        theta[np.asarray(oov) >= 1.0] = 0.0
        return theta


def term_topic_fit_from(encoder: Any, engine: Any) -> TermTopicFit:
    """A `term_topic_fit` from a model: `core.model.corpus.Encoder` + a fitted engine.

    Each term is tokenised as the training data was and folded in; a term with no word
    in the vocabulary gets a zero row (its fit is unknown, counted as 0).
    """
    return _ModelTermFit(encoder, engine)


def _term_topics(terms: Sequence[str], k: int, topic_term: np.ndarray | None,
                 vocab: Sequence[str] | None, term_topic_fit: TermTopicFit | None
                 ) -> np.ndarray | None:
    """Topic mix of each term (rows sum to 1, or 0 when none of its words is known)."""
    if not len(terms):
        return np.zeros((0, k))
    if term_topic_fit is not None:
        theta = np.nan_to_num(np.asarray(term_topic_fit(list(terms)), dtype=float))
        if theta.shape != (len(terms), k):
            raise InputError(f"term_topic_fit returned shape {theta.shape}; expected "
                             f"({len(terms)}, {k})")
    elif topic_term is not None and vocab is not None:
        # p(topic | word) under a uniform topic prior, averaged over the term's known words.
        phi = np.asarray(topic_term, dtype=float)
        column = {w: j for j, w in enumerate(vocab)}
        theta = np.zeros((len(terms), k))
        for i, term in enumerate(terms):
            cols = [column[w] for w in normalize_term(term).split() if w in column]
            if cols:
                word_topics = phi[:, cols]
                word_topics = word_topics / np.maximum(word_topics.sum(axis=0), 1e-300)
                theta[i] = word_topics.mean(axis=1)
    else:
        return None
    theta = np.clip(theta, 0, None)
    totals = theta.sum(axis=1, keepdims=True)
    return np.divide(theta, totals, out=np.zeros_like(theta), where=totals > 0)


def _topic_name(t: int, topic_term: np.ndarray | None, vocab: Sequence[str] | None,
                topic_names: Sequence[str] | None) -> str:
    if topic_names is not None and t < len(topic_names) and str(topic_names[t] or "").strip():
        return str(topic_names[t])
    if topic_term is not None and vocab is not None:
        top = np.argsort(-np.asarray(topic_term)[t], kind="stable")[:3]
        return f"topic {t}: " + ", ".join(str(vocab[j]) for j in top)
    return f"topic {t}"


# -- the rules --------------------------------------------------------------------------
def words_of(text: Any) -> set[str]:
    """Lower-case words of a term or name (as `normalize_term`, split on non-word runs)."""
    if text is None or (isinstance(text, float) and text != text):
        return set()
    return set(_WORDS.findall(normalize_term(text)))


def _name_words_by_campaign(ids: Sequence[str], columns: dict[str, list]
                            ) -> dict[str, set[str]]:
    """Words of each campaign's account and campaign name (`columns`, values row by row
    beside `ids`; stop words and 1-2 letter words left out: "the", "&", "co" name
    nothing). Each column's first known value per campaign, as groupby().first() gives, in
    plain Python: over a few hundred neighbour rows of Arrow strings that groupby was ~7
    of a pasted lookup's ~80 ms of CPU, this loop ~1."""
    from spacy.lang.en.stop_words import STOP_WORDS

    if not columns:
        return {}
    firsts: dict[str, list[Any]] = {cid: [] for cid in ids}
    for values in columns.values():
        first: dict[str, Any] = {}
        for cid, value in zip(ids, values, strict=True):
            if cid not in first and value is not None and value == value:  # not NaN
                first[cid] = value
        for cid, value in first.items():
            firsts[cid].append(value)
    return {cid: {w for v in values for w in words_of(v) if len(w) > 2 and w not in STOP_WORDS}
            for cid, values in firsts.items()}


def _brand_name_words(named: dict[str, set[str]], brands: Any) -> dict[str, set[str]]:
    """Of each campaign's name words, those that name its advertiser: the words of its
    brand phrases (`core.model.brand.BrandIndex`, which leaves out the words that say
    what is sold: endings many account names share, words the model knows). A campaign
    the index does not know keeps every name word. Sony's
    `bitdrive_windows_server_alltime` kept "windows server" out of its neighbours'
    keyword ideas as "that advertiser's name"; its advertiser's brand is "bitdrive"."""
    if brands is None:
        return named
    out = {}
    for cid, words in named.items():
        owner = brands.owner_of.get(cid)
        if owner is None:
            out[cid] = words
            continue
        branded = {w for p in brands.phrases.get(owner, ()) for w in words_of(p)}
        out[cid] = words & branded
    return out


def _spelled_out(name_words: set[str], terms: Collection[str]) -> set[str]:
    """Words that a campaign's short name words abbreviate, as its own terms spell them
    out: "nnc" of Sony's `nnc_old_brand_alltime` is "neural network console" in its
    keywords (44 of its 217 rows). A name word of 3-5 letters counts when the initials of
    consecutive words spell it in at least 10% of the campaign's distinct terms, and in 2
    at least: a few may be chance ("ac installation reviews" spells the "air" of a
    "Heating & Air" campaign; 2 of its terms)."""
    short = {w for w in name_words if 3 <= len(w) <= 5 and w.isascii() and w.isalpha()}
    if not short:
        return set()
    seen: dict[tuple[str, ...], int] = {}
    for term in terms:
        words = _WORDS.findall(term)
        initials = "".join(w[0] for w in words)
        for w in short:
            start = initials.find(w)
            spelled = set()
            while start != -1:
                spelled.add(tuple(words[start:start + len(w)]))
                start = initials.find(w, start + 1)
            for phrase in spelled:
                seen[phrase] = seen.get(phrase, 0) + 1
    enough = max(2, SPELLED_OUT_SHARE * len(terms))
    return {word for phrase, count in seen.items() if count >= enough for word in phrase}


def _nan_sum(values: Sequence[float]) -> float:
    """Sum of the known values, NaN when none is known (pandas' `sum(min_count=1)`)."""
    known = [v for v in values if v == v]
    return math.fsum(known) if known else math.nan


def _add_keywords(own: set[str], neighbor_terms: pd.DataFrame, neighbors: pd.DataFrame,
                  s: ActionSettings, notes: list[str], own_words: set[str] | None = None,
                  brand_words: Collection[str] = (),
                  brand_phrases: Collection[str] = (), brands: Any = None) -> Action | None:
    # Plain Python over the neighbours' few hundred rows: the same table in pandas (filter,
    # two group-bys, a sort) was about half of a pasted-keyword lookup's CPU.
    sims: dict[str, float] = {}
    for cid, similarity in zip(neighbors["campaign_id"].tolist(),
                               _numeric(neighbors, "similarity").tolist(), strict=True):
        sims.setdefault(str(cid), similarity)
    ids = [str(c) for c in neighbor_terms["campaign_id"].tolist()]
    kept = [i for i, cid in enumerate(ids) if cid in sims]
    if not kept:
        return None
    raw = neighbor_terms["term"].tolist()
    raw = [raw[i] for i in kept]
    normal = {t: normalize_term(t) for t in dict.fromkeys(raw)}
    terms = [normal[t] for t in raw]
    ids = [ids[i] for i in kept]
    clicks = _numeric(neighbor_terms, "clicks").to_numpy()[kept].tolist()
    conversions = _numeric(neighbor_terms, "conversions").to_numpy()[kept].tolist()
    # Another advertiser's name or a place this campaign does not target is no idea.
    own_words = own_words if own_words is not None else {w for t in own for w in words_of(t)}
    names = {c: neighbor_terms[c].tolist() for c in ("campaign_name", "account")
             if c in neighbor_terms.columns}
    names = {c: [values[i] for i in kept] for c, values in names.items()}
    named = _brand_name_words(_name_words_by_campaign(ids, names), brands)
    if named:
        terms_of: dict[str, set[str]] = {}
        for cid, t in zip(ids, terms, strict=True):
            terms_of.setdefault(cid, set()).add(t)
        named = {cid: words | _spelled_out(words, terms_of.get(cid, ()))
                 for cid, words in named.items()}
    foreign = {cid: words - own_words for cid, words in named.items()}
    term_words = {t: set(_WORDS.findall(t)) for t in normal.values()}  # words_of, normalised
    places, brand_words = place_words(), set(brand_words)  # 14k places: not copied per answer
    placed = {t: any(w in places or w in brand_words for w in words - own_words)
              for t, words in term_words.items()}
    if brand_phrases:  # this advertiser's own brand, in any spelling (core.model.brand)
        from core.model.brand import find_phrases
        placed = {t: named or bool(find_phrases(t, brand_phrases)) for t, named in placed.items()}
    none: set[str] = set()
    carries = [placed[t] or not term_words[t].isdisjoint(foreign.get(c, none))
               for c, t in zip(ids, terms, strict=True)]
    if any(carries):
        left_out = [t for t in dict.fromkeys(t for t, c in zip(terms, carries, strict=True) if c)
                    if t not in own]
        if left_out:
            shown = ", ".join(f"'{t}'" for t in left_out[:3])
            notes.append(f"{counted(len(left_out), 'term')} of similar campaigns "
                         f"{plural(len(left_out), 'was', 'were')} not suggested because "
                         f"{plural(len(left_out), 'it carries', 'they carry')} that "
                         f"advertiser's name or a place this campaign does not use "
                         f"(e.g. {shown}).")
        rows = [r for r, c in zip(zip(terms, ids, clicks, conversions, strict=True), carries,
                                  strict=True) if not c]
        if not rows:
            return None
    else:
        rows = list(zip(terms, ids, clicks, conversions, strict=True))
    weight_by = next((m for m, j in (("conversions", 3), ("clicks", 2))
                      if math.fsum(r[j] for r in rows if r[j] == r[j]) > 0), None)
    if weight_by is None:
        notes.append("No conversions or clicks for the similar campaigns' terms: keyword "
                     "ideas are ranked by how many similar campaigns use them (weighted by "
                     "similarity).")
    # Each term's uses: one per neighbour, with that neighbour's clicks and conversions.
    uses: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for term, cid, click, conversion in rows:
        use = uses.setdefault(term, {}).setdefault(cid, ([], []))
        use[0].append(click)
        use[1].append(conversion)
    need = min(s.keyword_min_neighbors, len(sims))
    column = {"clicks": 1, "conversions": 2}.get(weight_by or "")  # in per_use below
    ideas = []
    for term, by_neighbor in uses.items():
        if term in own or len(by_neighbor) < need:
            continue
        per_use = [(sims[cid], _nan_sum(c), _nan_sum(v)) for cid, (c, v) in by_neighbor.items()]
        weighted = math.fsum(p[0] * (1.0 if column is None else
                                     p[column] if p[column] == p[column] else 0.0)
                             for p in per_use)
        if weighted > 0:
            ideas.append((term, weighted, len(per_use), math.fsum(p[0] for p in per_use),
                          _nan_sum([p[1] for p in per_use]), _nan_sum([p[2] for p in per_use])))
    if not ideas:
        notes.append(_no_ideas_note(uses, own, need, len(sims), weight_by))
        return None
    ideas = sorted(ideas, key=lambda idea: (-idea[1], -idea[2], idea[0]))[:s.keyword_max]
    top = dict(zip(("term", "weighted_score", "neighbors", "neighbor_similarity",
                    "neighbor_clicks", "neighbor_conversions"), ideas[0], strict=True))
    detail = (f", {top['neighbor_' + weight_by]:,.0f} {weight_by}" if weight_by else "")
    score = top["neighbor_similarity"] / max(math.fsum(max(v, 0.0) for v in sims.values()), 1e-12)
    evidence = pd.DataFrame([(t, w, n, c, v) for t, w, n, _, c, v in ideas],
                            columns=["term", "weighted_score", "neighbors", "neighbor_clicks",
                                     "neighbor_conversions"])
    return Action(
        kind="add_keywords",
        title=f"Add {counted(len(ideas), 'keyword')} that similar campaigns use",
        reason=(f"{counted(len(ideas), 'term')} used by at least {need} of the {len(sims)} "
                f"most similar campaigns {plural(len(ideas), 'is', 'are')} missing here; "
                f"top: '{top['term']}' (used by "
                f"{counted(int(top['neighbors']), 'similar campaign')}{detail})"),
        score=min(1.0, float(score)), evidence=evidence)


def _no_ideas_note(uses: dict[str, dict], own: set[str], need: int, similar: int,
                   weight_by: str | None) -> str:
    """Why the similar campaigns gave no keyword idea: Lookup showed none and said nothing
    (the Sony store, pasting `勤怠管理 システム`: no term of its 2 similar campaigns is
    used by both)."""
    missing = [t for t in uses if t not in own]
    shared = [t for t in missing if len(uses[t]) >= need]
    of = f"the {counted(similar, 'similar campaign')}"
    if not missing:
        return f"No keyword ideas: this campaign has every term {of} use."
    if not shared:
        by = "both" if need == similar == 2 else f"{need} of them"
        return (f"No keyword ideas: none of the {counted(len(missing), 'term')} of {of} that this "
                f"campaign lacks is used by {by} (an idea needs {need} campaigns).")
    return (f"No keyword ideas: the {counted(len(shared), 'term')} used by {need} or more of {of} "
            f"had no {weight_by or 'similarity above 0'}.")


def _add_negatives(campaign_terms: pd.DataFrame, own_keywords: set[str], fingerprint: np.ndarray,
                   term_topics: Callable[[Sequence[str]], np.ndarray | None],
                   total_cost: float, s: ActionSettings, notes: list[str]) -> Action | None:
    if "term_type" not in campaign_terms.columns or not (
            campaign_terms["term_type"] == "search_term").any():
        notes.append("No search terms for this campaign: negative keyword suggestions need "
                     "the search terms report.")
        return None
    rows = campaign_terms[campaign_terms["term_type"] == "search_term"]
    if not (_has(rows, "cost") and _has(rows, "conversions")):
        notes.append("The search terms have no cost or no conversions: negative keyword "
                     "suggestions were skipped.")
        return None
    table = pd.DataFrame({"term": rows["term"].map(normalize_term).to_numpy(),
                          "cost": _numeric(rows, "cost").to_numpy(),
                          "clicks": _numeric(rows, "clicks").to_numpy(),
                          "conversions": _numeric(rows, "conversions").to_numpy()})
    table = table.groupby("term", sort=False).sum(min_count=1).reset_index()
    table = table[(table["cost"] > 0) & (table["conversions"] == 0)
                  & ~table["term"].isin(own_keywords)]
    if table.empty:
        return None
    theta = term_topics(table["term"].tolist())
    if theta is None:
        notes.append("No topic model was given: negative keyword suggestions need each "
                     "term's topic fit and were skipped.")
        return None
    f = np.asarray(fingerprint, dtype=float)
    table = table.assign(fit=theta @ f / float(f @ f), known_words=theta.sum(axis=1) > 0)
    poor = table[table["fit"] < s.negative_fit_max].sort_values(["cost", "term"],
                                                                ascending=[False, True])
    if poor.empty:
        return None
    wasted = float(poor["cost"].sum())
    share = wasted / total_cost if total_cost > 0 else 1.0
    listed = poor.head(s.negative_max)
    return Action(
        kind="add_negatives",
        title=f"Add {counted(len(poor), 'negative keyword')}",
        reason=(f"{counted(len(poor), 'search term')} spent "
                f"{format_money(wasted, s.currency)} ({share:.0%} of the "
                f"campaign's cost) without converting and fit its topics poorly "
                f"(fit < {s.negative_fit_max:g})"),
        score=float(np.sqrt(min(1.0, share))),
        evidence=listed[["term", "cost", "clicks", "fit", "known_words"]].reset_index(drop=True))


_GAPS = (  # name, numerator, denominator, higher_is_better, settings ratio, settings minimum
    ("CTR", "clicks", "impressions", True, "ctr_ratio", "min_impressions"),
    ("CPC", "cost", "clicks", False, "cpc_ratio", "min_clicks"),
    ("conversion rate", "conversions", "clicks", True, "cvr_ratio", "min_clicks_cvr"),
)


def _benchmark_gaps(own: pd.Series, peers: pd.DataFrame, s: ActionSettings,
                    notes: list[str]) -> list[Action]:
    actions = []
    for name, num, den, higher_better, ratio_key, min_key in _GAPS:
        ratio_limit, minimum = getattr(s, ratio_key), getattr(s, min_key)
        # a note is a sentence: "conversion rate was not compared" stood among capitals
        skipped = f"{name[:1].upper()}{name[1:]} was not compared"
        if pd.isna(own.get(num)) or pd.isna(own.get(den)):
            notes.append(f"{skipped}: this campaign has no {num} or {den}.")
            continue
        if own[den] < minimum:
            notes.append(f"{skipped}: this campaign has {own[den]:,.0f} {den} "
                         f"(minimum {minimum:,}).")
            continue
        ok = peers[den].fillna(0) >= minimum
        values = (peers.loc[ok, num] / peers.loc[ok, den]).dropna()
        if len(values) < s.min_neighbors:
            notes.append(f"{skipped}: {counted(len(values), 'similar campaign')} "
                         f"{plural(len(values), 'has', 'have')} "
                         f"{minimum:,}+ {den} (minimum {s.min_neighbors}).")
            continue
        value, median = float(own[num] / own[den]), float(values.median())
        if median <= 0:
            continue
        relative = value / median
        worse = relative < ratio_limit if higher_better else relative > ratio_limit
        if not worse:
            continue
        fmt = ((lambda x: f"{x:.2%}") if name != "CPC"
               else (lambda x: format_money(x, s.currency)))
        actions.append(Action(
            kind="benchmark_gap",
            title=f"{name} is {'below' if higher_better else 'above'} similar campaigns",
            reason=(f"{name} {fmt(value)} vs median {fmt(median)} of {len(values)} similar "
                    f"campaigns ({relative:.2f}x; flagged {'<' if higher_better else '>'} "
                    f"{ratio_limit:g}x), on {own[den]:,.0f} {den} (minimum {minimum:,})"),
            score=float(1 - relative if higher_better else 1 - 1 / relative),
            evidence=pd.DataFrame([{"metric": name, "campaign_value": value,
                                    "neighbor_median": median, "neighbors": len(values),
                                    "ratio": relative, f"campaign_{den}": float(own[den])}])))
    return actions


# Sony's `amuelind_brand` (no word in a K = 3 model's vocabulary) was told to split into
# its prior's three topics of 0.33, "normalised entropy 1.00".
_NO_SPLIT_OF_PRIOR = ("No split by topic suggested: the model knows no word of this campaign, "
                      "so its fingerprint is the prior alone, the same weight on every topic.")


def _split(campaign_terms: pd.DataFrame, fingerprint: np.ndarray,
           term_topics: Callable[[Sequence[str]], np.ndarray | None],
           name: Callable[[int], str], s: ActionSettings) -> Action | None:
    f = np.asarray(fingerprint, dtype=float)
    f = f / f.sum()
    strong = [int(t) for t in np.argsort(-f, kind="stable") if f[t] >= s.split_min_weight]
    if len(strong) < s.split_min_topics:
        return None
    entropy = float(-(f[f > 0] * np.log(f[f > 0])).sum() / np.log(len(f))) if len(f) > 1 else 0.0
    terms = list(dict.fromkeys(campaign_terms["term"].map(normalize_term)))
    theta = term_topics(terms)
    evidence = []
    best = None
    if theta is not None and len(terms):
        known = theta.sum(axis=1) > 0
        best = np.where(known, np.asarray(strong)[np.argmax(theta[:, strong], axis=1)], -1)
    for t in strong:
        row = {"topic": t, "name": name(t), "weight": float(f[t])}
        if best is not None:
            mine = [term for term, b in zip(terms, best, strict=True) if b == t]
            row["keywords"] = len(mine)
            row["examples"] = ", ".join(mine[:s.split_examples])
        evidence.append(row)
    named = " and ".join(f"'{name(t)}' ({f[t]:.2f})" for t in strong)
    return Action(
        kind="split_campaign",
        title=f"Split the campaign by topic ({len(strong)} strong topics)",
        reason=(f"its fingerprint holds {len(strong)} topics of weight >= "
                f"{s.split_min_weight:g}: {named}; normalised entropy {entropy:.2f}"),
        score=float(f[strong[1]] / f[strong[0]]), evidence=pd.DataFrame(evidence))


# -- public entry points ----------------------------------------------------------------
def suggest(campaign_terms: pd.DataFrame, neighbor_terms: pd.DataFrame,
            neighbors: pd.DataFrame, fingerprint: np.ndarray,
            topic_term: np.ndarray | None = None, vocab: Sequence[str] | None = None,
            term_topic_fit: TermTopicFit | None = None,
            topic_names: Sequence[str] | None = None, *,
            settings: ActionSettings | None = None,
            brand_words: Collection[str] = (),
            account_terms: pd.DataFrame | None = None,
            brands: Any = None, owner_terms: pd.DataFrame | None = None,
            prior_only: bool = False) -> SuggestionResult:
    """Suggested actions for one campaign, best first, and notes on what was skipped.

    campaign_terms: this campaign's rows (core.data.schema columns; `term` required, metrics
        and `term_type` optional). neighbor_terms: the rows of its neighbours.
    neighbors: `campaign_id`, `similarity` and optionally per-campaign totals
        impressions/clicks/cost/conversions (computed from neighbor_terms when absent).
    fingerprint: the campaign's topic distribution (length K).
    topic_term, vocab: the model's K x V matrix and words, for topic names and, without
        `term_topic_fit`, a rough topic mix of terms from their whitespace-split words.
    term_topic_fit: terms -> topic mixes (len x K), e.g. `term_topic_fit_from(encoder,
        engine)`; preferred, since it tokenises as the model did.
    account_terms: the rows of the campaign's account, for duplicate keywords across
        its campaigns (without them, only duplicates between its own ad groups).
    brands: a `core.model.brand.BrandIndex` of the data (every advertiser's brand), for
        brand_leak; without it only this campaign's own names are known.
    owner_terms: the rows of every campaign of its advertiser (`BrandIndex.campaigns_of`),
        where brands that are in no name show (default: account_terms).
    prior_only: the model knows no word of the campaign (`Fingerprint.knows_no_word`): its
        fingerprint is the prior, which says nothing of its topics, so no split.
    """
    s = settings or ActionSettings()
    for frame, label, needed in [(campaign_terms, "campaign_terms", ("term",)),
                                 (neighbor_terms, "neighbor_terms", ("campaign_id", "term")),
                                 (neighbors, "neighbors", ("campaign_id", "similarity"))]:
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"{label} lacks the {listed('column', missing)}")
    fingerprint = np.asarray(fingerprint, dtype=float).ravel()
    if fingerprint.size == 0 or fingerprint.sum() <= 0:
        raise InputError("the fingerprint must have a positive total weight")
    fingerprint = fingerprint / fingerprint.sum()
    k = fingerprint.size

    cache: dict[tuple[str, ...], np.ndarray | None] = {}

    def term_topics(terms: Sequence[str]) -> np.ndarray | None:
        key = tuple(terms)
        if key not in cache:
            cache[key] = _term_topics(terms, k, topic_term, vocab, term_topic_fit)
        return cache[key]

    notes: list[str] = []
    actions: list[Action] = []
    own_terms = set(campaign_terms["term"].map(normalize_term))
    kinds = (campaign_terms["term_type"].fillna("keyword") if "term_type" in campaign_terms
             else pd.Series("keyword", index=campaign_terms.index))
    own_keywords = set(campaign_terms.loc[kinds != "search_term", "term"].map(normalize_term))
    own_id = (str(campaign_terms["campaign_id"].iloc[0])
              if "campaign_id" in campaign_terms.columns and len(campaign_terms) else None)
    neighbors = neighbors[neighbors["campaign_id"].astype(str) != own_id]
    neighbors = _similar_enough(neighbors, s, notes)
    own_words = {w for t in own_terms for w in words_of(t)}
    name_words: set[str] = set()
    for column in ("campaign_name", "account"):
        if column in campaign_terms.columns and len(campaign_terms):
            value = campaign_terms[column].iloc[0]
            name_words |= words_of(value) if isinstance(value, str) else set()
    name = campaign_terms["campaign_name"].iloc[0] if (
        "campaign_name" in campaign_terms.columns and len(campaign_terms)) else None
    if isinstance(name, str) and _NON_BRAND.search(name):
        # A non-brand campaign must not be told to add its own brand (its name's words).
        brand_words = {*brand_words, *(name_words - _NON_BRAND_WORDS - own_words)}
    else:
        own_words |= name_words
    from core.model import adgroups, brand  # they import this module
    if brands is None:
        brands = brand.BrandIndex.build(brand.campaign_table(
            campaign_terms if account_terms is None else
            pd.concat([campaign_terms, account_terms], ignore_index=True)), vocab or (),
            brand_words)
    owner_rows = owner_terms if owner_terms is not None else account_terms
    own_brand = (brand.owner_phrases(brands, brands.owner_of.get(own_id or "", ""), owner_rows)
                 if own_id is not None and not brand.is_brand_name(name) else ())

    idea = _add_keywords(own_terms, neighbor_terms, neighbors, s, notes, own_words,
                         brand_words, own_brand, brands)
    if idea:
        actions.append(idea)

    frames = [campaign_terms, neighbor_terms, neighbors]
    if not any(_has(f, c) for f in frames for c in METRIC_COLUMNS):
        notes.append("No impressions, clicks, cost or conversions in this data: metric-based "
                     "actions (negative keywords, benchmark gaps) were skipped.")
    else:
        own_totals = campaign_totals(campaign_terms.assign(campaign_id=own_id or "campaign"))
        own = (own_totals.iloc[0] if len(own_totals)
               else pd.Series(np.nan, index=list(METRIC_COLUMNS)))
        total_cost = float(own["cost"]) if pd.notna(own["cost"]) else 0.0
        negatives = _add_negatives(campaign_terms, own_keywords, fingerprint, term_topics,
                                   total_cost, s, notes)
        from core.model import negatives as safety  # they import this module
        from core.model import ngrams, promote
        if negatives:
            negatives = safety.safeguard(negatives, campaign_terms)  # match type, conflicts
        if negatives:
            actions.append(negatives)
        waste = ngrams.ngram_waste(campaign_terms, notes=notes, currency=s.currency)
        promoted = promote.promote_search_terms(campaign_terms, notes=notes)
        actions += [a for a in (waste, promoted) if a]
        totals_given = any(_has(neighbors, c) for c in METRIC_COLUMNS)
        peers = (neighbors.set_index(neighbors["campaign_id"].astype(str))
                 .reindex(columns=list(METRIC_COLUMNS)).apply(pd.to_numeric, errors="coerce")
                 .astype("float64")  # clicks and impressions come as Int64, <NA> missing
                 if totals_given else
                 campaign_totals(neighbor_terms[neighbor_terms["campaign_id"].astype(str)
                                                .isin(neighbors["campaign_id"].astype(str))]))
        actions += _benchmark_gaps(own, peers, s, notes)

    from core.model import duplicates  # imports this module
    duplicated = duplicates.duplicate_keywords(campaign_terms, account_terms)
    leak = brand.brand_leak(campaign_terms, brands, owner_rows)
    misplaced = adgroups.wrong_ad_group(campaign_terms, term_topics, notes=notes)
    actions += [a for a in (duplicated, leak, misplaced) if a]
    split = None if prior_only else _split(
        campaign_terms, fingerprint, term_topics,
        lambda t: _topic_name(t, topic_term, vocab, topic_names), s)
    if prior_only:
        notes.append(_NO_SPLIT_OF_PRIOR)
    if split:
        actions.append(split)
    actions.sort(key=lambda a: (-a.score, KINDS.index(a.kind)))
    return SuggestionResult(actions=actions, notes=notes)


def _similar_enough(neighbors: pd.DataFrame, s: ActionSettings,
                    notes: list[str]) -> pd.DataFrame:
    """The neighbours at or above the similarity floor, with a note when some were not."""
    similarity = pd.to_numeric(neighbors["similarity"], errors="coerce")
    close = neighbors[similarity >= s.min_similarity]
    below = len(neighbors) - len(close)
    floor = f"similarity >= {s.min_similarity:.2f}"
    if len(close) == 0 and below:
        notes.append(f"No campaign is similar enough to learn from ({floor}; the nearest has "
                     f"{similarity.max():.2f}): keyword ideas and benchmarks were skipped.")
    elif len(close) < s.min_neighbors and below:
        notes.append(f"Only {counted(len(close), 'campaign')} {plural(len(close), 'is', 'are')} "
                     f"similar enough to benchmark against ({floor}; benchmarks need "
                     f"{s.min_neighbors}); {below} less similar "
                     f"{plural(below, 'one was', 'ones were')} not used.")
    elif below:
        notes.append(f"{len(close)} of the {len(neighbors)} nearest campaigns "
                     f"{plural(len(close), 'is', 'are')} similar enough ({floor}); the other "
                     f"{below} {plural(below, 'was', 'were')} not used for actions.")
    return close


def to_frame(actions: Sequence[Action] | SuggestionResult) -> pd.DataFrame:
    """One row per action x evidence row: the CSV export, and the `actions` of every JSON
    answer (CLI, service, Lookup). Takes the actions or the whole `SuggestionResult` (what
    `CampaignModel.suggest` returns, as its docstring says: that was "TypeError:
    'SuggestionResult' object is not iterable").

    Columns: rank, kind, title, reason, score, then the evidence columns of all actions
    (empty where an action has no such column). An evidence column whose name clashes
    with an action column is prefixed `evidence_`. Numbers are rounded as the CSV rounds
    them (`core.data.export.export_frame`: scores to 3 decimals, money to cents, counts
    whole), so JSON and CSV say the same; the JSON said `"score": 0.38487563267284575`,
    `"neighbors": 4.0` and `"neighbor_clicks": 1801.0`. `Action.score` and
    `Action.evidence` keep the unrounded numbers.
    """
    if isinstance(actions, SuggestionResult):
        actions = actions.actions
    fixed = ["rank", "kind", "title", "reason", "score"]
    parts = []
    for rank, action in enumerate(actions, start=1):
        evidence = (action.evidence if isinstance(action.evidence, pd.DataFrame)
                    else pd.DataFrame(list(action.evidence)))
        evidence = evidence.rename(columns={c: f"evidence_{c}" for c in evidence.columns
                                            if c in fixed})
        if evidence.empty:
            evidence = pd.DataFrame([{}])
        head = pd.DataFrame({"rank": rank, "kind": action.kind, "title": action.title,
                             "reason": action.reason, "score": action.score},
                            index=range(len(evidence)))
        parts.append(pd.concat([head, evidence.reset_index(drop=True)], axis=1))
    if not parts:
        return pd.DataFrame(columns=fixed)
    return export_frame(pd.concat(parts, ignore_index=True))
