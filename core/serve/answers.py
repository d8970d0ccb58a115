"""One scoring request → its answer, from a loaded `Lookup`: the same calls as the CLI's
`fingerprint`, `neighbors` and `suggest`, with the request body validated field by field.

Nothing here knows about HTTP: the service (core/serve/service.py) maps `AnswerError.status` to
the response. Keyword lists are normalised (NFKC, spaces collapsed, sorted) before they are
answered, so the cache key and the answer come from the same input.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from core import jsonable
from core.errors import InputError, NotFoundError
from core.model.campaign_model import own_account
from core.model.neighbors import MIN_SIMILARITY
from core.plain_text import first_hidden, given_id
from core.serve import score
from core.serve.lookup import Lookup

ENDPOINTS = ("fingerprint", "neighbors", "suggest")
MAX_KEYWORDS = 1000
MAX_ITEMS = 1000

Keyword = Annotated[str, StringConstraints(max_length=500)]


class AnswerError(Exception):
    """A request (or batch item) that cannot be answered: HTTP-like status + message, and
    for a 429 or 503 the seconds a client should wait (`Retry-After`; None: the default)."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class Query(BaseModel):
    """The body of /v1/fingerprint, /v1/neighbors and /v1/suggest (or one batch item)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    campaign_id: str | None = Field(default=None, min_length=1, max_length=200)
    keywords: list[Keyword] | None = Field(default=None, min_length=1, max_length=MAX_KEYWORDS)
    n: int = Field(default=10, ge=1, le=200)
    exclude_account: bool = False
    min_terms: int = Field(default=0, ge=0, le=1_000_000)
    # as the CLI's --min-similarity: /v1/neighbors leaves out those below it (none by
    # default), /v1/suggest learns only from those at or above it (MIN_SIMILARITY)
    min_similarity: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    @field_validator("campaign_id")
    @classmethod
    def _trimmed_id(cls, campaign_id: str | None) -> str | None:
        return _trimmed(campaign_id)

    @field_validator("keywords")
    @classmethod
    def _plain_keywords(cls, keywords: list[str] | None) -> list[str] | None:
        """Normalised here, on the field, so a message names `keywords` (`items.3.keywords`
        in a batch; was "keywords has no keyword with any text" with no field)."""
        if keywords is None:
            return None
        keywords = normalise_keywords(keywords)
        if not keywords:
            raise ValueError("has no keyword with any text")
        return keywords

    @model_validator(mode="after")
    def _one_input(self) -> Query:
        if (self.campaign_id is None) == (self.keywords is None):
            raise ValueError("give either campaign_id or keywords (a list of strings), "
                             "not both or neither")
        return self

    def cache_key(self, endpoint: str, model_id: str) -> tuple:
        return (model_id, endpoint, self.campaign_id,
                tuple(self.keywords) if self.keywords is not None else None,
                self.n, self.exclude_account, self.min_terms, self.min_similarity)


class FeedbackBody(BaseModel):
    """The body of /v1/feedback."""

    model_config = ConfigDict(extra="forbid", strict=True)

    campaign_id: str = Field(min_length=1, max_length=200)
    neighbor_id: str = Field(min_length=1, max_length=200)
    useful: bool

    @field_validator("campaign_id", "neighbor_id")
    @classmethod
    def _trimmed_ids(cls, campaign_id: str) -> str:
        return _trimmed(campaign_id)


def _trimmed(campaign_id: str | None) -> str | None:
    """Surrounding spaces trimmed, as an import trims every id it stores (`" C1"` was a
    404 though the CLI and Python read it as `C1`); an id of spaces only is no id."""
    if campaign_id is not None and not (campaign_id := given_id(campaign_id)):
        raise ValueError("is blank: give a campaign id")
    return campaign_id


def normalise_keywords(keywords: list[str]) -> list[str]:
    """NFKC, one space between words, sorted; a keyword holding a control or invisible
    character (ESC, NUL, U+001F, a zero-width space) is refused, as Lookup and
    `neighbors --text` refuse it (`score.split_keywords`): it made the word around it
    unknown to the model. Checked before the spaces are collapsed: `str.split` reads
    U+001C-U+001F, tabs and line breaks as spaces, so U+001F became a space here alone.
    Lookup splits pasted text at a tab or a line break; a keyword of the array is one
    keyword, so one there is refused too. At either end they are trimmed, as Lookup
    trims each pasted line."""
    stripped = [unicodedata.normalize("NFKC", k).strip() for k in keywords]
    if problem := first_hidden(stripped, "keyword"):
        raise ValueError(f"{problem}; send plain text")
    return sorted(" ".join(k.split()) for k in stripped if k)


# pydantic's type errors ("Input should be a valid list") name Python's types; a client
# sends JSON, so the message names what was expected and what came in JSON's words.
_EXPECTED = {"list_type": "an array", "string_type": "a string", "int_type": "a whole number",
             "float_type": "a number", "bool_type": "true or false", "dict_type": "an object",
             "model_type": "an object"}


def json_type(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words: `null`, `true`, `5.0` (scalars as
    written), `a string`, `an array`, `an object` (was Python's: NoneType, list, str)."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list | tuple) else (
        "an object" if isinstance(value, Mapping) else type(value).__name__)


# Arrays with a length range, as messages name them (pydantic's "List should have at least
# 1 item after validation, not 0" for `{"keywords": []}`).
_ARRAYS = {"keywords": ("keywords", 1, MAX_KEYWORDS)}


# pydantic's range errors ("Input should be greater than or equal to 1", "Input should be
# a finite number") named neither the value sent nor the other end of the range.
_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than",
                 "finite_number"}


def _range(model: type[BaseModel] | None, name: object) -> str | None:
    """'a whole number from 1 to 200' for a bounded field of `model`, else None."""
    info = model.model_fields.get(str(name)) if model is not None else None
    if info is None:
        return None
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    if low is None or high is None:
        return None
    kind = "a whole number" if info.annotation is int else "a number"
    return f"{kind} from {low:,} to {high:,}"


def validation_message(err: ValidationError, prefix: str = "",
                       model: type[BaseModel] | None = None) -> str:
    """'field `n`: must be a whole number from 1 to 200, not 0; …' — names every bad field
    and, out of its range (or NaN, Infinity), the value and the range of `model`'s field;
    a value of the wrong type is 'field `n`: must be a whole number, not a string', an
    array of the wrong length 'field `keywords`: must be an array of 1 to 1,000
    keywords, not an empty one', a text 'must not be an empty string' or 'must have at
    most 500 characters, not 501' (pydantic's "String should have …")."""
    parts = []
    for problem in err.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in problem["loc"])
        where = f"{prefix}.{where}" if prefix and where else (prefix or where)
        message = problem["msg"].removeprefix("Value error, ")
        bounds = _range(model, problem["loc"][-1]) if problem["loc"] else None
        if problem["type"] in _RANGE_ERRORS and bounds:
            message = f"must be {bounds}, not {json_type(problem['input'])}"
        elif problem["type"] in _EXPECTED:
            message = f"must be {_EXPECTED[problem['type']]}, not {json_type(problem['input'])}"
        elif problem["type"] in ("too_short", "too_long") and problem["loc"] and \
                problem["loc"][-1] in _ARRAYS and isinstance(problem["input"], list):
            noun, least, most = _ARRAYS[problem["loc"][-1]]
            given = len(problem["input"])
            message = (f"must be an array of {least:,} to {most:,} {noun}, not "
                       f"{f'{given:,}' if given else 'an empty one'}")
        elif problem["type"] == "string_too_short" and isinstance(problem["input"], str):
            message = "must not be an empty string"    # every text field needs a character
        elif problem["type"] == "string_unicode":     # was "unable to parse raw data …"
            message = ("must be Unicode text, and it holds a lone surrogate (an escape from "
                       "\\ud800 to \\udfff without its pair), which is no character")
        elif problem["type"] == "string_too_long" and isinstance(problem["input"], str):
            message = (f"must have at most {problem['ctx']['max_length']:,} characters, not "
                       f"{len(problem['input']):,}")
        parts.append(f"field `{where}`: {message}" if where else message)
    return "; ".join(parts)


def parse(model: type[BaseModel], raw: Any, prefix: str = "") -> Any:
    if not isinstance(raw, Mapping):
        where = f"`{prefix}` " if prefix else "the body "
        raise AnswerError(422, f"{where}must be a JSON object, not {json_type(raw)}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise AnswerError(422, validation_message(err, prefix, model)) from None


def parse_feedback(raw: Any) -> FeedbackBody:
    """The body of /v1/feedback: one verdict. `items` (a batch, as the scoring endpoints
    take) was refused as "`campaign_id`: Field required; … `items`: Extra inputs are not
    permitted", which reads as if the verdict's fields were missing from each item."""
    if isinstance(raw, Mapping) and "items" in raw:
        raise AnswerError(422, "/v1/feedback takes one verdict per request, `{\"campaign_id\", "
                               "\"neighbor_id\", \"useful\"}`, not a batch (`items`); send "
                               "each verdict as its own request")
    return parse(FeedbackBody, raw)


