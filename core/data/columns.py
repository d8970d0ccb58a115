"""Which input column feeds which canonical column, by name.

Exports and hand-made files spell the same thing many ways ("Impr.", "impressions",
"Search term", "query"); names are compared after lower-casing and dropping spaces and
punctuation, against an ordered alias list per canonical column (first alias found wins,
so "Search term" beats "Keyword" in a search terms report that has both). Another
column that names an already fed metric column ("Impressions" beside "Impr.") is a
rival: the reader imports the file only when the two hold the same numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.errors import InputError


def normalise_name(name: str) -> str:
    """`"Impr."`, `"impr"` and `" IMPR "` all become `"impr"` (letters and digits only)."""
    folded = unicodedata.normalize("NFKC", str(name)).casefold()
    return re.sub(r"[\W_]+", "", folded)


# canonical column -> accepted input names, most specific first (English; the Google Ads
# UI translations below are appended to each).
_ENGLISH_ALIASES: dict[str, tuple[str, ...]] = {
    "campaign_id": ("campaign_id", "campaign id", "cid", "campaign"),
    # Amazon Ads' bulk file names each row's campaign and ad group in its "(Informational
    # only)" columns; "Campaign Name" and "Ad Group Name" are filled on their own rows only
    "campaign_name": ("campaign name (informational only)", "campaign_name", "campaign name",
                      "campaign"),
    "account": ("account", "account name", "customer", "customer name", "advertiser",
                "advertiser name"),
    "ad_group": ("ad group name (informational only)", "ad_group", "ad group", "adgroup",
                 "ad group name"),
    # Amazon Ads' search term reports: "Customer Search Term" beside "Targeting" (the
    # keyword or product target that matched); its bulk file: "Keyword Text"
    "term": ("term", "search term", "search_term", "customer search term", "search query",
             "query", "keyword", "keywords", "keyword text", "text"),
    "term_type": ("term_type", "term type"),
    # Microsoft Advertising: the keyword's own (bid) match type, or the one that served;
    # Google Ads Editor's criterion type says "Exact", "Phrase", "Negative Broad" …
    "match_type": ("match_type", "match type", "bid match type", "delivered match type",
                   "criterion type"),
    "impressions": ("impressions", "impr.", "impr", "imps"),
    "clicks": ("clicks",),
    "cost": ("cost", "spend", "amount spent"),
    # Amazon Ads: orders within 7 days of the click (Sponsored Products), 14 (Sponsored
    # Brands)
    "conversions": ("conversions", "conv.", "7 day total orders (#)",
                    "14 day total orders (#)"),
    # Microsoft Advertising's daily reports: "GregorianDate", always yyyy-mm-dd (its
    # "TimePeriod" and the web UI's "Report Time" follow the aggregation or the locale)
    "date": ("date", "day", "gregorian date"),
    "label": ("label", "vertical", "category", "class", "query_class"),
    # Not a term column: the currency of `cost`, kept per dataset (`datasets.currency`).
    "currency": ("currency code", "currency"),
}

# Column headers of the Google Ads UI when its display language is not English, per
# language: the "Search keyword" / "Search terms" report columns and the Campaign, Day
# and Account segments. Sources: the French names ("Terme de recherche", "Type de
# correspondance", "Campagne", "Groupe d'annonces", "Clics", "Coût", "Impr.",
# "Conversions") are read by two open-source French Google Ads export parsers (found with
# the `search` tool); the rest follow Google Ads' localised UI and help-centre terms and
# could NOT be confirmed against a real export here: an export with a header not listed
# keeps being read without that column, as before. Left out on purpose: German "Tag"
# (day) and Italian/Portuguese "Data" (date), which are also English words a hand-made
# file may use for something else. The term column lists search-term names before
# keyword names, so "Suchbegriff" beats "Keyword" in a search terms report, as in English.
UI_LANGUAGE_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {
        "campaign_id": ("Kampagnen-ID", "Kampagne"), "campaign_name": ("Kampagne",),
        "account": ("Kontoname", "Konto", "Kundenname"),
        "ad_group": ("Anzeigengruppe",),
        "search_term": ("Suchbegriff",), "keyword": ("Keyword",),
        "match_type": ("Übereinstimmungstyp", "Keyword-Option"),
        "impressions": ("Impr.", "Impressionen"), "clicks": ("Klicks",),
        "cost": ("Kosten",), "conversions": ("Conversions", "Conv."),
        "date": ("Datum",), "currency": ("Währungscode", "Währung"),
    },
    "fr": {
        "campaign_id": ("ID de la campagne", "Campagne"), "campaign_name": ("Campagne",),
        "account": ("Nom du compte", "Compte", "Nom du client"),
        "ad_group": ("Groupe d'annonces",),
        "search_term": ("Terme de recherche",), "keyword": ("Mot clé", "Mots clés"),
        "match_type": ("Type de correspondance",),
        "impressions": ("Impr.", "Impressions"), "clicks": ("Clics",),
        "cost": ("Coût",), "conversions": ("Conversions", "Conv."),
        "date": ("Jour",), "currency": ("Code de la devise", "Code devise", "Devise"),
    },
    "es": {
        "campaign_id": ("ID de campaña", "Campaña"), "campaign_name": ("Campaña",),
        "account": ("Nombre de la cuenta", "Cuenta", "Nombre del cliente"),
        "ad_group": ("Grupo de anuncios",),
        "search_term": ("Término de búsqueda",), "keyword": ("Palabra clave",),
        "match_type": ("Tipo de concordancia",),
        "impressions": ("Impr.", "Impresiones"), "clicks": ("Clics",),
        "cost": ("Coste", "Costo"), "conversions": ("Conversiones", "Conv."),
        "date": ("Día", "Fecha"), "currency": ("Código de moneda", "Moneda"),
    },
    "it": {
        "campaign_id": ("ID campagna", "Campagna"), "campaign_name": ("Campagna",),
        "account": ("Nome account", "Nome cliente"),
        "ad_group": ("Gruppo di annunci", "Gruppo annunci"),
        "search_term": ("Termine di ricerca",), "keyword": ("Parola chiave",),
        "match_type": ("Tipo di corrispondenza",),
        "impressions": ("Impr.", "Impressioni"), "clicks": ("Clic",),
        "cost": ("Costo",), "conversions": ("Conversioni", "Conv."),
        "date": ("Giorno",), "currency": ("Codice valuta", "Valuta"),
    },
    "pt": {
        "campaign_id": ("ID da campanha", "Campanha"), "campaign_name": ("Campanha",),
        "account": ("Nome da conta", "Conta", "Nome do cliente"),
        "ad_group": ("Grupo de anúncios",),
        "search_term": ("Termo de pesquisa",), "keyword": ("Palavra-chave",),
        "match_type": ("Tipo de correspondência",),
        "impressions": ("Impr.", "Impressões"), "clicks": ("Cliques",),
        "cost": ("Custo",), "conversions": ("Conversões", "Conv."),
        "date": ("Dia",), "currency": ("Código da moeda", "Moeda"),
    },
    "nl": {
        "campaign_id": ("Campagne-ID", "Campagne"), "campaign_name": ("Campagne",),
        "account": ("Accountnaam", "Klantnaam"),
        "ad_group": ("Advertentiegroep",),
        "search_term": ("Zoekterm",), "keyword": ("Zoekwoord",),
        "match_type": ("Zoektype",),
        "impressions": ("Vert.", "Vertoningen"), "clicks": ("Klikken",),
        "cost": ("Kosten",), "conversions": ("Conversies", "Conv."),
        "date": ("Dag",), "currency": ("Valutacode", "Valuta"),
    },
    "ja": {
        "campaign_id": ("キャンペーン ID", "キャンペーン"), "campaign_name": ("キャンペーン",),
        "account": ("アカウント名", "アカウント", "顧客名"),
        "ad_group": ("広告グループ",),
        "search_term": ("検索語句",), "keyword": ("キーワード",),
        "match_type": ("マッチタイプ",),
        "impressions": ("表示回数",), "clicks": ("クリック数",),
        "cost": ("費用",), "conversions": ("コンバージョン",),
        "date": ("日",), "currency": ("通貨コード",),
    },
}
# UI languages whose numbers use a decimal comma ("1.234,56"); Japanese uses "1,234.56".
DECIMAL_COMMA_LANGUAGES = ("de", "fr", "es", "it", "pt", "nl")


def _with_translations() -> dict[str, tuple[str, ...]]:
    """English aliases, then each language's, in order; the term column takes every
    search-term name before any keyword name."""
    merged = {column: list(aliases) for column, aliases in _ENGLISH_ALIASES.items()}
    for names in UI_LANGUAGE_ALIASES.values():
        for column, aliases in names.items():
            if column not in ("search_term", "keyword"):
                merged[column].extend(aliases)
    keywords = merged["term"].index("keyword")
    merged["term"][keywords:keywords] = [a for names in UI_LANGUAGE_ALIASES.values()
                                         for a in names["search_term"]]
    merged["term"].extend(a for names in UI_LANGUAGE_ALIASES.values() for a in names["keyword"])
    return {column: tuple(_first_of_each_name(aliases)) for column, aliases in merged.items()}


def _first_of_each_name(aliases: list[str]) -> list[str]:
    """Aliases without the later ones that normalise alike ("Keyword" after "keyword")."""
    seen: set[str] = set()
    kept = []
    for alias in aliases:
        if normalise_name(alias) not in seen:
            seen.add(normalise_name(alias))
            kept.append(alias)
    return kept


COLUMN_ALIASES: dict[str, tuple[str, ...]] = _with_translations()

# Metric columns whose every alias is a synonym: a second one beside the first holds the
# same figures or contradicts them. The other columns' aliases also name neighbouring
# things, where the first, most specific one is meant and another legitimately differs:
# "Keyword" beside "Search term" (the keyword the search matched), "Customer name"
# beside "Account name" (a manager account), "Campaign" beside "Campaign ID".
RIVAL_CHECKED = ("impressions", "clicks", "cost", "conversions")


# Input names of the term column that say what kind of term it holds.
SEARCH_TERM_NAMES = frozenset({"searchterm", "customersearchterm", "searchquery", "query"} | {
    normalise_name(a) for names in UI_LANGUAGE_ALIASES.values() for a in names["search_term"]})
KEYWORD_NAMES = frozenset({"keyword", "keywords", "keywordtext"} | {
    normalise_name(a) for names in UI_LANGUAGE_ALIASES.values() for a in names["keyword"]})
# The date column's English names: under a translated one ("Datum", "Jour") days written
# as numbers are day first (`core.data.readers`)
ENGLISH_DATE_NAMES = frozenset(normalise_name(a) for a in _ENGLISH_ALIASES["date"])

# Header names only a decimal-comma UI language uses ("Klicks", "Coût"; not "Impr.",
# which English shares): a file headed so writes one thousand two hundred thirty-four
# as "1.234" (`core.data.readers` decides a file's number style).
DECIMAL_COMMA_NAMES = frozenset(
    {normalise_name(a) for language in DECIMAL_COMMA_LANGUAGES
     for names in UI_LANGUAGE_ALIASES[language].values() for a in names}
    - {normalise_name(a) for aliases in _ENGLISH_ALIASES.values() for a in aliases}
    - {normalise_name(a) for names in UI_LANGUAGE_ALIASES["ja"].values() for a in names})

_NORMALISED_ALIASES = {column: tuple(dict.fromkeys(normalise_name(a) for a in aliases))
                       for column, aliases in COLUMN_ALIASES.items()}


def match_columns(headers: Sequence[str]) -> dict[str, int]:
    """Canonical column -> index of the input column that feeds it.

    One input column may feed two canonical ones: a lone "Campaign" (or "Campaign name"
    without an id column) is both the campaign id and its name. Two input columns that
    share a normalised name and feed a canonical column are refused (`InputError`, naming
    both): taking either would drop the other's values unseen. Repeated names no
    canonical column uses are left alone.
    """
    position: dict[str, int] = {}
    for index, header in enumerate(headers):
        position.setdefault(normalise_name(header), index)
    matched: dict[str, int] = {}
    for column, aliases in _NORMALISED_ALIASES.items():
        for alias in aliases:
            if alias in position:
                matched[column] = position[alias]
                break
    if "campaign_name" in matched and "campaign_id" not in matched:
        # as a lone "Campaign" is: "Keyword,Campaign name" was one campaign named after the
        # file, every row's campaign name dropped
        matched["campaign_id"] = matched["campaign_name"]
    fed = {index: column for column, index in reversed(matched.items())}
    for index, header in enumerate(headers):
        first = position[normalise_name(header)]
        if first != index and first in fed:
            raise InputError(
                f"columns {first + 1} {headers[first]!r} and {index + 1} {header!r} have the "
                f"same name, so which one holds the {fed[first].replace('_', ' ')} is "
                "unclear; rename or remove one of them")
    return matched


def rival_columns(headers: Sequence[str], matched: dict[str, int]
                  ) -> list[tuple[str, int, int]]:
    """(metric column, index of the column read, index of a rival) for every input column
    that names a `RIVAL_CHECKED` column another column already feeds and feeds none
    itself ("Impr." and "Impressions"): taking the first alone would drop the other's
    figures unseen, so the reader compares them."""
    fed = set(matched.values())
    rivals = []
    for column in RIVAL_CHECKED:
        if column not in matched:
            continue
        kept = matched[column]
        kept_name = normalise_name(headers[kept])
        for index, header in enumerate(headers):
            name = normalise_name(header)
            if (index in fed or name == kept_name
                    or name not in _NORMALISED_ALIASES[column]):
                continue  # fed, or a repeated name (match_columns refuses those it reads)
            rivals.append((column, kept, index))
    return rivals


def unread_term_columns(headers: Sequence[str], matched: dict[str, int]) -> list[int]:
    """Indexes of the other columns that also name the term column ("Keywords" beside
    "Keyword", "Query" beside "Search term"): only the first accepted name is read, and
    the user is told which. A keyword beside a search term is the keyword the search
    matched (a search terms report has both), so it is not counted."""
    if "term" not in matched:
        return []
    kept = normalise_name(headers[matched["term"]])
    aliases = _NORMALISED_ALIASES["term"]
    return [index for index, header in enumerate(headers)
            if (name := normalise_name(header)) in aliases and name != kept
            and not (kept in SEARCH_TERM_NAMES and name in KEYWORD_NAMES)]


COLUMNS_SHOWN = 8  # columns a message about missing ones lists at most


def lacking_columns(found: Sequence[object], missing: Sequence[str]) -> str:
    """Why term rows given as a frame cannot be read: the canonical columns they lack, the
    columns they have, and, when those are an export's headers ("Campaign ID", "Keyword",
    as Google Ads names them and an import accepts), how to read them. "term rows lack
    the columns 'campaign_id', 'term'" named neither what the frame held nor the reader
    that maps such headers."""
    from core.errors import listed

    names = [str(c) for c in found]
    shown = ", ".join(map(repr, names[:COLUMNS_SHOWN]))
    if len(names) > COLUMNS_SHOWN:
        shown += f", … ({len(names):,} in all)"
    said = (f"term rows lack the {listed('column', missing)}; "
            + (f"their columns are {shown}" if names else "they have no columns"))
    try:
        matched = match_columns(names)
    except InputError:  # two columns of one name: no mapping to offer
        return said
    if not any(column in matched for column in missing):
        return said
    renames: dict[str, str] = {}
    for column, index in matched.items():
        if column != "currency" and names[index] != column:
            renames.setdefault(names[index], column)
    # a keyword report of one campaign has no campaign column: renamed, fit still said
    # "lack the column 'campaign_id'"
    nameless = ("" if "campaign_id" in matched else
                ". They hold no campaign column (read_terms names a file's rows after the file "
                "when it has none, as an import does), so a rename needs a campaign id too: "
                ".assign(campaign_id=...)")
    return (f"{said}. These look like an export's headers: read its files with read_terms (from "
            f"core import read_terms), which maps them and reads their values as an import "
            f"does, or rename them: .rename(columns={renames!r}){nameless}")


def accepted_names(column: str) -> str:
    """The English aliases of one canonical column, for error messages (the translated
    ones are summed up: listing them all would bury the message)."""
    languages = ", ".join(UI_LANGUAGE_ALIASES)
    return (", ".join(repr(a) for a in _ENGLISH_ALIASES[column])
            + f", or their Google Ads UI names in {languages}")
