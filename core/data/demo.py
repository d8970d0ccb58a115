"""A deterministic, synthetic English ad-campaign corpus for demos, tests and benchmarks.

Why synthetic: real account data cannot ship with the repo, yet every page, test and
benchmark needs a corpus whose ground truth (the `vertical` column) is known. The
generator is seeded and vectorised, so `generate()` returns the same rows byte for byte
on every run (the committed `data/demo/campaigns.parquet` is its default output) and
`generate(100_000)` stays fast enough for lookup benchmarks. `shift > 0` gives "next
month's data" for drift demos: some campaigns replaced by new ids, a tilted vertical mix,
emerging terms ("ai ...", "... 2027", new products), a new client's campaigns in a
vertical the base corpus lacks, and freshly drawn metrics.

The verticals (words, themes, CPC / CTR / conversion-rate levels) are data, in
`core/data/demo_vocabulary.toml`; this module draws from them. Write a corpus with
`python -m core demo [--out PATH] [--campaigns N] [--seed S] [--shift X]`.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.dtypes import StringDType

from core.config import DEMO_DIR
from core.data import files, planted
from core.errors import InputError

DEFAULT_PATH = DEMO_DIR / "campaigns.parquet"
DEFAULT_CAMPAIGNS = 3000
DEFAULT_SEED = 7
# Hidden columns of the generated frame, for the planted truth only (never written).
_NEVER_CONVERTS, _EXPECTED = "_never_converts", "_expected_conversions"

COLUMNS = (
    "campaign_id", "campaign_name", "account", "ad_group", "term", "term_type", "match_type",
    "impressions", "clicks", "cost", "conversions", "vertical",
)

# ---------------------------------------------------------------------------------------
# Vocabulary: the verticals' words and economics live in a data file with named fields
# (`core/data/demo_vocabulary.toml`); this module only draws from them.
# ---------------------------------------------------------------------------------------

VOCABULARY_FILE = Path(__file__).with_name("demo_vocabulary.toml")


@dataclass(frozen=True)
class _Vertical:
    """One industry: its words, its economics and how it moves when the corpus shifts."""

    label: str
    account_suffix: str  # "Summit" + " Plumbing"
    noun: str  # what brand and off-topic terms attach to: "summit plumbing", "plumbing jobs"
    modifier_groups: tuple[str, ...]
    themes: tuple[tuple[str, tuple[str, ...]], ...]  # (ad group, head terms)
    emerging: tuple[tuple[str, tuple[str, ...]], ...]  # heads that appear only with shift > 0
    cpc: float  # USD
    ctr: float
    cvr: float
    place_rate: float  # share of terms carrying a city
    weight: float = 1.0  # share of campaigns
    tilt: float = 0.0  # >0 grows, <0 shrinks as shift rises
    extra_modifiers: tuple[str, ...] = ()  # vertical-only modifiers
    arrives: float = 0.0  # >0: not in the base corpus; this share of a shift's new campaigns


@cache
def _vocabulary_file() -> dict:
    """The parsed vocabulary file (tomllib keeps the file's order, which the draws rely on)."""
    with VOCABULARY_FILE.open("rb") as f:
        return tomllib.load(f)


def _verticals() -> tuple[_Vertical, ...]:
    out = []
    for spec in _vocabulary_file()["vertical"]:
        fields = dict(spec)
        for key in ("themes", "emerging"):
            fields[key] = tuple((name, tuple(heads)) for name, heads in spec[key].items())
        for key in ("modifier_groups", "extra_modifiers"):
            fields[key] = tuple(spec.get(key, ()))
        out.append(_Vertical(**fields))
    arriving = [v.arrives > 0 for v in out]
    # After the others: their heads, modifiers and draws stay those of the base corpus.
    assert arriving == sorted(arriving), "arriving verticals come last in the vocabulary"
    return tuple(out)


_ACCOUNTS_PER_ADVERTISER_P = 0.3  # geometric: mean ~3 campaigns per account
_MIXED_SHARE = 0.12  # campaigns drawing part of their terms from a second vertical
_MAX_SHIFT_REPLACED = 0.35  # share of campaigns replaced by new ids at shift=1
_MAX_SHIFT_GROWTH = 0.10  # extra new campaigns at shift=1
_MAX_SHIFT_EMERGING = 0.25  # share of terms that become emerging terms at shift=1
_NEXT_MONTH_PERSISTENCE = 0.8  # correlation of a term's luck between months
_OVERSAMPLE = 1.3  # candidate rows per wanted row, to survive de-duplication


def _pre_post(modifier: str) -> tuple[str, str]:
    pre, post = modifier.split("{}")
    return pre, post


@dataclass(frozen=True)
class _Vocab:
    """The vocabulary compiled into flat arrays, so rows can be drawn with numpy alone."""

    verticals: tuple[_Vertical, ...]
    head_text: list[str]  # 0 is the empty head
    head_ad_group: np.ndarray  # head -> ad group index (-1 for nouns / empty)
    theme_first: np.ndarray  # per vertical: first theme head
    theme_count: np.ndarray  # per vertical: number of theme heads
    emerging_first: np.ndarray
    emerging_count: np.ndarray
    noun_head: np.ndarray  # per vertical: head index of its noun
    vertical_themes: list[list[tuple[int, int, int]]]  # per vertical: (ad group, first, n)
    ad_groups: list[str]
    modifiers: list[tuple[str, str]]  # 0 is "no modifier"
    modifier_intent: np.ndarray
    modifier_is_template: np.ndarray  # text on both sides of the head
    modifier_is_pre: np.ndarray  # text before the head only
    vertical_mod_cum: np.ndarray  # vertical index + normalised cumulative weight
    vertical_mod_index: np.ndarray  # modifier index for each entry of vertical_mod_cum
    brand_mods: np.ndarray
    off_topic_mods: np.ndarray
    vertical_emerging_first: np.ndarray  # per vertical: slice of emerging_mods
    vertical_emerging_count: np.ndarray
    emerging_mods: np.ndarray
    unrelated: list[str]
    cities: list[str]
    city_is_uk: np.ndarray
    brand_names: list[str]
    geo_us: tuple[str, ...]  # campaign-name geo of a campaign with no city
    geo_uk: tuple[str, ...]
    city_display: dict[str, str]  # city names not spelt by str.title()


@cache
def _vocab() -> _Vocab:
    data = _vocabulary_file()
    verticals = _verticals()
    head_text = [""]
    head_ad_group = [-1]
    ad_groups: list[str] = []
    theme_first, theme_count, emerging_first, emerging_count, noun_head = [], [], [], [], []
    vertical_themes = []
    for vertical in verticals:
        themes = []
        for kind, spec in (("theme", vertical.themes), ("emerging", vertical.emerging)):
            first = len(head_text)
            for name, heads in spec:
                group = len(ad_groups)
                ad_groups.append(name)
                if kind == "theme":
                    themes.append((group, len(head_text), len(heads)))
                head_text.extend(heads)
                head_ad_group.extend([group] * len(heads))
            (theme_first if kind == "theme" else emerging_first).append(first)
            (theme_count if kind == "theme" else emerging_count).append(len(head_text) - first)
        vertical_themes.append(themes)
        noun_head.append(len(head_text))
        head_text.append(vertical.noun)
        head_ad_group.append(-1)

    modifiers: list[tuple[str, str]] = [("", "")]
    index: dict[str, int] = {}

    def add(modifier: str) -> int:
        if modifier not in index:
            index[modifier] = len(modifiers)
            modifiers.append(_pre_post(modifier))
        return index[modifier]

    mod_cum, mod_index = [], []
    for v, vertical in enumerate(verticals):
        names: list[str] = []
        for group in vertical.modifier_groups:
            names.extend(data["modifier_groups"][group])
        names.extend(vertical.extra_modifiers)
        names = list(dict.fromkeys(names))  # ordered de-duplication
        weights = np.array([data["modifier_weights"].get(name, 1.0) for name in names])
        cum = np.cumsum(weights) / weights.sum()
        cum[-1] = 1.0
        mod_cum.extend(v + cum)
        mod_index.extend(add(name) for name in names)
    special = data["special_modifiers"]
    brand_mods = np.array([add(m) for m in special["brand"]], dtype=np.int32)
    off_topic_mods = np.array([add(m) for m in special["off_topic"]], dtype=np.int32)
    # Emerging modifiers: the AI ones only where they make sense (growing verticals).
    common = [add(m) for m in special["emerging"]]
    with_ai = common + [add(m) for m in special["emerging_ai"]]
    emerging_mods = np.array(common + with_ai, dtype=np.int32)
    growing = np.array([vertical.tilt > 0 for vertical in verticals])
    emerging_mod_first = np.where(growing, len(common), 0).astype(np.int32)
    emerging_mod_count = np.where(growing, len(with_ai), len(common)).astype(np.int32)
    names_by_index = {i: name for name, i in index.items()}
    intent = np.array(
        [1.0] + [data["modifier_intent"].get(names_by_index[i], 1.0)
                 for i in range(1, len(modifiers))]
    )
    template = np.array([bool(pre.strip() and post.strip()) for pre, post in modifiers])

    words = data["words"]
    us, uk = words["us_cities"], words["uk_cities"]
    brand_names = [
        f"{first} {second}".strip() for first in words["brand_first"]
        for second in words["brand_second"]
    ]
    # Term keys pack these indices into one int64 (see the _R_* radixes).
    assert len(head_text) <= _R_HEAD and len(modifiers) <= _R_MOD
    assert len(brand_names) < _R_BRAND and 1 + 2 * len(us + uk) <= _R_PLACE
    assert len(words["unrelated_queries"]) < _R_UNRELATED
    return _Vocab(
        verticals=verticals,
        head_text=head_text,
        head_ad_group=np.array(head_ad_group, dtype=np.int32),
        theme_first=np.array(theme_first, dtype=np.int32),
        theme_count=np.array(theme_count, dtype=np.int32),
        emerging_first=np.array(emerging_first, dtype=np.int32),
        emerging_count=np.array(emerging_count, dtype=np.int32),
        noun_head=np.array(noun_head, dtype=np.int32),
        vertical_themes=vertical_themes,
        ad_groups=ad_groups,
        modifiers=modifiers,
        modifier_intent=intent,
        modifier_is_template=template,
        modifier_is_pre=np.array([bool(pre) and not post for pre, post in modifiers]),
        vertical_mod_cum=np.array(mod_cum),
        vertical_mod_index=np.array(mod_index, dtype=np.int32),
        brand_mods=brand_mods,
        off_topic_mods=off_topic_mods,
        vertical_emerging_first=emerging_mod_first,
        vertical_emerging_count=emerging_mod_count,
        emerging_mods=emerging_mods,
        unrelated=list(words["unrelated_queries"]),
        cities=us + uk,
        city_is_uk=np.array([False] * len(us) + [True] * len(uk)),
        brand_names=brand_names,
        geo_us=tuple(words["us_geo"]),
        geo_uk=tuple(words["uk_geo"]),
        city_display=dict(data["city_display"]),
    )


def _city_display(city: str, vocab: _Vocab) -> str:
    return vocab.city_display.get(city, city.title())


# ---------------------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------------------


@dataclass
class _Campaigns:
    """One entry per campaign; the per-campaign draws that rows and metrics depend on."""

    number: np.ndarray  # 1-based, becomes the campaign id
    account: np.ndarray  # account names (object)
    name: np.ndarray  # campaign names (object)
    vertical: np.ndarray
    second_vertical: np.ndarray  # -1 unless mixed
    second_share: np.ndarray
    is_brand: np.ndarray
    brand: np.ndarray  # brand name index of the account
    theme_start: np.ndarray  # offset within the vertical's theme heads
    theme_len: np.ndarray  # heads of the campaign's theme (the one in its name)
    theme_width: np.ndarray  # the theme plus a few neighbouring heads
    city: np.ndarray  # -1 when not geo-targeted
    uk: np.ndarray  # targets the UK (else the US)
    n_terms: np.ndarray
    keyword_share: np.ndarray
    off_topic_share: np.ndarray
    scale: np.ndarray
    ctr_quality: np.ndarray
    cvr_quality: np.ndarray
    cpc_quality: np.ndarray
    accounts_per_vertical: np.ndarray  # accounts so far per vertical (competitor draws)

    def subset(self, keep: np.ndarray) -> _Campaigns:
        fields = {k: v[keep] for k, v in vars(self).items() if k != "accounts_per_vertical"}
        return _Campaigns(**fields, accounts_per_vertical=self.accounts_per_vertical)

    def concat(self, other: _Campaigns) -> _Campaigns:
        fields = {
            k: np.concatenate([v, getattr(other, k)])
            for k, v in vars(self).items() if k != "accounts_per_vertical"
        }
        return _Campaigns(**fields, accounts_per_vertical=other.accounts_per_vertical)


def _brand_index(j: np.ndarray, vertical: np.ndarray, n_brands: int) -> np.ndarray:
    """The j-th account of a vertical gets a distinct brand, scrambled so it looks random."""
    step = 1009  # prime, coprime with the number of brand names
    return (j * step + vertical * 577 + 131) % n_brands


def _unique_names(names: list[str], taken: set[str]) -> list[str]:
    """Suffix repeated campaign names with " #2", " #3"... so names identify campaigns."""
    out = []
    seen = set(taken)
    for name in names:
        candidate, k = name, 1
        while candidate in seen:
            k += 1
            candidate = f"{name} #{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _campaigns(
    n: int,
    rng: np.random.Generator,
    vocab: _Vocab,
    weights: np.ndarray,
    first_number: int,
    accounts_before: np.ndarray,
    taken_names: set[str],
) -> _Campaigns:
    n_vert = len(vocab.verticals)
    sizes = np.clip(rng.geometric(_ACCOUNTS_PER_ADVERTISER_P, size=n), 1, 10)
    n_accounts = int(np.searchsorted(np.cumsum(sizes), n) + 1)
    sizes = sizes[:n_accounts]
    account_of = np.repeat(np.arange(n_accounts), sizes)[:n]
    first_of_account = np.r_[True, account_of[1:] != account_of[:-1]]

    account_vertical = rng.choice(n_vert, size=n_accounts, p=weights)
    # j = how many accounts of the same vertical came before (brands stay distinct).
    order = np.argsort(account_vertical, kind="stable")
    sorted_v = account_vertical[order]
    group_start = np.searchsorted(sorted_v, sorted_v, side="left")
    j = np.empty(n_accounts, dtype=np.int64)
    j[order] = np.arange(n_accounts) - group_start
    j += accounts_before[account_vertical]
    accounts_after = accounts_before + np.bincount(account_vertical, minlength=n_vert)

    n_brands = len(vocab.brand_names)
    account_brand = _brand_index(j, account_vertical, n_brands)
    account_names = np.array([
        f"{vocab.brand_names[b]} {vocab.verticals[v].account_suffix}"
        + (f" {jj // n_brands + 1}" if jj >= n_brands else "")
        for b, v, jj in zip(account_brand.tolist(), account_vertical.tolist(), j.tolist(),
                            strict=True)
    ], dtype=object)

    vertical = account_vertical[account_of]
    is_brand = np.where(first_of_account, rng.random(n) < 0.55, rng.random(n) < 0.04)

    n_themes = np.array([len(t) for t in vocab.vertical_themes])
    theme = np.floor(rng.random(n) * n_themes[vertical]).astype(np.int64)
    theme_start = np.empty(n, dtype=np.int64)
    theme_len = np.empty(n, dtype=np.int64)
    theme_group = np.empty(n, dtype=np.int64)
    for v in range(n_vert):  # small loop over verticals, vectorised inside
        rows = vertical == v
        first = vocab.theme_first[v]
        table = np.array(vocab.vertical_themes[v])
        theme_group[rows] = table[theme[rows], 0]
        theme_start[rows] = table[theme[rows], 1] - first
        theme_len[rows] = table[theme[rows], 2]
    theme_width = theme_len + rng.integers(0, 4, size=n)

    mixed = rng.random(n) < _MIXED_SHARE
    # The second vertical of a mixed campaign is one of the base corpus's (a vertical
    # arriving with a shift mixes with all of them but the last).
    n_base = _base_vertical_count(vocab)
    other = rng.integers(0, n_base - 1, size=n)
    other = other + (other >= vertical)
    second_vertical = np.where(mixed, other, -1)
    second_share = rng.uniform(0.2, 0.45, size=n)

    place_rate = np.array([v.place_rate for v in vocab.verticals])
    has_city = rng.random(n) < np.minimum(place_rate[vertical] * 1.6, 0.85)
    city = np.where(has_city, rng.integers(0, len(vocab.cities), size=n), -1)
    uk = rng.random(n) < 0.25
    geo_pick = rng.integers(0, 5, size=n)

    n_terms = np.clip(np.rint(rng.lognormal(np.log(45), 0.55, size=n)), 15, 150).astype(int)
    keyword_share = rng.uniform(0.35, 0.6, size=n)
    off_topic_share = rng.uniform(0.04, 0.18, size=n)
    scale = rng.lognormal(0.0, 0.8, size=n)
    ctr_quality = rng.lognormal(0.0, 0.3, size=n)
    cvr_quality = rng.lognormal(0.0, 0.45, size=n)
    cpc_quality = rng.lognormal(0.0, 0.2, size=n)

    names = []
    for i in range(n):
        middle = "Brand" if is_brand[i] else vocab.ad_groups[theme_group[i]]
        if city[i] >= 0:
            geo = _city_display(vocab.cities[city[i]], vocab)
        elif uk[i]:
            geo = vocab.geo_uk[geo_pick[i] % len(vocab.geo_uk)]
        else:
            geo = vocab.geo_us[geo_pick[i] % len(vocab.geo_us)]
        names.append(f"{account_names[account_of[i]]} - {middle} - {geo}")
    names = _unique_names(names, taken_names)

    return _Campaigns(
        number=np.arange(first_number, first_number + n),
        account=account_names[account_of],
        name=np.array(names, dtype=object),
        vertical=vertical.astype(np.int32),
        second_vertical=second_vertical.astype(np.int32),
        second_share=second_share,
        is_brand=is_brand,
        brand=account_brand[account_of].astype(np.int32),
        theme_start=theme_start.astype(np.int32),
        theme_len=theme_len.astype(np.int32),
        theme_width=theme_width.astype(np.int32),
        city=city.astype(np.int32),
        uk=np.where(city >= 0, vocab.city_is_uk[np.maximum(city, 0)], uk),
        n_terms=n_terms,
        keyword_share=keyword_share,
        off_topic_share=off_topic_share,
        scale=scale,
        ctr_quality=ctr_quality,
        cvr_quality=cvr_quality,
        cpc_quality=cpc_quality,
        accounts_per_vertical=accounts_after,
    )


