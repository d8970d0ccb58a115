"""The CLI's `ngrams` report: a campaign's or an account's search-term fragments, read from
a stored dataset version, with the `ngram_waste` action (`core.model.ngrams` does the counting
and knows nothing of the store)."""

from __future__ import annotations

from core.data import datasets, store
from core.data.currencies import shown_sums
from core.errors import InputError, NotFoundError, quoted
from core.model import ngrams
from core.plain_text import given_id
from core.serve import registry


def report(campaign_id: str | None = None, account: str | None = None, *,
           dataset: str | None = None, version: int | None = None, top: int = 50,
           settings: ngrams.NgramSettings | None = None) -> dict:
    """N-grams of one campaign's or one whole account's search terms in a dataset version
    (default: the newest version of the default dataset): the costliest fragments and the
    `ngram_waste` action with its conflict-checked negatives (the CLI's `ngrams`)."""
    if top < 1:
        raise InputError(f"--top must be 1 or more, not {top}.")
    given, campaign_id = campaign_id, given_id(campaign_id)  # trimmed, as an import trims
    # ids and the CLI's other commands trim them: " C1" was "No campaign id ' C1'"
    if campaign_id == "":
        raise InputError(f"The campaign id {given!r} is blank: give a campaign id or "
                         "--account NAME.")
    if (campaign_id is None) == (account is None):
        raise InputError("Give either a campaign id or --account NAME (one of the two).")
    if account is not None:
        datasets.check_account(account)
    info = datasets.get(*_dataset_or_default(dataset, version))
    column, value = ("campaign_id", campaign_id) if campaign_id else ("account", account)
    rows = store.query(
        "SELECT campaign_id, account, term, term_type, impressions, clicks, cost, conversions "
        f"FROM terms WHERE dataset = ? AND version = ? AND {column} = ? "
        "ORDER BY source_file, source_line", [info.name, info.version, value])
    if rows.empty:
        hint = datasets.campaign_case_hint(value, dataset=info.name, version=info.version,
                                           column=column)
        raise NotFoundError(f"No {column.replace('_', ' ')} {quoted(value)} in "
                            f"{info.label}.{hint}")
    notes: list[str] = []
    if not (rows["term_type"] == "search_term").any():
        notes.append(f"No search terms for this {column.split('_')[0]}: n-grams are counted "
                     "over the search terms report's rows, and these rows are keywords.")
    code = datasets.currency(info.name)  # sums shown in its minor unit, not 7697.5599999
    action = ngrams.ngram_waste(rows, settings, notes, currency=code)
    table = ngrams.ngram_table(rows, (settings or ngrams.NgramSettings()).max_n)
    table = table.sort_values(["cost", "ngram"], ascending=[False, True]).head(top)
    table = shown_sums(table, code, money=("cost", "cost_per_conversion"))
    return {"dataset": info.name, "version": info.version, column: value,
            "campaigns": int(rows["campaign_id"].nunique()),
            "ngrams": table.drop(columns="terms").to_dict(orient="records"),
            "action": None if action is None else {
                "kind": action.kind, "title": action.title, "reason": action.reason,
                "score": action.score,
                "evidence": action.evidence.to_dict(orient="records")},
            "notes": notes}


def _dataset_or_default(dataset: str | None, version: int | None) -> tuple[str, int | None]:
    """The dataset named, else the production model's (the campaigns `suggest` and
    `neighbors` answer from: `ngrams akashi_nonbrand` looked in demo while production
    served sony), else `datasets.default_version`'s; its newest version unless given."""
    if dataset is not None:
        return dataset, version
    production = registry.alias("production")
    if production is not None:
        return registry.get(production)["dataset"], version
    default = datasets.default_version()
    if default is None:
        raise NotFoundError("The store holds no datasets yet: import a file first.")
    return default[0], version if version is not None else default[1]
