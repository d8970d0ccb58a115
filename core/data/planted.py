"""Planted problems in the demo corpus, with their ground truth.

Why: the suggested actions (n-gram waste, safe negatives, promote search terms, duplicate
keywords, brand leakage, wrong ad group) can only be proven against problems whose answer
is known. The demo generator calls `plant` on the corpus it drew: a seeded share of
campaigns gets one planted problem each, written into ordinary term rows, and the truth
goes to a separate table (`data/demo/planted.parquet`), never to the term rows, so no model
or action can see it. `bench/actions.py` scores every action against it.

Kinds (the `kind` column; `detail` says more):
- `ngram_waste`: a word (from the vocabulary file's `[planted] waste_words`, used nowhere
  else) added to 4 of the campaign's search terms that spent about 10x the campaign's cost
  per conversion in clicks enough for ~10 expected conversions, and converted none.
- `negative_conflicts`: in half of those campaigns a second wasteful word that also sits
  in one of the campaign's keywords: blocking it would block the keyword.
- `promote_search_terms`: a search term that is not a keyword (not even as a close
  variant) and converted at least 8 times (15% of the campaign's conversions) at 40% of
  the campaign's cost per conversion.
- `duplicate_keywords`: a keyword of one campaign copied, with its match type, into
  another campaign of the same account (truth rows for both campaigns).
- `brand_leakage`: the account's own brand searched in one of its non-brand campaigns,
  or a competitor's brand in a brand campaign.
- `wrong_ad_group`: one search term with at least `MISPLACED_MIN_CLICKS` clicks moved
  from its themed ad group to another themed ad group of the same campaign (`detail` names
  the ad group it belongs to). Only a term that demonstrably belongs where it was: one
  of that ad group's keywords matches it (all the keyword's words are in it) and none of
  the other ad group's does, as when broad match lets the wrong keyword win the auction.

Rows planted for the other kinds go where they fit: a wasteful query into the ad group of
the keyword it extends, a copied keyword into the ad group of its theme (as in the
campaign it was copied from), a brand query (no theme) into the campaign's main ad group.

`origin` is `planted` for these. Rows with `origin = background` record what the
generator makes on purpose anyway and a flag may rightly point at: search terms that can
never convert (off-topic queries and the planted wasteful ones; kind `ngram_waste`, the
whole search term in `term`), keywords that the vocabulary repeats across campaigns of
an account (kind `duplicate_keywords`), and search terms whose true conversion rate (known
to the generator, not to the data) brings at least one conversion at no more than the
campaign's cost per conversion (kind `promote_search_terms`). Recall is measured on
planted rows only; a flag that hits a background row is not a false positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANTED_COLUMNS = ("kind", "campaign_id", "ad_group", "term", "origin", "detail")
KINDS = ("ngram_waste", "negative_conflicts", "promote_search_terms", "duplicate_keywords",
         "brand_leakage", "wrong_ad_group")
SHARE = 0.05          # of campaigns, per kind (negative_conflicts: half of ngram_waste's)
MAX_TERMS = 140       # campaigns stay within the generator's 15-150 terms with the plants
MIN_CONVERSIONS = 25.0  # so that a planted waste of ~20 conversions' clicks is not most of it
_WASTE_TERMS = 4
TRULY_CONVERTS = 0.5  # expected conversions of a search term worth a keyword (background)
_EXPECTED_CONVERSIONS = 10.0  # the waste's clicks would have brought this many conversions
MISPLACED_MIN_CLICKS = 5  # a misplaced term worth moving sent people to the wrong ad


def plant(frame: pd.DataFrame, never_converts: np.ndarray, expected_conversions: np.ndarray,
          waste_words: list[str], brand_names: list[str],
          seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The corpus with planted problems, and the truth table (`PLANTED_COLUMNS`).

    `never_converts`: per row of `frame`, whether the generator made it a search term
    that can never convert (off-topic); `expected_conversions`: clicks x the row's true
    conversion rate. Same arguments give the same output."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    p = _Planter(frame, rng, waste_words, brand_names, never_converts)
    p.truth += _background_converters(frame, expected_conversions)
    for term, campaign in zip(frame.loc[never_converts, "term"],
                              frame.loc[never_converts, "campaign_id"], strict=True):
        p.truth.append(("ngram_waste", campaign, None, term, "background", "never converts"))
    eligible = p.eligible()
    order = rng.permutation(eligible)
    n = max(1, round(SHARE * len(p.campaign_ids)))
    chunks = [order[i * n:(i + 1) * n] for i in range(5)]
    for i, campaign in enumerate(chunks[0]):
        p.waste(campaign, conflict=i % 2 == 0)
    for campaign in chunks[1]:
        p.promote(campaign)
    for campaign in chunks[2]:
        p.duplicate(campaign)
    for campaign in chunks[3]:
        p.brand(campaign)
    for campaign in chunks[4]:
        p.wrong_ad_group(campaign)
    return p.result()


class _Planter:
    """Per-campaign figures of the corpus, and the rows and truth planted so far."""

    def __init__(self, frame: pd.DataFrame, rng: np.random.Generator,
                 waste_words: list[str], brand_names: list[str],
                 never_converts: np.ndarray) -> None:
        self.frame = frame
        self.rng = rng
        self.waste_words = waste_words
        self.campaign_ids = frame["campaign_id"].drop_duplicates().tolist()
        self.rows_of = frame.groupby("campaign_id", sort=False).indices
        self.new_rows: list[dict] = []
        self._rows: dict[str, pd.DataFrame] = {}
        self.moved: dict[int, str] = {}  # row position -> new ad group
        self.truth: list[tuple] = []
        self.used: set[str] = set()  # campaigns with a plant
        searches = frame[frame["term_type"] == "search_term"]
        self.stats = searches.groupby("campaign_id", sort=False)[
            ["impressions", "clicks", "cost", "conversions"]].sum()
        self.totals = {c: tuple(map(float, v)) for c, v in
                       zip(self.stats.index, self.stats.to_numpy(), strict=True)}
        names = frame.groupby("campaign_id", sort=False)[["campaign_name", "account"]].first()
        self.name, self.account = names["campaign_name"], names["account"]
        self.is_brand = self.name.str.contains(" - Brand - ", regex=False).to_dict()
        self.name, self.account = self.name.to_dict(), self.account.to_dict()
        self.campaigns_of = {a: list(c) for a, c in
                             names.groupby("account", sort=False).groups.items()}
        self.vertical_of = frame.groupby("account", sort=False)["vertical"].first().to_dict()
        self.never_converts = set(np.flatnonzero(never_converts).tolist())
        longest_first = sorted(brand_names, key=len, reverse=True)
        self.brand_of = {a: next((b.lower() for b in longest_first if a.startswith(b + " ")),
                                 a.lower()) for a in self.campaigns_of}

    def eligible(self) -> list[str]:
        s = self.stats
        sizes = pd.Series({c: len(i) for c, i in self.rows_of.items()})
        ok = (s["conversions"] >= MIN_CONVERSIONS) & (s["clicks"] > 0) & (s["impressions"] > 0)
        ok &= sizes.reindex(s.index) <= MAX_TERMS
        return [c for c in self.campaign_ids if c in ok.index and ok[c]]

    def rows(self, campaign: str) -> pd.DataFrame:
        if campaign not in self._rows:
            self._rows[campaign] = self.frame.iloc[self.rows_of[campaign]]
        return self._rows[campaign]

    def _figures(self, campaign: str) -> tuple[float, float, float]:
        impressions, clicks, cost, conversions = self.totals[campaign]
        return clicks / impressions, cost / clicks, conversions / clicks

    def _add(self, campaign: str, ad_group: str, term: str, term_type: str, clicks: int,
             conversions: float, *, match_type: str | None = None) -> None:
        ctr, cpc, _ = self._figures(campaign)
        first = self.rows(campaign).iloc[0]
        impressions = max(clicks, round(clicks / max(ctr, 1e-3)))
        cost = round(clicks * cpc * float(self.rng.uniform(0.85, 1.15)), 2) if clicks else 0.0
        self.new_rows.append({
            "campaign_id": campaign, "campaign_name": first["campaign_name"],
            "account": first["account"], "ad_group": ad_group, "term": term,
            "term_type": term_type, "match_type": match_type, "impressions": impressions,
            "clicks": clicks, "cost": cost, "conversions": round(conversions, 1),
            "vertical": first["vertical"]})
        self.used.add(campaign)

    def _keywords(self, campaign: str) -> pd.DataFrame:
        rows = self.rows(campaign)
        return rows[(rows["term_type"] == "keyword")
                    & ~rows["ad_group"].str.startswith(("Brand - ", "Competitors"))]

    def _themed_group(self, campaign: str) -> str:
        keywords = self._keywords(campaign)
        if keywords.empty:
            return str(self.rows(campaign)["ad_group"].mode().iloc[0])
        return str(keywords["ad_group"].mode().iloc[0])

    def waste(self, campaign: str, conflict: bool) -> None:
        rows = self.rows(campaign)
        present = {w for t in rows["term"] for w in t.split()}
        words = [w for w in self.waste_words if w not in present]
        keywords = self._keywords(campaign).drop_duplicates("term")
        bases = keywords if len(keywords) else rows.drop_duplicates("term")
        if len(words) < 2 or len(bases) < 2:
            return
        picked = self.rng.choice(len(words), size=2, replace=False)
        _, _, cvr = self._figures(campaign)
        for k, word in enumerate([words[picked[0]], words[picked[1]]][:1 + conflict]):
            chosen = self.rng.choice(len(bases), size=min(_WASTE_TERMS, len(bases)),
                                     replace=False)
            clicks = int(np.ceil(_EXPECTED_CONVERSIONS / max(cvr, 1e-3)))
            split = 1 + self.rng.multinomial(max(clicks - len(chosen), 0),
                                             np.full(len(chosen), 1 / len(chosen)))
            for j, b in enumerate(chosen):
                # A query the base keyword matched lands in that keyword's ad group.
                base, group = bases["term"].iloc[b], str(bases["ad_group"].iloc[b])
                term = f"{base} {word}" if j % 2 == 0 else f"{word} {base}"
                self._add(campaign, group, term, "search_term", int(split[j]), 0.0)
                self.truth.append(("ngram_waste", campaign, group, term, "background",
                                   "never converts"))
            group = str(bases["ad_group"].iloc[chosen[0]])
            if k == 0:
                self.truth.append(("ngram_waste", campaign, group, word, "planted",
                                   f"{int(split.sum())} clicks, no conversion"))
            else:  # the conflict: the same word in a keyword of the campaign
                keyword = f"{bases['term'].iloc[chosen[0]]} {word} service"
                self._add(campaign, group, keyword, "keyword", 2, 0.0, match_type="phrase")
                self.truth.append(("negative_conflicts", campaign, group, word, "planted",
                                   f"would block the keyword '{keyword}'"))

    def promote(self, campaign: str) -> None:
        rows = self.rows(campaign)
        keywords = self._keywords(campaign)
        if keywords.empty:
            return
        keyword_words = [set(t.split()) for t in rows.loc[rows["term_type"] == "keyword",
                                                          "term"]]
        present = set(rows["term"])
        modifiers = ("near me open now", "same week", "top rated local", "with free quote",
                     "book online today", "best value")
        for i in self.rng.permutation(len(keywords)):
            base = keywords.iloc[i]
            modifier = modifiers[int(self.rng.integers(len(modifiers)))]
            term = f"{base['term']} {modifier}"
            new_words = set(term.split())
            if term in present or any(new_words == w for w in keyword_words):
                continue
            conversions = max(8.0, round(0.15 * self.totals[campaign][3], 1))
            _, _, cvr = self._figures(campaign)
            clicks = max(int(np.ceil(conversions / min(2.5 * cvr, 0.8))),
                         int(np.ceil(conversions)) + 1)
            self._add(campaign, str(base["ad_group"]), term, "search_term", clicks,
                      conversions)
            self.truth.append(("promote_search_terms", campaign, str(base["ad_group"]), term,
                               "planted", f"{conversions:g} conversions, not a keyword"))
            return

    def duplicate(self, campaign: str) -> None:
        siblings = [c for c in self.campaigns_of[self.account[campaign]] if c != campaign]
        if not siblings:
            return
        other = siblings[int(self.rng.integers(len(siblings)))]
        source = self._keywords(other)
        if source.empty:
            return
        mine = self.rows(campaign)
        taken = set(zip(mine["term"], mine["term_type"], mine["match_type"].fillna(""),
                        strict=True))
        for i in self.rng.permutation(len(source)):
            row = source.iloc[i]
            if (row["term"], "keyword", row["match_type"]) in taken:
                continue
            group = str(row["ad_group"])  # the same theme's ad group, as in the source
            clicks = int(max(1, row["clicks"]))
            self._add(campaign, group, row["term"], "keyword", clicks,
                      float(min(row["conversions"], clicks)), match_type=row["match_type"])
            detail = f"{row['match_type']} keyword also in {other}"
            self.truth.append(("duplicate_keywords", campaign, group, row["term"], "planted",
                               detail))
            self.truth.append(("duplicate_keywords", other, str(row["ad_group"]), row["term"],
                               "planted", f"{row['match_type']} keyword also in {campaign}"))
            return

    def brand(self, campaign: str) -> None:
        account = self.account[campaign]
        siblings = [c for c in self.campaigns_of[account] if c != campaign]
        vertical = self.vertical_of[account]
        competitors = [a for a in self.campaigns_of if a != account
                       and self.vertical_of[a] == vertical]
        present = set(self.rows(campaign)["term"])
        if self.is_brand[campaign] and competitors:
            rival = self.brand_of[competitors[int(self.rng.integers(len(competitors)))]]
            term, detail = f"{rival} reviews", f"competitor brand '{rival}' in a brand campaign"
        elif not self.is_brand[campaign] and any(self.is_brand[c] for c in siblings):
            term, detail = f"{self.brand_of[account]} near me", "own brand in a non-brand campaign"
        else:
            return
        if term in present:
            return
        _, _, cvr = self._figures(campaign)
        clicks = int(self.rng.integers(6, 15))
        group = self._themed_group(campaign)
        self._add(campaign, group, term, "search_term", clicks,
                  float(round(min(clicks, clicks * 2 * cvr), 1)))
        self.truth.append(("brand_leakage", campaign, group, term, "planted", detail))

    def wrong_ad_group(self, campaign: str) -> None:
        """One search term with traffic moved from its themed ad group to another themed
        ad group of the campaign. One per campaign: two moved together (often sharing a
        head word) would vouch for each other in the ad group they were moved to."""
        rows = self.rows(campaign)
        themed = ~rows["ad_group"].str.startswith(("Brand - ", "Competitors"))
        searches = rows[themed & (rows["term_type"] == "search_term")
                        & ~rows.index.isin(list(self.moved))]
        groups = rows.loc[themed & (rows["term_type"] == "keyword"), "ad_group"].unique()
        if len(groups) < 2:
            return
        counts = searches["ad_group"].value_counts()
        source = [g for g in groups if counts.get(g, 0) >= 4]
        if not source:
            return
        right = source[int(self.rng.integers(len(source)))]
        wrong = [g for g in groups if g != right][int(self.rng.integers(len(groups) - 1))]
        there = set(rows.loc[rows["ad_group"] == wrong, "term"])
        keywords = rows[rows["term_type"] == "keyword"]
        right_kw = [set(t.split()) for t in keywords.loc[keywords["ad_group"] == right, "term"]]
        wrong_kw = [set(t.split()) for t in keywords.loc[keywords["ad_group"] == wrong, "term"]]

        def belongs(term: str) -> bool:
            # a query a keyword of its own ad group matches (all the keyword's words in
            # it) and no keyword of the one it is moved to: it demonstrably fits `right`
            words = set(term.split())
            return (any(k <= words for k in right_kw)
                    and not any(k <= words for k in wrong_kw))

        candidates = searches[(searches["ad_group"] == right)
                              & (searches["clicks"] >= MISPLACED_MIN_CLICKS)
                              & ~searches["term"].isin(there)
                              & searches["term"].map(belongs).astype(bool) & ~pd.Series(
            [self.frame.index.get_loc(i) in self.never_converts for i in searches.index],
            index=searches.index, dtype=bool)]
        if candidates.empty:
            return
        label = candidates.index[int(self.rng.integers(len(candidates)))]
        self.moved[self.frame.index.get_loc(label)] = wrong
        self.truth.append(("wrong_ad_group", campaign, wrong, candidates.at[label, "term"],
                           "planted", f"belongs in '{right}'"))
        self.used.add(campaign)

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        frame = self.frame.copy()
        if self.moved:
            positions = np.fromiter(self.moved, dtype=np.int64)
            column = frame.columns.get_loc("ad_group")
            frame.iloc[positions, column] = [self.moved[int(i)] for i in positions]
        if self.new_rows:
            added = pd.DataFrame(self.new_rows, columns=frame.columns)
            position = {c: i for i, c in enumerate(self.campaign_ids)}
            frame = pd.concat([frame, added], ignore_index=True)
            keys = pd.DataFrame({"campaign": frame["campaign_id"].map(position),
                                 "search": frame["term_type"] == "search_term"})
            frame = frame.iloc[np.lexsort((keys["search"], keys["campaign"]))]
            frame = frame.reset_index(drop=True).astype({
                "impressions": "int64", "clicks": "int64", "cost": "float64",
                "conversions": "float64"})
        truth = pd.DataFrame(self.truth, columns=list(PLANTED_COLUMNS))
        truth = pd.concat([truth, _background_duplicates(frame, truth)], ignore_index=True)
        return frame, truth


def _background_duplicates(frame: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Keywords the vocabulary repeats in several ad groups or campaigns of an account."""
    keywords = frame[frame["term_type"] == "keyword"]
    places = keywords.drop_duplicates(["account", "term", "match_type", "campaign_id",
                                       "ad_group"])
    counts = places.groupby(["account", "term", "match_type"])["campaign_id"].transform("size")
    repeated = places[counts > 1]
    planted = set(zip(truth.loc[truth["kind"] == "duplicate_keywords", "campaign_id"],
                      truth.loc[truth["kind"] == "duplicate_keywords", "term"], strict=True))
    # A boolean array, not a list: an empty list selects no *columns* (a one-campaign
    # corpus has no repeated keyword, and `demo --campaigns 1` failed with KeyError).
    repeated = repeated[np.fromiter(
        ((c, t) not in planted for c, t in zip(repeated["campaign_id"], repeated["term"],
                                               strict=True)), dtype=bool, count=len(repeated))]
    return pd.DataFrame({"kind": "duplicate_keywords",
                         "campaign_id": repeated["campaign_id"].to_numpy(),
                         "ad_group": repeated["ad_group"].to_numpy(),
                         "term": repeated["term"].to_numpy(), "origin": "background",
                         "detail": repeated["match_type"].to_numpy() + " keyword repeated "
                                   "by the vocabulary"})