# ---------------------------------------------------------------------------------------
# Terms
# ---------------------------------------------------------------------------------------

# Radix layout of a term key: every distinct term text is one int64.
_R_UNRELATED, _R_TYPO, _R_PLACE, _R_HEAD, _R_MOD, _R_BRAND = 64, 32, 256, 2048, 512, 4096


@dataclass
class _Rows:
    """One entry per term row (keywords and search terms of all campaigns)."""

    campaign: np.ndarray  # position in the _Campaigns arrays
    term_code: np.ndarray  # index into `terms`
    terms: list[str]
    is_keyword: np.ndarray
    match: np.ndarray  # 0 none, 1 exact, 2 phrase, 3 broad
    ad_group: np.ndarray  # index into ad group names (see _ad_group_names)
    brand: np.ndarray
    competitor: np.ndarray
    off_topic: np.ndarray
    n_mods: np.ndarray
    has_place: np.ndarray
    typo: np.ndarray
    intent: np.ndarray
    latent: np.ndarray  # (rows, 4) standard normals: a term's lasting volume/CTR/CPC/CVR luck

    def subset(self, keep: np.ndarray, campaign_position: np.ndarray) -> _Rows:
        """The rows where `keep`, with campaigns renumbered through `campaign_position`."""
        fields = {k: (v if k == "terms" else v[keep]) for k, v in vars(self).items()}
        fields["campaign"] = campaign_position[fields["campaign"]]
        return _Rows(**fields)

    def concat(self, other: _Rows, campaign_offset: int) -> _Rows:
        """These rows followed by `other`'s, whose campaigns come after ours."""
        fields = {}
        for k, v in vars(self).items():
            w = getattr(other, k)
            if k == "terms":
                fields[k] = v + w
            elif k == "term_code":
                fields[k] = np.concatenate([v, w + len(self.terms)])
            elif k == "campaign":
                fields[k] = np.concatenate([v, w + campaign_offset])
            else:
                fields[k] = np.concatenate([v, w])
        return _Rows(**fields)