# What each endpoint reads besides the campaign or keywords: /v1/fingerprint reads none of
# these, and a client sending `n` there (or `exclude_account` with pasted keywords, which
# belong to no account) got an answer that silently ignored it.
NEIGHBOR_FIELDS = ("n", "exclude_account", "min_terms", "min_similarity")


def parse_query(endpoint: str, raw: Any, prefix: str = "") -> Query:
    """The body of one query (or batch item) for `endpoint`, refusing a field that endpoint
    would ignore, naming it."""
    query = parse(Query, raw, prefix)
    at = f"{prefix}." if prefix else ""
    if endpoint == "fingerprint":
        for name in NEIGHBOR_FIELDS:
            if name in query.model_fields_set:
                raise AnswerError(422, f"field `{at}{name}`: /v1/fingerprint does not use it "
                                       "(it is for /v1/neighbors and /v1/suggest); leave it "
                                       "out")
    elif query.keywords is not None and query.exclude_account:
        raise AnswerError(422, f"field `{at}exclude_account`: pasted keywords belong to no "
                               "account, so there is none to leave out; it applies to a "
                               "stored campaign (`campaign_id`)")
    return query


def answer(lookup: Lookup, endpoint: str, query: Query) -> dict:
    """The answer to one query under one model, as plain JSON-ready values."""
    try:
        if endpoint == "fingerprint":
            return _fingerprint(lookup, query)     # plain Python already
        if endpoint == "neighbors":
            return _neighbors(lookup, query)       # plain Python already
        if endpoint == "suggest":
            result = _suggest(lookup, query)
        else:
            raise AnswerError(404, f"no endpoint {endpoint!r}")
    except NotFoundError as err:
        raise AnswerError(404, str(err)) from None
    except InputError as err:
        raise AnswerError(422, f"field `keywords`: {err}") from None
    return plain(result)