def _background_converters(frame: pd.DataFrame, expected: np.ndarray) -> list[tuple]:
    """Search terms (not keywords as written) whose true conversion rate brings at least
    `TRULY_CONVERTS` conversions at a cost per conversion no higher than the campaign's:
    worth a keyword on their merits, so promoting them is right."""
    searches = (frame["term_type"] == "search_term").to_numpy()
    table = frame.loc[searches, ["campaign_id", "ad_group", "term", "cost", "conversions"]]
    table = table.assign(expected=expected[searches])
    totals = table.groupby("campaign_id", sort=False)[["cost", "conversions"]].sum()
    cpa = (totals["cost"] / totals["conversions"]).where(totals["conversions"] > 0)
    keywords = set(zip(frame.loc[~searches, "campaign_id"], frame.loc[~searches, "term"],
                       strict=True))
    good = ((table["expected"] >= TRULY_CONVERTS)
            & (table["cost"] <= table["campaign_id"].map(cpa) * table["expected"]))
    good &= np.array([(c, t) not in keywords for c, t in
                      zip(table["campaign_id"], table["term"], strict=True)], dtype=bool)
    return [("promote_search_terms", row.campaign_id, row.ad_group, row.term, "background",
             f"{row.expected:.1f} expected conversions")
            for row in table[good].itertuples(index=False)]