def _pick(u: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Uniform integer in [0, n) from a uniform in [0, 1), safe against float32 round-up."""
    return np.minimum((u * n).astype(np.int32), np.asarray(n, dtype=np.int32) - 1)


def _draw_modifiers(
    u: np.ndarray, vertical: np.ndarray, vocab: _Vocab
) -> np.ndarray:
    """Weighted pick among each row's vertical modifiers (one searchsorted for all rows)."""
    pos = np.searchsorted(vocab.vertical_mod_cum, vertical + u, side="right")
    pos = np.minimum(pos, len(vocab.vertical_mod_index) - 1)
    return vocab.vertical_mod_index[pos]


def _typo(text: str, kind: int, pos: int) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = candidates[pos % len(candidates)]
    word = words[i]
    k = 1 + pos % (len(word) - 2)
    if kind == 0:  # swapped letters
        word = word[:k] + word[k + 1] + word[k] + word[k + 2:]
    elif kind == 1:  # dropped letter
        word = word[:k] + word[k + 1:]
    else:  # doubled letter
        word = word[:k] + word[k] + word[k:]
    words[i] = word
    return " ".join(words)


def _term_texts(keys: np.ndarray, vocab: _Vocab) -> np.ndarray:
    """Spell out each distinct term key, vectorised with numpy's variable-width strings.

    Pieces carry their own spaces ("best ", " near me", " chicago"), so concatenation
    alone builds clean text. Stems (modifiers, brand, head) are spelled once and shared by
    their city variants; only typos need a Python loop, over the few keys that have one.
    """
    place_typo = keys // _R_UNRELATED
    unrelated = keys % _R_UNRELATED
    typo = place_typo % _R_TYPO
    place = (place_typo // _R_TYPO) % _R_PLACE
    stem_code, stems = pd.factorize(keys // (_R_UNRELATED * _R_TYPO * _R_PLACE))
    head = stems % _R_HEAD
    m2 = (stems // _R_HEAD) % _R_MOD
    m1 = (stems // (_R_HEAD * _R_MOD)) % _R_MOD
    brand = stems // (_R_HEAD * _R_MOD * _R_MOD)

    def strings(values: list[str]) -> np.ndarray:
        return np.array(values, dtype=StringDType())

    pre = strings([p for p, _ in vocab.modifiers])
    post = strings([q for _, q in vocab.modifiers])
    heads = strings(vocab.head_text)
    spaced_heads = strings([f" {h}" if h else "" for h in vocab.head_text])
    brands = strings([""] + [b.lower() for b in vocab.brand_names])
    places = strings([""] + [f" {c}" for c in vocab.cities] + [f" in {c}" for c in vocab.cities])
    # Brand terms: "<brand>[ head]<post>" ("acme plumbing reviews"); others "<pre>head<post>".
    head_piece = np.where(brand > 0, spaced_heads[head], heads[head])
    stem_text = pre[m1]
    for piece in (pre[m2], brands[brand], head_piece, post[m2], post[m1]):
        stem_text = np.strings.add(stem_text, piece)
    text = np.strings.add(stem_text[stem_code], places[place])
    text = np.where(unrelated > 0, strings(["", *vocab.unrelated])[unrelated], text)
    out = text.astype(object)
    for i in np.flatnonzero(typo).tolist():
        t = int(typo[i]) - 1
        out[i] = _typo(out[i], t % 3, t // 3)
    return out


def _candidates(
    camp: _Campaigns, rng: np.random.Generator, vocab: _Vocab, emerging: float
) -> dict[str, np.ndarray]:
    """Oversampled candidate rows: each term as one int64 key (see _R_*) plus its flags.

    Every random array is drawn whatever `emerging` is, so the same seed gives the same
    rows at shift 0 and only the rows picked as emerging differ at shift > 0.
    """
    per = np.ceil(camp.n_terms * _OVERSAMPLE).astype(np.int32) + 5
    c = np.repeat(np.arange(len(camp.number), dtype=np.int32), per)
    n = len(c)

    def uniform() -> np.ndarray:
        return rng.random(n, dtype=np.float32)

    is_keyword = uniform() < camp.keyword_share[c]
    second = (camp.second_vertical[c] >= 0) & (uniform() < camp.second_share[c])
    v = np.where(second, camp.second_vertical[c], camp.vertical[c])

    # Head terms: mostly the campaign's focus window, some from anywhere in the vertical.
    count = vocab.theme_count[v]
    in_theme = uniform() < 0.7  # the theme named in the campaign, else its neighbourhood
    width = np.where(in_theme, camp.theme_len[c], camp.theme_width[c])
    focus = camp.theme_start[c] + _pick(uniform(), width)
    anywhere = _pick(uniform(), count)
    in_focus = ~second & (uniform() < 0.85)
    head = vocab.theme_first[v] + np.where(in_focus, focus % count, anywhere)
    ad_group_head = head.copy()

    brand = camp.is_brand[c] & ~second & (uniform() < 0.65)
    competitor = ~camp.is_brand[c] & ~second & (uniform() < 0.04)
    off_topic = ~is_keyword & ~brand & ~competitor & (uniform() < camp.off_topic_share[c])
    unrelated = off_topic & (uniform() < 0.4)

    # Modifiers: keywords are shorter than the queries that trigger them.
    u1, u2, p1, p2 = uniform(), uniform(), uniform(), uniform()
    m1 = np.where(p1 < np.where(is_keyword, 0.45, 0.6), _draw_modifiers(u1, v, vocab), 0)
    m2 = np.where(p2 < np.where(is_keyword, 0.08, 0.22), _draw_modifiers(u2, v, vocab), 0)
    # A second modifier only on the other side of the head: "best plumber near me".
    both_fit = (
        ~vocab.modifier_is_template[m1] & ~vocab.modifier_is_template[m2]
        & (vocab.modifier_is_pre[m1] != vocab.modifier_is_pre[m2])
    )
    m2 = np.where(both_fit & (m1 > 0), m2, 0)

    # Brand and competitor terms: "<brand> <noun or head> [reviews|login|...]".
    u_brand_head, u_brand_mod, u_brand_pick = uniform(), uniform(), uniform()
    brand_or_comp = brand | competitor
    noun = vocab.noun_head[v]
    brand_head = np.where(u_brand_head < 0.45, noun, np.where(u_brand_head < 0.8, head, 0))
    brand_mod = vocab.brand_mods[_pick(u_brand_pick, len(vocab.brand_mods))]
    brand_mod = np.where((u_brand_mod < 0.45) | (brand_head == 0), brand_mod, 0)
    n_accounts = np.maximum(camp.accounts_per_vertical[v], 1)
    rival_j = _pick(uniform(), n_accounts)
    rival = _brand_index(rival_j, v, len(vocab.brand_names))
    brand_id = np.where(brand, camp.brand[c] + 1, np.where(competitor, rival + 1, 0))
    head = np.where(brand_or_comp, brand_head, head)
    m1 = np.where(brand_or_comp, brand_mod, m1)
    m2 = np.where(brand_or_comp, 0, m2)

    # Off-topic queries: "<noun or head> jobs", "diy <head>", or nothing to do with it.
    u_ot_head, u_ot_mod = uniform(), uniform()
    ot_mod = vocab.off_topic_mods[_pick(u_ot_mod, len(vocab.off_topic_mods))]
    head = np.where(off_topic & (u_ot_head < 0.6), noun, head)
    m1 = np.where(off_topic, ot_mod, m1)
    m2 = np.where(off_topic, 0, m2)
    unrelated_id = np.where(
        unrelated, 1 + _pick(uniform(), len(vocab.unrelated)), 0
    )

    # Emerging terms (shift > 0 only): new products and the new words around them.
    u_em, u_em_kind, u_em_head, u_em_mod = uniform(), uniform(), uniform(), uniform()
    em = (u_em < emerging) & ~brand_or_comp & ~off_topic
    em_head = vocab.emerging_first[v] + _pick(u_em_head, vocab.emerging_count[v])
    em_mod = vocab.emerging_mods[
        vocab.vertical_emerging_first[v] + _pick(u_em_mod, vocab.vertical_emerging_count[v])
    ]
    em_new_head = em & (u_em_kind < 0.55)
    head = np.where(em_new_head, em_head, head)
    ad_group_head = np.where(em_new_head, em_head, ad_group_head)
    m1 = np.where(em & ~em_new_head, em_mod, m1)
    m2 = np.where(em & ~em_new_head, 0, m2)

    # Places: the campaign's own city mostly; never on templates or off-topic queries.
    place_rate = np.array([x.place_rate for x in vocab.verticals])[v]
    u_place, u_city, u_own, u_in = uniform(), uniform(), uniform(), uniform()
    has_place = (
        (u_place < place_rate * np.where(is_keyword, 1.0, 1.25))
        & ~off_topic & ~vocab.modifier_is_template[m1] & ~(brand & (u_place > 0.3 * place_rate))
    )
    own_city = (camp.city[c] >= 0) & (u_own < 0.75)
    n_uk = int(vocab.city_is_uk.sum())
    n_us = len(vocab.cities) - n_uk
    other_city = np.where(camp.uk[c], n_us + _pick(u_city, n_uk), _pick(u_city, n_us))
    city = np.where(own_city, camp.city[c], other_city)
    place = np.where(has_place, 1 + city + np.where(u_in < 0.3, len(vocab.cities), 0), 0)

    u_typo, u_typo_kind = uniform(), uniform()
    typo = ~is_keyword & ~unrelated & (u_typo < 0.05)
    typo_code = np.where(typo, 1 + _pick(u_typo_kind, _R_TYPO - 1), 0)

    u_match = uniform()
    match = np.where(is_keyword, 1 + (u_match >= 0.35) + (u_match >= 0.7), 0)

    head = np.where(unrelated, 0, head)
    m1 = np.where(unrelated, 0, m1)
    brand_id = np.where(unrelated, 0, brand_id).astype(np.int64)
    place = np.where(unrelated, 0, place)
    key = (
        ((((brand_id * _R_MOD + m1) * _R_MOD + m2) * _R_HEAD + head) * _R_PLACE + place)
        * _R_TYPO + typo_code
    ) * _R_UNRELATED + unrelated_id

    n_groups = len(vocab.ad_groups)
    theme_group = vocab.head_ad_group[ad_group_head]
    brand_group = np.where(vocab.head_ad_group[head] >= 0, n_groups + vocab.head_ad_group[head],
                           2 * n_groups)
    ad_group = np.where(brand, brand_group, np.where(competitor, 2 * n_groups + 1, theme_group))
    return {
        "campaign": c,
        "key": key,
        "is_keyword": is_keyword,
        "match": match.astype(np.int8),
        "ad_group": ad_group.astype(np.int32),
        "brand": brand,
        "competitor": competitor,
        "off_topic": off_topic,
        "n_mods": ((m1 > 0).astype(np.int8) + (m2 > 0)),
        "has_place": has_place,
        "typo": typo,
        "intent": vocab.modifier_intent[m1] * vocab.modifier_intent[m2],
    }


def _rows(camp: _Campaigns, rng: np.random.Generator, vocab: _Vocab, emerging: float) -> _Rows:
    """Candidate rows spelled out, de-duplicated, cut to each campaign's n_terms."""
    candidates = _candidates(camp, rng, vocab, emerging)
    c = candidates.pop("campaign")
    match = candidates["match"]
    key_code, distinct = pd.factorize(candidates.pop("key"))
    # Different draws can spell the same text ("best" as first or second modifier).
    text_code, texts = pd.factorize(_term_texts(distinct, vocab))
    row_text = text_code[key_code]
    del key_code, distinct, text_code

    # One row per (campaign, term, type/match), then the first n_terms of each campaign.
    dedupe = (c.astype(np.int64) * len(texts) + row_text) * 4 + match
    keep = ~pd.Series(dedupe).duplicated().to_numpy()
    del dedupe
    kept_c = c[keep]
    start_of = np.searchsorted(kept_c, np.arange(len(camp.number)))
    rank = np.arange(len(kept_c)) - start_of[kept_c]
    keep[np.flatnonzero(keep)[rank >= camp.n_terms[kept_c]]] = False

    term_code, used = pd.factorize(row_text[keep])
    return _Rows(
        campaign=c[keep],
        term_code=term_code,
        terms=texts[used].tolist(),
        **{name: values[keep] for name, values in candidates.items()},
        latent=rng.standard_normal((int(keep.sum()), 4), dtype=np.float32),
    )


def _ad_group_names(vocab: _Vocab) -> list[str]:
    return (
        vocab.ad_groups + [f"Brand - {name}" for name in vocab.ad_groups]
        + ["Brand - Core", "Competitors"]
    )


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@dataclass
class _Metrics:
    impressions: np.ndarray
    clicks: np.ndarray
    cost: np.ndarray
    conversions: np.ndarray
    expected_conversions: np.ndarray  # clicks x the term's true conversion rate


def _metrics(
    camp: _Campaigns, rows: _Rows, rng: np.random.Generator, vocab: _Vocab,
    cpc_inflation: float, persistence: float,
) -> _Metrics:
    """Impressions, clicks, cost and conversions with per-vertical CTR/CPC/CVR levels.

    Each term's luck is its lasting latent mixed with fresh noise (`persistence` = 1 keeps
    only the latent), so next month's figures correlate with this month's.
    """
    c = rows.campaign
    n = len(c)
    fresh = rng.standard_normal((n, 4), dtype=np.float32)
    luck = persistence * rows.latent + np.sqrt(1.0 - persistence**2) * fresh

    def lognormal(k: int, sigma: float) -> np.ndarray:
        return np.exp(sigma * luck[:, k].astype(np.float64))

    v = camp.vertical[c]
    cpc_level = np.array([x.cpc for x in vocab.verticals])[v]
    ctr_level = np.array([x.ctr for x in vocab.verticals])[v]
    cvr_level = np.array([x.cvr for x in vocab.verticals])[v]
    volume = np.array([x.weight for x in vocab.verticals])[v]

    shape = (
        0.45 ** rows.n_mods
        * np.where(rows.has_place, 0.35, 1.0)
        * np.where(rows.brand, 0.6, 1.0)
        * np.where(rows.competitor, 0.3, 1.0)
        * np.where(rows.off_topic, 0.3, 1.0)
        * np.where(rows.typo, 0.15, 1.0)
        * np.array([1.0, 0.7, 1.0, 1.6])[rows.match]
    )
    expected = 600.0 * volume * camp.scale[c] * shape * lognormal(0, 0.9)
    impressions = rng.poisson(expected)
    impressions = np.where(rows.is_keyword, impressions, np.maximum(impressions, 1))

    ctr = (
        ctr_level * camp.ctr_quality[c]
        * np.where(rows.brand, 3.5, 1.0) * np.where(rows.competitor, 0.5, 1.0)
        * np.where(rows.match == 1, 1.3, 1.0) * np.where(rows.off_topic, 0.5, 1.0)
        * lognormal(1, 0.35)
    )
    clicks = rng.binomial(impressions, np.clip(ctr, 0.001, 0.6))
    # Off-topic queries are in the report because they cost money.
    clicks = np.where(rows.off_topic, np.maximum(clicks, 1), clicks)
    impressions = np.maximum(impressions, clicks)

    cpc = (
        cpc_level * camp.cpc_quality[c] * cpc_inflation
        * np.where(rows.brand, 0.25, 1.0) * np.where(rows.competitor, 1.3, 1.0)
        * np.where(rows.off_topic, 0.7, 1.0) * lognormal(2, 0.3)
    )
    cost = np.round(clicks * np.maximum(cpc, 0.05), 2)

    cvr = (
        cvr_level * camp.cvr_quality[c] * rows.intent
        * np.where(rows.brand, 2.0, 1.0) * np.where(rows.competitor, 0.6, 1.0)
        * np.where(rows.typo, 0.9, 1.0) * lognormal(3, 0.4)
    )
    cvr = np.where(rows.off_topic, 0.0, np.clip(cvr, 0.0, 0.8))
    whole = rng.binomial(clicks, cvr)
    # Data-driven attribution gives fractional conversions; never more than the clicks.
    fraction = np.where(rng.random(n) < 0.3, rng.uniform(0.5, 1.0, size=n), 1.0)
    conversions = np.round(whole * fraction, 1)
    return _Metrics(impressions.astype(np.int64), clicks.astype(np.int64), cost, conversions,
                    clicks * cvr * (0.7 + 0.3 * 0.75))  # E[attribution fraction] = 0.925


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def _base_vertical_count(vocab: _Vocab) -> int:
    """How many verticals the base corpus draws from: all but those arriving with a shift."""
    return sum(v.arrives == 0 for v in vocab.verticals)


def _vertical_weights(vocab: _Vocab, shift: float) -> np.ndarray:
    """The base mix of verticals tilted by `shift`; none of the arriving ones."""
    base = np.array([v.weight for v in vocab.verticals])
    tilt = np.array([v.tilt for v in vocab.verticals])
    arrives = np.array([v.arrives for v in vocab.verticals])
    weights = np.where(arrives > 0, 0.0, base * np.exp(2.0 * shift * tilt))
    return weights / weights.sum()


def _arriving(vocab: _Vocab, shift: float, n_campaigns: int, n_new: int
              ) -> tuple[int, np.ndarray]:
    """How many campaigns the arriving verticals bring at `shift` (`arrives` x shift x the
    base corpus's campaigns: a new client's launch, in words the base corpus never held),
    and their mix. At most as many as keep every id below twice the base count (`n_new`
    campaigns of the shift are numbered before them), the width ids are written with."""
    arrives = np.array([v.arrives for v in vocab.verticals])
    n = min(round(arrives.sum() * shift * n_campaigns), n_campaigns - n_new)
    return n, (arrives / arrives.sum() if n else arrives)


def _frame(
    camp: _Campaigns, rows: _Rows, metrics: _Metrics, vocab: _Vocab, n_base: int
) -> pd.DataFrame:
    """The public table, assembled in Arrow (string columns are taken, not copied per row)."""
    # Ids keep one width for the base corpus and its shifted versions (new ids < 2 * n_base).
    width = max(5, len(str(2 * n_base)))
    ids = np.array([f"C{k:0{width}d}" for k in camp.number.tolist()], dtype=object)
    labels = np.array([v.label for v in vocab.verticals], dtype=object)
    # Keywords before search terms, grouped by ad group, within each campaign.
    order = np.lexsort((rows.ad_group, ~rows.is_keyword, rows.campaign))
    c = rows.campaign[order]
    take = pa.array(c)

    def by_campaign(values: np.ndarray) -> pa.Array:
        return pa.array(values.tolist(), type=pa.string()).take(take)

    match_names = pa.array([None, "exact", "phrase", "broad"], type=pa.string())
    table = pa.table({
        "campaign_id": by_campaign(ids),
        "campaign_name": by_campaign(camp.name),
        "account": by_campaign(camp.account),
        "ad_group": pa.array(_ad_group_names(vocab), type=pa.string()).take(
            pa.array(rows.ad_group[order])),
        "term": pa.array(rows.terms, type=pa.string()).take(pa.array(rows.term_code[order])),
        "term_type": pa.array(["search_term", "keyword"], type=pa.string()).take(
            pa.array(rows.is_keyword[order].astype(np.int64))),
        "match_type": match_names.take(pa.array(rows.match[order])),
        "impressions": pa.array(metrics.impressions[order]),
        "clicks": pa.array(metrics.clicks[order]),
        "cost": pa.array(metrics.cost[order]),
        "conversions": pa.array(metrics.conversions[order]),
        "vertical": by_campaign(labels[camp.vertical]),
        _NEVER_CONVERTS: pa.array(rows.off_topic[order]),
        _EXPECTED: pa.array(metrics.expected_conversions[order]),
    })
    return table.to_pandas()


def generate(n_campaigns: int = DEFAULT_CAMPAIGNS, seed: int = DEFAULT_SEED, *,
             shift: float = 0.0, plant: bool = True) -> pd.DataFrame:
    """The demo corpus: one row per keyword or search term, columns as in `COLUMNS`,
    with planted problems (see `generate_with_truth` for their ground truth).

    `plant=False` leaves the problems out. Planting works problem by problem over the
    whole table, so its time grows faster than the corpus (58 of 63 s at 20,000
    campaigns): scale benchmarks skip it."""
    if plant:
        return generate_with_truth(n_campaigns, seed, shift=shift)[0]
    return _generated(n_campaigns, seed, shift).drop(columns=[_NEVER_CONVERTS, _EXPECTED])


def generate_with_truth(n_campaigns: int = DEFAULT_CAMPAIGNS, seed: int = DEFAULT_SEED, *,
                        shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo corpus and the ground truth of the problems planted in it
    (`core.data.planted`: one row per planted problem, columns `core.data.planted.PLANTED_COLUMNS`).

    Same arguments, same rows, on every run. `shift` in [0, 1] turns it into "next
    month": up to 35% of campaigns replaced by new ids (numbered after the base range),
    10% more campaigns, a vertical mix tilted toward growing verticals, up to 25% of terms
    emerging ones ("ai ...", "... 2027", new products), the campaigns of arriving verticals
    (`arrives` x shift x `n_campaigns`, numbered last) and new metrics; `shift=0` is the
    base corpus exactly.
    """
    return _planted(_generated(n_campaigns, seed, shift), _vocab(), seed)


def _generated(n_campaigns: int, seed: int, shift: float) -> pd.DataFrame:
    """The corpus before its problems are planted (with the columns planting reads)."""
    if n_campaigns < 1:
        raise ValueError("n_campaigns must be at least 1")
    if not 0.0 <= shift <= 1.0:
        raise ValueError("shift must be between 0 and 1")
    vocab = _vocab()
    # spawn(3)'s first two children are spawn(2)'s: the third leaves the others' draws be
    base_seq, shift_seq, arrive_seq = np.random.SeedSequence(seed).spawn(3)
    base_rng = np.random.default_rng(base_seq)
    no_accounts = np.zeros(len(vocab.verticals), dtype=np.int64)
    camp = _campaigns(n_campaigns, base_rng, vocab, _vertical_weights(vocab, 0.0), 1,
                      no_accounts, set())
    rows = _rows(camp, base_rng, vocab, emerging=_MAX_SHIFT_EMERGING * shift)
    if shift == 0.0:
        metrics = _metrics(camp, rows, base_rng, vocab, 1.0, persistence=1.0)
        return _frame(camp, rows, metrics, vocab, n_campaigns)

    rng = np.random.default_rng(shift_seq)
    n_replaced = round(_MAX_SHIFT_REPLACED * shift * n_campaigns)
    n_new = n_replaced + round(_MAX_SHIFT_GROWTH * shift * n_campaigns)
    dropped = np.zeros(n_campaigns, dtype=bool)
    dropped[rng.choice(n_campaigns, size=n_replaced, replace=False)] = True
    kept = camp.subset(~dropped)
    kept_rows = rows.subset(~dropped[rows.campaign], np.cumsum(~dropped) - 1)
    if n_new:
        new = _campaigns(n_new, rng, vocab, _vertical_weights(vocab, shift), n_campaigns + 1,
                         camp.accounts_per_vertical, set(camp.name.tolist()))
        new_rows = _rows(new, rng, vocab, emerging=_MAX_SHIFT_EMERGING * shift)
        kept_rows = kept_rows.concat(new_rows, campaign_offset=len(kept.number))
        kept = kept.concat(new)
    n_arriving, mix = _arriving(vocab, shift, n_campaigns, n_new)
    if n_arriving:  # their own draws: the other campaigns' terms stay as they were
        arrive_rng = np.random.default_rng(arrive_seq)
        new = _campaigns(n_arriving, arrive_rng, vocab, mix, n_campaigns + n_new + 1,
                         kept.accounts_per_vertical, set(kept.name.tolist()))
        new_rows = _rows(new, arrive_rng, vocab, emerging=_MAX_SHIFT_EMERGING * shift)
        kept_rows = kept_rows.concat(new_rows, campaign_offset=len(kept.number))
        kept = kept.concat(new)
    metrics = _metrics(kept, kept_rows, rng, vocab, 1.0 + 0.12 * shift,
                       persistence=_NEXT_MONTH_PERSISTENCE)
    return _frame(kept, kept_rows, metrics, vocab, n_campaigns)


def _planted(frame: pd.DataFrame, vocab: _Vocab, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    never_converts = frame.pop(_NEVER_CONVERTS).to_numpy(dtype=bool)
    expected = frame.pop(_EXPECTED).to_numpy(dtype=float)
    return planted.plant(frame, never_converts, expected,
                         _vocabulary_file()["planted"]["waste_words"], vocab.brand_names, seed)


def write(path: str | Path = DEFAULT_PATH, n_campaigns: int = DEFAULT_CAMPAIGNS,
          seed: int = DEFAULT_SEED, shift: float = 0.0) -> Path:
    """Generate the corpus and save it as zstd Parquet; returns the path written."""
    path = Path(path)
    for target in (path, planted_path(path)):
        _check_target(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"its folder cannot be made ({err.strerror})", file=str(path)) from None
    frame, truth = generate_with_truth(n_campaigns, seed, shift=shift)
    for table, target in ((truth, planted_path(path)), (frame, path)):
        partial = target.with_name(target.name + ".partial")  # never half a file
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), partial,
                       compression="zstd")
        partial.replace(target)
    return path


def _check_target(target: Path) -> None:
    """A file the corpus may replace: none yet, or a regular file. `--out /dev/null` run
    as root replaced the device with a Parquet file (the write goes to a `.partial` file
    renamed over the target), and `--out <a folder>` failed with IsADirectoryError."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise InputError(f"cannot be written ({err.strerror})", file=str(target)) from None
    if not stat.S_ISREG(mode):
        raise InputError(f"is {files.kind_of(mode)}, not a regular file; the demo corpus is "
                         "written to a new file or replaces a regular one: name a file such "
                         "as next.parquet", file=str(target))


def planted_path(path: str | Path = DEFAULT_PATH) -> Path:
    """Where the ground truth of a corpus file's planted problems is written: next to it,
    `planted.parquet` for `campaigns.parquet`, else `<name>.planted.parquet`."""
    path = Path(path)
    name = "planted.parquet" if path.name == "campaigns.parquet" else f"{path.stem}.planted.parquet"
    return path.with_name(name)