def _fingerprint(lookup: Lookup, query: Query) -> dict:
    answer = fingerprint_many(lookup, [query])[0]
    if isinstance(answer, AnswerError):
        raise answer
    return answer


def fingerprint_many(lookup: Lookup, queries: list[Query]) -> list[dict | AnswerError]:
    """Fingerprints of many queries at once: stored ones looked up, pasted keyword sets
    folded in together (`score.fold_in_many`), all rounded and ranked in one numpy call
    each (per item, numpy's call overhead was a third of a 1,000-item batch of stored
    campaigns). Each item is its answer (plain Python values, ready for JSON) or its
    error."""
    answers: list[dict | AnswerError] = []
    pasted = [q.keywords or [] for q in queries if q.campaign_id is None]
    folded = iter(score.fold_in_many(lookup.model, pasted) if pasted else [])
    found_rows: list[tuple[int, Query, Any, float, float, dict]] = []
    for query in queries:
        if query.campaign_id is not None:
            try:
                i = lookup.fingerprints.index_of(lookup.check(query.campaign_id))
            except NotFoundError as err:
                answers.append(AnswerError(404, str(err)))
                continue
            weights = lookup.fingerprints.weights[i]
            # its words are not read here: its term rows read and folded in again took
            # 3.2 ms against this answer's 0.02 (bench/unknown_words.py), so both fields are
            # null, as a pasted answer's keys (`unknown` was left out; /v1/suggest and the
            # CLI list them)
            oov = float(lookup.fingerprints.oov_share[i])
            hidden = lookup.fingerprints.hidden_share(i)
            unknown = {"unknown_words": None, "unknown": None}
        else:
            found = next(folded)
            if isinstance(found, InputError):
                answers.append(AnswerError(422, f"field `keywords`: {found}"))
                continue
            weights, oov, hidden = found.weights, found.oov_share, found.hidden_share
            # what the CLI's `fingerprint --text` says of them: the words and why
            unknown = {"unknown_words": found.unknown_words(),
                       "unknown": found.unknown_report()}
        found_rows.append((len(answers), query, weights, oov, hidden, unknown))
        answers.append({})                      # filled below
    if found_rows:
        matrix = np.vstack([np.asarray(row[2], dtype=np.float64) for row in found_rows])
        k = matrix.shape[1]
        rounded = score.shown_weights(matrix)
        tops = score.top_topics_many(matrix, lookup.topic_names)
        for r, (slot, query, _, oov, hidden, unknown) in enumerate(found_rows):
            answers[slot] = {
                "campaign_id": query.campaign_id, "oov_share": round(float(oov), 4),
                "hidden_share": round(hidden, 4), **unknown,
                "fingerprint": rounded[r * k:(r + 1) * k],
                "top_topics": tops[r]}
    return answers


