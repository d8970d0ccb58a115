"""Brand vs non-brand: the advertiser's own brand in its non-brand campaigns, and other
advertisers' brands bidding in its brand campaigns (action kind `brand_leak`).

Why it matters: brand searches convert cheaply, so brand traffic inside a non-brand
campaign makes that campaign look better than it is and hides what generic traffic
costs; a competitor's brand inside a brand campaign spends brand budget (and its
quality score) on someone else's name. The usual fixes are to move the terms to the
right campaign and to add the brand as a negative where it does not belong.

**Whose is a campaign.** Its account; without an account column, campaigns whose names
start with the same word are one advertiser (exports named `<product>_<theme>`, as Sony's
`akashi_brand` and `akashi_nonbrand`).

**Brand and non-brand.** A campaign is a brand campaign when its name says so ("… -
Brand - …", `x_brand`) and does not say non-brand/generic (`core.model.actions` rule); an ad
group named "Brand …" holds brand rows inside any campaign. Everything else is non-brand.
The own brand in a non-brand campaign is flagged only where the advertiser keeps the two
apart: the campaign's name says non-brand/generic, or the advertiser has a brand
campaign or "Brand …" ad group. An advertiser without either (Sony's product exports
`sony_camera`, `sony_bravia`…: every campaign bids on "sony"/"ソニー" on purpose) gets
no own-brand flags: there is no brand campaign to move the terms to, and hundreds of
rows per campaign would bury the other actions.

**An advertiser's brand** is a list of phrases; a term names the brand when it holds one
of them as whole words (kana and CJK phrases: anywhere, as Japanese has no spaces):

1. the per-account brand list setting (`set_brand_list`), when there is one;
2. the account name without the words at its end that say what is sold ("Frontier
   Partners" of "Frontier Partners Landscaping"): the longest ending (up to 3 words)
   that at least 5 account names share ("Landscaping", "Injury Law"), else the trailing
   words the model knows and does not call brand (`core.model.namewords`); a one-word rest
   must be a brand word or unknown to the model. Without an account, the first word of
   the campaign names ("akashi");
3. words the brand campaigns use and the rest of the data does not: in at least
   `keyword_share` (10%) of the advertiser's brand-campaign rows, in at most
   `own_non_brand_share` (2%) of its non-brand rows, and not a word of what is sold:
   not in the model's vocabulary (too rare; the detector's brand words of the vocabulary
   hold city parts and words such as "home" too often to be used here), and not a word of a
   phrase already known ("valley" of "valley elite" would match "valley quality", another
   brand). This finds a brand that is in no name, e.g. "アカシ" and "あかし" in Sony's
   akashi_brand. (A word of every advertiser's product, such as "sony" there, is known
   to the model and stays out.)
4. kana spellings of 2 and 3, found in the advertiser's own rows: a kana run whose
   romanisation matches a brand word loosely (アカシ and あかし are akashi, ソニー is
   sony).

Competitor brands are the brand phrases (2) of every other advertiser of the data; one
that is part of this advertiser's own brand ("summit" in "summit pro") is not foreign, nor
one that starts with it in a term naming it ("summit first" of Summit First Auto Care in
Summit Air's "summit first class tickets"). Rule 3 leaves out the words the model's
tokeniser knows (`known_by`): also those its vocabulary filter dropped as too common
("reviews", "prices": many advertisers use them) and its stop words ("top", "zero").

`score`: 0.3 + the share of the campaign's cost the flagged rows spent (capped at 1): a
brand mix-up is worth fixing even when small, since it distorts the campaign's figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from core.errors import counted, plural
from core.model.actions import _NON_BRAND, Action, normalize_term, words_of
from core.model.namewords import place_words

KIND = "brand_leak"
OWN = "own brand in non-brand campaign"
COMPETITOR = "competitor brand in brand campaign"
LISTED = 30
_SEPARATORS = re.compile(r"[_\-–—|/.:,()\[\]]+")
_BRAND = re.compile(r"(?<![a-z])brand(?![a-z])", re.IGNORECASE)
# Words of campaign names that describe the campaign, not whose it is.
_MARKERS = frozenset({"brand", "brands", "branded", "non", "nonbrand", "generic", "general",
                      "alltime", "all", "time", "search", "display", "exact", "phrase", "broad",
                      "national", "nationwide", "states", "campaign", "new", "old", "test"})
_KANA_RUN = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]{2,}")
_LATIN = re.compile(r"^[a-z0-9]+( [a-z0-9]+)*$")


@dataclass(frozen=True)
class BrandSettings:
    keyword_share: float = 0.10        # rule 3: share of brand-campaign rows using a word
    own_non_brand_share: float = 0.02  # rule 3: at most this share of its non-brand rows
    min_loose: int = 4                 # rule 4: loose romanisations shorter than this are
                                       # too ambiguous to compare
    listed: int = LISTED


# -- kana -> loose romanisation ------------------------------------------------------------
_KANA = {
    **dict(zip("アイウエオ", ["a", "i", "u", "e", "o"], strict=True)),
    **{k: "k" + v for k, v in zip("カキクケコ", "aiueo", strict=True)},
    **{k: "g" + v for k, v in zip("ガギグゲゴ", "aiueo", strict=True)},
    "サ": "sa", "シ": "si", "ス": "su", "セ": "se", "ソ": "so",
    "ザ": "za", "ジ": "zi", "ズ": "zu", "ゼ": "ze", "ゾ": "zo",
    "タ": "ta", "チ": "ti", "ツ": "tu", "テ": "te", "ト": "to",
    "ダ": "da", "ヂ": "zi", "ヅ": "zu", "デ": "de", "ド": "do",
    **{k: "n" + v for k, v in zip("ナニヌネノ", "aiueo", strict=True)},
    "ハ": "ha", "ヒ": "hi", "フ": "hu", "ヘ": "he", "ホ": "ho",
    **{k: "b" + v for k, v in zip("バビブベボ", "aiueo", strict=True)},
    **{k: "p" + v for k, v in zip("パピプペポ", "aiueo", strict=True)},
    **{k: "m" + v for k, v in zip("マミムメモ", "aiueo", strict=True)},
    "ヤ": "ya", "ユ": "yu", "ヨ": "yo", "ラ": "ra", "リ": "ri", "ル": "ru", "レ": "re",
    "ロ": "ro", "ワ": "wa", "ヲ": "o", "ン": "n", "ヴ": "bu",
    "ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o", "ャ": "ya", "ュ": "yu", "ョ": "yo",
}


def romanize(kana: str) -> str:
    """Kunrei-style romanisation of hiragana/katakana ("アカシ" -> "akasi"); small ya/yu/yo
    replace the vowel before them (キャ -> kya), small tsu doubles the next consonant,
    the long-vowel mark is dropped."""
    out: list[str] = []
    double = False
    for ch in kana:
        code = ord(ch)
        if 0x3041 <= code <= 0x3096:  # hiragana -> katakana
            ch = chr(code + 0x60)
        if ch in "ッ":
            double = True
            continue
        if ch == "ー":
            continue
        piece = _KANA.get(ch, "")
        if ch in "ャュョ" and out and len(out[-1]) >= 2:
            out[-1] = out[-1][:-1] + piece  # キ + ャ -> kya
            continue
        if ch in "ァィゥェォ" and out and len(out[-1]) >= 2:
            out[-1] = out[-1][:-1] + piece  # フ + ァ -> fa-like
            continue
        if double and piece:
            piece = piece[0] + piece
        double = False
        out.append(piece)
    return "".join(out)


def loose(text: str) -> str:
    """A spelling key that Latin and romanised kana spellings of one name share: Hepburn
    to Kunrei (shi/chi/tsu/fu/ji), l -> r, v -> b, y after a consonant or at the end as i,
    long and doubled letters once, a final u/o after a consonant dropped (rinku -> rink)."""
    s = re.sub(r"[^a-z]", "", text.lower())
    for a, b in (("shi", "si"), ("chi", "ti"), ("tsu", "tu"), ("fu", "hu"), ("ji", "zi"),
                 ("l", "r"), ("v", "b")):
        s = s.replace(a, b)
    s = re.sub(r"y(?![aeiou])", "i", s)
    s = re.sub(r"(?<=[^aeiou])y", "", s)
    s = re.sub(r"(.)\1+", r"\1", s)
    s = re.sub(r"ou", "o", s)
    s = re.sub(r"(?<=[^aeiou])[uo]$", "", s) if len(s) > 3 else s
    return s


# -- phrases -------------------------------------------------------------------------------
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Whole words for Latin phrases (also next to CJK: "akashi勤怠"); anywhere otherwise."""
    escaped = re.escape(phrase)
    if _LATIN.match(phrase):
        return re.compile(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")
    return re.compile(escaped)


@cache
def _pattern(phrase: str) -> re.Pattern[str]:
    return _phrase_pattern(phrase)


def find_phrases(term: str, phrases: Collection[str]) -> list[str]:
    """The phrases a (normalised) term holds."""
    return [p for p in phrases if _pattern(p).search(term)]


def name_words(name: object) -> list[str]:
    """Words of an account or campaign name in order, separators ("_", "-", "|") split."""
    if name is None or (isinstance(name, float) and name != name):
        return []
    return normalize_term(_SEPARATORS.sub(" ", str(name))).split()


def is_brand_name(name: object) -> bool:
    """A campaign or ad group name that says brand and not non-brand/generic."""
    text = _SEPARATORS.sub(" ", str(name)) if isinstance(name, str) else ""
    return bool(_BRAND.search(text)) and not _NON_BRAND.search(text)


def _owner(account: object, campaign_name: object, campaign_id: str) -> str:
    """Whose a campaign is: its account, else `~` + the first word of its name."""
    if isinstance(account, str) and account.strip():
        return account
    words = name_words(campaign_name)
    return f"~{words[0]}" if words else f"~{campaign_id}"


owner_name = _owner  # public name (core.serve.brand_lists keys the brand lists by it)


def owner_label(owner: str, campaign_name: object = None) -> str:
    """An owner as people read it: the account, or for `~word` (exports without accounts)
    the campaigns it stands for, spelled as `campaign_name` spells the word. Lookup said
    "Brand list of po" for `PO_general`: a lower-cased name part that reads as a word."""
    if not owner.startswith("~"):
        return owner
    word = owner[1:]
    first = _SEPARATORS.split(str(campaign_name).strip(), maxsplit=1)[0] \
        if isinstance(campaign_name, str) else ""
    spelled = first if normalize_term(first) == word else word
    return f"{spelled} (campaigns named {spelled}…)"


@dataclass
class BrandIndex:
    """Every advertiser's brand phrases (rules 1-2), built once per dataset's rows."""

    owner_of: dict[str, str]                     # campaign id -> owner
    phrases: dict[str, tuple[str, ...]]          # owner -> brand phrases
    known: frozenset[str] = frozenset()          # the model's vocabulary
    brand_words: frozenset[str] = frozenset()    # the dataset's brand words
    by_first: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # word -> whether the model's tokeniser knows it (`known_by(encoder)`): rule 3 then
    # also leaves out words the vocabulary filter dropped as too common ("reviews",
    # "prices") and words the tokeniser drops (stop words such as "top" or "zero")
    is_known: Callable[[str], bool] | None = None

    def campaigns_of(self, campaign_id: str) -> list[str]:
        """The campaigns of a campaign's advertiser (itself included)."""
        owner = self.owner_of.get(str(campaign_id))
        if owner is None:
            return [str(campaign_id)]
        if not hasattr(self, "_campaigns"):
            grouped: dict[str, list[str]] = {}
            for cid, o in self.owner_of.items():
                grouped.setdefault(o, []).append(cid)
            self._campaigns = grouped
        return self._campaigns[owner]

    @classmethod
    def build(cls, campaigns: pd.DataFrame, vocabulary: Collection[str] = (),
              brand_words: Collection[str] = (),
              lists: Mapping[str, Sequence[str]] | None = None) -> BrandIndex:
        """campaigns: `campaign_id`, `campaign_name`, `account` (one row per campaign)."""
        from spacy.lang.en.stop_words import STOP_WORDS

        known, brands = frozenset(vocabulary), frozenset(brand_words)
        places = place_words()
        lists = lists or {}
        owner_of: dict[str, str] = {}
        names: dict[str, list[object]] = {}
        for cid, name, account in zip(campaigns["campaign_id"].astype(str),
                                      campaigns.get("campaign_name", pd.Series(
                                          None, index=campaigns.index)),
                                      campaigns.get("account", pd.Series(
                                          None, index=campaigns.index)), strict=True):
            owner = _owner(account, name, cid)
            owner_of[cid] = owner
            names.setdefault(owner, []).append(account)

        def brandish(word: str, place_ok: bool = False) -> bool:
            return (len(word) > 2 and word not in STOP_WORDS and word not in _MARKERS
                    and (place_ok or word not in places) and not word.isdigit()
                    and (word in brands or word not in known))

        tails: dict[tuple[str, ...], int] = {}  # how many account names end so
        for owner in names:
            words = _account_words(owner) if not owner.startswith("~") else []
            for n in range(1, min(SUFFIX_WORDS, len(words) - 1) + 1):
                tails[tuple(words[-n:])] = tails.get(tuple(words[-n:]), 0) + 1
        phrases: dict[str, tuple[str, ...]] = {}
        for owner in names:
            found: list[str] = [normalize_term(p) for p in lists.get(owner, ()) if str(p).strip()]
            if owner.startswith("~"):
                word = owner[1:]  # a product name may be a town's too ("akashi")
                if brandish(word, place_ok=True):
                    found.append(word)
            else:
                words = _account_words(owner)
                cut = _suffix_length(words, tails, known, brands)
                words = words[:len(words) - cut]
                if len(words) > 1 or (words and brandish(words[0])):
                    found.append(" ".join(words))
                if not cut and len(words) >= 3:  # too few accounts to see the ending:
                    found.append(" ".join(words[:2]))  # the first two words name it too
            phrases[owner] = tuple(dict.fromkeys(found))
        by_first: dict[str, list[tuple[str, str]]] = {}
        for owner, owned in phrases.items():
            for p in owned:
                first = p.split(" ")[0] if _LATIN.match(p) else ""
                by_first.setdefault(first, []).append((p, owner))
        return cls(owner_of, phrases, known, brands, by_first)

    def foreign(self, term: str, owner: str) -> list[tuple[str, str]]:
        """(phrase, owner) of other advertisers' brands a normalised term holds. Not one
        that is part of this advertiser's own brand ("summit" of "summit pro"), nor one
        that starts with it ("summit first" of another advertiser in "summit first class
        tickets" of Summit Air: its own brand followed by what it sells)."""
        own = self.phrases.get(owner, ())
        found = []
        candidates = [c for w in set(words_of(term)) for c in self.by_first.get(w, [])]
        candidates += self.by_first.get("", [])
        for phrase, other in candidates:
            if other == owner or any(phrase in mine for mine in own):
                continue
            if any(phrase.split()[:len(mine.split())] == mine.split()
                   and _pattern(mine).search(term) for mine in own if _LATIN.match(mine)):
                continue
            if _pattern(phrase).search(term):
                found.append((phrase, other))
        return found


def campaign_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign of term rows: `campaign_id`, `campaign_name`, `account`."""
    columns = [c for c in ("campaign_name", "account") if c in rows]
    table = rows.assign(campaign_id=rows["campaign_id"].astype(str)).groupby(
        "campaign_id", sort=False)[columns].first().reset_index()
    return table.reindex(columns=["campaign_id", "campaign_name", "account"])


SUFFIX_WORDS = 3       # longest shared ending of account names stripped ("Injury Law")
SUFFIX_ACCOUNTS = 5    # an ending at least this many account names share says what is sold


def _account_words(account: str) -> list[str]:
    return [w for w in name_words(account) if re.fullmatch(r"\w+", w)]


def _suffix_length(words: list[str], tails: Mapping[tuple[str, ...], int],
                   known: Collection[str], brands: Collection[str]) -> int:
    """How many words at the end of an account name say what is sold, not whose it is:
    the longest ending that `SUFFIX_ACCOUNTS` account names share ("Landscaping",
    "Injury Law"), else the trailing words the model knows and does not call brand."""
    shared = [n for n in range(1, min(SUFFIX_WORDS, len(words) - 1) + 1)
              if tails.get(tuple(words[-n:]), 0) >= SUFFIX_ACCOUNTS]
    if shared:
        return max(shared)
    n = 0
    while (n < len(words) - 1 and _known(words[-1 - n], known)
           and words[-1 - n] not in brands):
        n += 1
    return n


def _role(rows: pd.DataFrame) -> np.ndarray:
    """True for brand rows: a brand campaign's, or in an ad group named "Brand …"."""
    campaign = rows["campaign_name"] if "campaign_name" in rows else pd.Series(
        None, index=rows.index)
    group = rows["ad_group"] if "ad_group" in rows else pd.Series(None, index=rows.index)
    by_campaign = {n: is_brand_name(n) for n in campaign.dropna().unique()}
    by_group = {n: is_brand_name(n) for n in group.dropna().unique()}
    return np.array([by_campaign.get(c, False) or by_group.get(g, False)
                     for c, g in zip(campaign, group, strict=True)], dtype=bool)


def owner_phrases(index: BrandIndex, owner: str, owner_rows: pd.DataFrame | None,
                  s: BrandSettings | None = None) -> tuple[str, ...]:
    """An advertiser's brand phrases: the index's (rules 1-2) plus those its own rows show
    (rules 3-4). Kept in the index per advertiser, settings and rows (every campaign of an
    advertiser reads the same rows: an account of 10 campaigns reads them once)."""
    s = s or BrandSettings()
    if owner_rows is None or owner_rows.empty:
        return tuple(index.phrases.get(owner, ()))
    key = (owner, s, index.is_known, len(owner_rows), owner_rows.index[0], owner_rows.index[-1])
    memo = index.__dict__.setdefault("_owner_phrases", {})
    if key not in memo:
        memo[key] = _owner_phrases(index, owner, owner_rows, s)
    return memo[key]


def _owner_phrases(index: BrandIndex, owner: str, owner_rows: pd.DataFrame,
                   s: BrandSettings) -> tuple[str, ...]:
    phrases = list(index.phrases.get(owner, ()))
    terms = owner_rows["term"].map(normalize_term).to_numpy()
    brand_row = _role(owner_rows)
    from spacy.lang.en.stop_words import STOP_WORDS

    if brand_row.any():  # rule 3
        places = place_words()
        brand_words = [set(_tokens(t)) for t in terms[brand_row]]
        other_words = [set(_tokens(t)) for t in terms[~brand_row]]
        counts: dict[str, int] = {}
        for ws in brand_words:
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        for w, n in counts.items():
            if n / len(brand_words) < s.keyword_share:
                continue
            if (w in STOP_WORDS or w in places or w in _MARKERS or w.isdigit()
                    or (len(w) < 3 and _LATIN.match(w))):
                continue
            if _known(w, index.known) or (index.is_known is not None and index.is_known(w)):
                continue
            if any(w in p.split() for p in phrases):  # part of a known brand phrase
                continue
            used = sum(w in ws for ws in other_words)
            if other_words and used / len(other_words) > s.own_non_brand_share:
                continue
            phrases.append(w)
    keys = {loose(p.replace(" ", "")): p for p in phrases if _LATIN.match(p)}
    keys = {k: p for k, p in keys.items() if len(k) >= s.min_loose}
    if keys:  # rule 4, and Latin spellings of one name ("akasi" for "akashi")
        for t in terms:
            for run in _KANA_RUN.findall(t):
                key = loose(romanize(run))
                if len(key) >= s.min_loose and key in keys:
                    phrases.append(run)
            for word in re.findall(r"[a-z]{4,}", t):
                if word not in index.known and loose(word) in keys:
                    phrases.append(word)
    return tuple(dict.fromkeys(phrases))


def known_by(encoder) -> Callable[[str], bool]:
    """Whether a `core.model.corpus.Encoder` knows a word: it tokenises to nothing (a stop
    word), or only to tokens of the vocabulary or ones the vocabulary filter dropped as
    too common (a word many advertisers use is nobody's brand)."""
    vocabulary = encoder.dictionary.token2id
    common = {w for w, why in encoder.dropped.items() if why == "too common"}

    @cache
    def known(word: str) -> bool:
        tokens = encoder.tokenizer.transform([word])[0]
        return all(t in vocabulary or t in common for t in tokens)

    return known


def _known(word: str, known: Collection[str]) -> bool:
    """Whether the model knows a word, also as the lemma its tokeniser may have stored
    ("sandals" -> sandal, "nursing" -> nurse, "shared" -> share)."""
    forms = {word, word[:-1], word[:-2], word[:-3], word[:-3] + "e", word[:-3] + "y"}
    return word in known or any(f in known for f in forms if len(f) >= 3)


def _competitor_group(rows: pd.DataFrame) -> np.ndarray:
    """Rows of ad groups named "Competitor…": bidding on other brands' names on purpose;
    a name there that holds this advertiser's brand is mostly a similar competitor's
    ("union nation" next to "union star"), so the own-brand check leaves them alone."""
    if "ad_group" not in rows:
        return np.zeros(len(rows), dtype=bool)
    return rows["ad_group"].astype(str).str.match(r"(?i)\s*competitor").fillna(False
                                                                         ).to_numpy(bool)


def _tokens(term: str) -> list[str]:
    """Words of a normalised term, with kana runs inside CJK words as words of their own."""
    return [*term.split(), *(r for r in _KANA_RUN.findall(term) if r not in term.split())]


def brand_leak(campaign_terms: pd.DataFrame, index: BrandIndex,
               owner_rows: pd.DataFrame | None = None,
               settings: BrandSettings | None = None) -> Action | None:
    """The `brand_leak` action of one campaign, or None (see the module docstring).

    owner_rows: the rows of every campaign of its advertiser (`BrandIndex.campaigns_of`),
    for rules 3-4; without them only this campaign's rows are read."""
    s = settings or BrandSettings()
    if campaign_terms.empty or "campaign_id" not in campaign_terms:
        return None
    cid = str(campaign_terms["campaign_id"].iloc[0])
    first = campaign_terms.iloc[0]
    owner = index.owner_of.get(cid) or _owner(first.get("account"), first.get("campaign_name"),
                                               cid)
    rows = owner_rows if owner_rows is not None and len(owner_rows) else campaign_terms
    own = owner_phrases(index, owner, rows, s)
    brand_row = _role(campaign_terms)
    competitors = _competitor_group(campaign_terms)
    # Own brand in a non-brand campaign is a leak only where brand and non-brand are kept
    # apart: the campaign calls itself non-brand, or the advertiser has brand campaigns
    # or "Brand …" ad groups to move the terms to. Without either (Sony's product
    # exports: every campaign bids on "sony"), there is no separation to keep.
    name = campaign_terms["campaign_name"].iloc[0] if "campaign_name" in campaign_terms \
        else None
    separated = (isinstance(name, str) and bool(_NON_BRAND.search(name))) or bool(
        _role(rows).any())
    terms = campaign_terms["term"].map(normalize_term).to_numpy()
    hits: list[dict] = []
    for i, term in enumerate(terms):
        if brand_row[i]:
            found = index.foreign(term, owner)
            if found:
                hits.append({"position": i, "leak": COMPETITOR,
                             "brand": found[0][0], "brand_of": found[0][1].lstrip("~")})
        elif separated and not competitors[i]:
            mine = find_phrases(term, own)
            if mine:
                hits.append({"position": i, "leak": OWN, "brand": mine[0],
                             "brand_of": owner.lstrip("~")})
    if not hits:
        return None
    found = pd.DataFrame(hits)
    picked = campaign_terms.iloc[found["position"].to_numpy()].reset_index(drop=True)
    columns = [c for c in ("term", "term_type", "ad_group", "match_type", "impressions",
                           "clicks", "cost", "conversions") if c in picked]
    evidence = pd.concat([picked[columns], found.drop(columns="position")], axis=1)
    cost = pd.to_numeric(campaign_terms.get("cost"), errors="coerce") if "cost" in \
        campaign_terms else pd.Series(np.nan, index=campaign_terms.index)
    total = float(cost.sum())
    flagged = float(pd.to_numeric(evidence.get("cost", pd.Series(dtype=float)),
                                  errors="coerce").sum())
    share = flagged / total if total > 0 else 0.0
    evidence = evidence.sort_values(["leak", "cost" if "cost" in evidence else "term", "term"],
                                    ascending=[True, False, True]).reset_index(drop=True)
    n_own, n_comp = int((found["leak"] == OWN).sum()), int((found["leak"] == COMPETITOR).sum())
    top = evidence.iloc[0]
    if n_own:
        title = f"Move {counted(n_own, 'own-brand term')} out of this non-brand campaign"
        reason = (f"{counted(n_own, 'row')} {plural(n_own, 'names', 'name')} the "
                  f"advertiser's brand ('{top['brand']}', e.g. "
                  f"'{top['term']}') in a non-brand campaign ({share:.0%} of its cost): "
                  f"brand traffic flatters non-brand figures; move "
                  f"{plural(n_own, 'it', 'them')} to the brand "
                  f"campaign and add the brand as a negative here")
    else:
        title = (f"Remove {counted(n_comp, 'competitor-brand term')} from this brand "
                 "campaign")
        reason = (f"{counted(n_comp, 'row')} of this brand campaign "
                  f"{plural(n_comp, 'names', 'name')} another advertiser's brand "
                  f"('{top['brand']}' of {top['brand_of']}, e.g. '{top['term']}'; "
                  f"{share:.0%} of its cost): add it as a negative here")
    if n_own and n_comp:
        reason += f"; also {counted(n_comp, 'competitor-brand row')}"
    return Action(kind=KIND, title=title, reason=reason, score=float(min(1.0, 0.3 + share)),
                  evidence=evidence.head(s.listed))