def refuse_no_account(lookup: Lookup, query: Query) -> None:
    """`exclude_account` for a stored campaign that names no account is refused by the
    lookup itself (`campaign_model.own_account`); here it is told as this field's 422."""
    campaign_id = query.campaign_id
    if not query.exclude_account or campaign_id not in lookup.campaigns.index:
        return      # not asked, or an unknown campaign: its 404 comes from the lookup
    try:
        own_account(lookup.campaigns, campaign_id, f"{lookup.dataset} v{lookup.version}")
    except InputError as err:
        raise AnswerError(422, f"field `exclude_account`: {err}") from None


def _neighbors(lookup: Lookup, query: Query) -> dict:
    """The rows of the CLI's `neighbors` table, built without a DataFrame (hot path)."""
    refuse_no_account(lookup, query)
    if query.campaign_id is not None:
        found = lookup.find_neighbors(query.campaign_id, query.n,
                                      exclude_account=query.exclude_account,
                                      min_terms=query.min_terms)
    else:
        _, found = lookup.find_keyword_neighbors(query.keywords or [], query.n,
                                                 min_terms=query.min_terms)
    floor = query.min_similarity or 0.0
    return {"campaign_id": query.campaign_id, "min_similarity": floor,
            "neighbors": lookup.neighbor_records(found, floor)}


def _suggest(lookup: Lookup, query: Query) -> dict:
    refuse_no_account(lookup, query)
    floor = MIN_SIMILARITY if query.min_similarity is None else query.min_similarity
    if query.campaign_id is not None:
        result = lookup.campaign(query.campaign_id, query.n,
                                 exclude_account=query.exclude_account,
                                 min_terms=query.min_terms, min_similarity=floor)
        # its words, as the CLI's `suggest` lists them: a few ms beside the actions' 100+
        return result.to_dict(lookup.topic_names) | lookup.unknown_fields(query.campaign_id)
    result = lookup.keywords(query.keywords or [], query.n, min_terms=query.min_terms,
                             min_similarity=floor)
    return result.to_dict(lookup.topic_names)


def plain(value: Any) -> Any:
    """JSON-ready copy (`core.jsonable.plain`), dates in ISO 8601, anything else as text."""
    return jsonable.plain(value, date_text=lambda day: day.isoformat())
