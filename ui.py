"""Shared pieces of the Streamlit pages: cached loaders, the active dataset, error boxes.

Everything here is presentation; the work happens in `core`. Listings that change when
anyone (this app, the CLI, a scheduler) changes the store are cached per *store
generation* (`core.data.store.generation`, new after every audited change, and every
change is audited), so the app sees a pipeline's new production model on the next rerun
without re-querying everything.
Dataset versions and model artifacts never change, so they are cached by id.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import shlex
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data import auth, currencies, datasets, export, readers, store
from core.errors import Controls, TopicLabError, counted, plural
from core.serve import registry

# What the uploaders take: every file the importer reads (Explore's import, Lookup's
# keywords of a new campaign).
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in readers.SUPPORTED_SUFFIXES]


def generation() -> str:
    """Changes whenever the store does (every change is audited): a tiny file read, since
    the pages ask several times per run and opening the store costs ~30 ms."""
    return store.generation()


@st.cache_data(show_spinner=False, max_entries=4)
def _dataset_versions(generation: str) -> pd.DataFrame:
    return datasets.list_versions()


@st.cache_data(show_spinner=False, max_entries=4)
def _models(generation: str) -> pd.DataFrame:
    return registry.list_models()


@st.cache_data(show_spinner=False, max_entries=4)
def _aliases(generation: str) -> dict[str, str]:
    return registry.aliases()


def dataset_versions() -> pd.DataFrame:
    return _dataset_versions(generation())


def models_table() -> pd.DataFrame:
    return _models(generation())


def production_model_id() -> str | None:
    return _aliases(generation()).get("production")


def aliases() -> dict[str, str]:
    """Alias -> model id, as the store holds them now."""
    return _aliases(generation())


def scored_model_ids() -> list[str]:
    """Models with stored fingerprints (the ones Lookup can use), production first."""
    models = models_table()
    scored = models.loc[models["scored"], "model_id"].tolist() if not models.empty else []
    production = production_model_id()
    return sorted(scored, key=lambda m: (m != production, m))


@st.cache_data(show_spinner=False, max_entries=8)
def campaigns(name: str, version: int) -> pd.DataFrame:
    """Versions are immutable, so their tables can be cached for the life of the app."""
    return datasets.campaigns(name, version)


@st.cache_data(show_spinner=False, max_entries=8)
def top_terms(name: str, version: int, limit: int = 25) -> pd.DataFrame:
    return datasets.top_terms(name, version, limit)


@st.cache_resource(show_spinner="Loading model…", max_entries=6)
def model(model_id: str):
    """A loaded model (engine + encoder); artifacts never change, so cache by id."""
    return registry.load(model_id)


@st.cache_resource(show_spinner="Loading the model's fingerprints…", max_entries=3)
def lookup(model_id: str):
    """The loaded lookup service of a scored model (fingerprints, term index)."""
    from core.serve.lookup import Lookup
    return Lookup(model_id)


def active_dataset() -> tuple[str, int] | None:
    """The dataset version the user picked (session state), else core's default."""
    versions = dataset_versions()
    known = set(zip(versions["name"], versions["version"].astype(int), strict=True))
    picked = st.session_state.get("dataset")
    if picked not in known:
        picked = datasets.default_version(versions)
        st.session_state["dataset"] = picked
    return picked


def set_active_dataset(name: str, version: int) -> None:
    """Make a version the active one everywhere. Call it from a widget callback (which
    runs before the next script run draws anything), so the sidebar, the pickers and the
    pages all see it in the same run."""
    st.session_state["dataset"] = (name, int(version))
    st.session_state.pop("dataset_picker", None)  # the picker follows on its next draw


def _picker_changed() -> None:
    st.session_state["dataset"] = st.session_state["dataset_picker"]


# What core's messages name on the pages, where the CLI's flags are a checkbox or a picker.
PAGE_CONTROLS = Controls(
    other_dataset="tick the confirmation below to promote it",
    force="on the Compare page, or with `python -m core promote --force`",
    older_version="it is the active version now, so the pages use it until you pick "
                  "another in the Dataset version picker (`python -m core train` and "
                  "`drift` take `--version {version}`)",
    drift_other_dataset="tick the \"Measure … anyway\" box above to measure it all the same",
    canary_candidate="Promote another model to candidate here first (the Model and Alias "
                     "pickers above), or stop the canary (`python -m core canary set 0`: no "
                     "page sets the share).",
    new_candidate="promote a model to candidate here (the Model and Alias pickers above)",
    new_production="Promote another model to production here first (the Model and Alias "
                   "pickers above).",
    rebind="the \"Rebind to v{version}\" button above registers its topics on that version "
           "as a model to promote",
)


def dataset_picker(container=st) -> tuple[str, int] | None:
    """A selectbox over all versions bound to the active dataset (one state: picking here
    changes the sidebar in the same run, an import moves the picker)."""
    current = active_dataset()
    if current is None:
        return None
    versions = dataset_versions()
    options = list(zip(versions["name"], versions["version"].astype(int), strict=True))
    # Set before the widget is drawn: its own state then never lags the active dataset.
    st.session_state["dataset_picker"] = current
    return container.selectbox(
        "Dataset version", options, format_func=lambda o: f"{o[0]} v{o[1]}",
        key="dataset_picker", on_change=_picker_changed,
    )


def model_label(model_id: str) -> str:
    """How a model is shown in every picker (`registry.model_label`: aliases, dataset
    version, K, NPMI and date)."""
    return model_labels().get(model_id, model_id)


@st.cache_data(show_spinner=False, max_entries=4)
def _model_labels(generation: str) -> dict[str, str]:
    return {row["model_id"]: registry.model_label(row)
            for row in _models(generation).to_dict(orient="records")}


def model_labels() -> dict[str, str]:
    """Model id -> its picker label (`registry.model_label`: alias, dataset, K, NPMI, date)."""
    return _model_labels(generation())


def selectbox(label: str, options: list, *, key: str, format_func=str, index: int = 0,
              container=st, **kwargs):
    """`st.selectbox` for options whose labels change while the page is open (a topic gets
    a name, an alias moves to another model).

    Streamlit keeps a selectbox's choice as its *label*, so the browser would go on
    showing the old label. Here the widget's key carries a digest of the labels (new
    labels, new widget) and the chosen option is remembered under `key` itself, so the
    choice survives the change and the new label shows at once.
    """
    labels = "\x1f".join(str(format_func(o)) for o in options)
    digest = hashlib.sha1(labels.encode("utf-8")).hexdigest()[:10]
    chosen = st.session_state.get(key)
    if chosen in options:
        index = options.index(chosen)
    value = container.selectbox(label, options, index=index, format_func=format_func,
                                key=f"{key}@{digest}", **kwargs)
    st.session_state[key] = value
    return value


def follow_aliases(keys: tuple[str, ...], aliases: tuple[str | None, ...]) -> str | None:
    """Start the model pickers under `keys` (`selectbox` keys) again from their defaults
    when the aliases they default to (`aliases`: production, candidate) moved since the
    last run (a promotion here, on the CLI, by a pipeline). Compare's Model A and B kept
    the earlier picks after a promotion: A went on naming the replaced model, or A and B
    became one model. Returns a sentence saying the picks were reset (None: kept)."""
    seen = f"{keys[0]}:aliases"
    before = st.session_state.get(seen)
    st.session_state[seen] = tuple(aliases)
    if before is None or tuple(before) == tuple(aliases):
        return None
    picked = False
    for key in keys:
        picked |= st.session_state.pop(key, None) is not None
        for widget in [k for k in st.session_state if str(k).startswith(f"{key}@")]:
            del st.session_state[widget]
    if not picked:
        return None
    moved = [f"{name} is now {aliases[i] or 'no model'}"
             for i, name in enumerate(("production", "candidate")[:len(aliases)])
             if i < len(before) and before[i] != aliases[i]]
    return (f"The aliases moved ({', '.join(moved)}): the models picked here start again "
            "from production and the candidate.")


def kept(key: str, options: list | None = None) -> str:
    """`key`, for a widget whose value should outlive a visit to another page: Streamlit
    forgets the state of a widget a run does not draw, so Lookup lost its campaign (and
    pasted keywords) on a trip to the Map and back, and A/B its campaign. Each run copies
    the value under `key:kept` (no widget's key: Streamlit leaves it alone) and gives it
    back when the widget is drawn again, if it is still one of `options` (when given).
    For widgets drawn without a default (Streamlit warns when a default meets a value
    set here)."""
    copy = f"{key}:kept"
    if key in st.session_state:
        st.session_state[copy] = st.session_state[key]
    elif copy in st.session_state and (options is None or st.session_state[copy] in options):
        st.session_state[key] = st.session_state[copy]
    return key


def follow_stored(key: str, stored: str) -> None:
    """Start a text box (`key`) at a value stored in the store, and follow that value when
    it changes elsewhere (the CLI, another tab) unless the box holds something else
    already. A box set once kept what the page first read: saving it as shown put an old
    topic name back, or replaced a brand list with the one phrase typed into an empty box."""
    seen = f"{key}:stored"
    if key not in st.session_state or (stored != st.session_state.get(seen)
                                       and st.session_state[key] == st.session_state.get(seen)):
        st.session_state[key] = stored
    st.session_state[seen] = stored


def model_picker(label: str = "Model", key: str = "model_picker",
                 container=st) -> str | None:
    """A selectbox over registered models, production first, each with its label."""
    models = models_table()
    if models.empty:
        return None
    production = production_model_id()
    ids = sorted(models["model_id"], key=lambda m: m != production)
    return selectbox(label, ids, key=key, format_func=model_label, container=container)


def currency(name: str) -> str | None:
    """The currency of a dataset's cost (from its exports, else its setting), or None."""
    return datasets.currency(name)


def money_label(label: str, code: str | None) -> str:
    """'Cost (JPY)' when the currency is known, else 'Cost'."""
    return f"{label} ({code})" if code else label


def money_column(label: str, code: str | None):
    """A table column of amounts in `code`: labelled with it, thousands separators and
    the currency's decimals (Sony's JPY cost showed as 12345.00)."""
    return st.column_config.NumberColumn(money_label(label, code),
                                         format=currencies.money_format(code))


# Whole counts with thousands separators (Lookup's and Explore's clicks showed as 2337504
# beside costs' 2,547,311); conversions, which Google Ads reports in fractions (16.50 in
# the Sony exports), with its two decimals. CSV downloads keep the raw numbers.
COUNT = "%,d"
CONVERSIONS = "%,.2f"
COUNT_COLUMNS = ("clicks", "impressions", "terms")


def count_column(label: str | None = None):
    """A table column of whole counts, with thousands separators (`COUNT`)."""
    return st.column_config.NumberColumn(label, format=COUNT)


def count_columns(*others: str) -> dict:
    """`column_config` of a table's counts (`COUNT_COLUMNS` and `others`) and
    `conversions`."""
    return {**{c: count_column() for c in (*COUNT_COLUMNS, *others)},
            "conversions": st.column_config.NumberColumn(format=CONVERSIONS)}


def metric_columns(code: str | None) -> dict:
    """`column_config` of a table of campaign metrics: amounts in `code` and counts."""
    return money_columns(code) | count_columns()


def money_columns(code: str | None, **labels: str) -> dict:
    """`column_config` of a table's `cpc` and `cost` columns (and any others named in
    `labels`, column=label) as amounts in `code`."""
    return {column: money_column(label, code)
            for column, label in {"cpc": "CPC", "cost": "Cost", **labels}.items()}


def hover_format(column: str, code: str | None) -> str | bool:
    """How a chart's hover shows a campaign metric: rates in percent with two decimals
    (the Map's CTR hover read 0.0423), amounts as `money_axis`, others as they are."""
    if column in RATES:
        return ":.2%"
    if column in ("cpc", "cost"):
        return ":" + money_axis(code)
    return True


_BENCHMARK_VALUES = ("campaign_value", "neighbor_median")
# Evidence columns beside `metric_columns`' own: the neighbours' counts and conversions of
# a keyword idea, a benchmark's clicks, an n-gram's search terms, a cost per conversion.
_EVIDENCE_COUNTS = ("neighbors", "neighbor_clicks", "campaign_clicks", "search_terms",
                    "keywords")


def evidence_table(evidence: pd.DataFrame, code: str | None) -> tuple[pd.DataFrame, dict]:
    """An action's evidence rows as a table shows them, and their `column_config`: a
    benchmark's CTR or conversion rate in percent points as its reason and every other
    table show rates (it read 0.058 under "CTR 5.75% vs median 9.79%"), its CPC in the
    currency; amounts (`cost`, `cost_per_conversion`) as `money_columns`, counts and
    conversions as `count_columns` (a keyword idea's neighbour clicks read 1801 and a cost
    per conversion 19 beside 18.37), and every header in words (`neighbor clicks`, not
    `neighbor_clicks`; the CSV keeps the names)."""
    config = (metric_columns(code)
              | {"cost_per_conversion": money_column("Cost per conversion", code)}
              | {c: count_column(c.replace("_", " ")) for c in _EVIDENCE_COUNTS}
              | {"neighbor_conversions": st.column_config.NumberColumn(
                  "neighbor conversions", format=CONVERSIONS)})
    config |= {c: c.replace("_", " ") for c in evidence.columns if c not in config}
    metric = evidence["metric"].iloc[0] if "metric" in evidence and len(evidence) else None
    if metric in ("CTR", "conversion rate"):
        evidence = evidence.assign(**{c: evidence[c] * 100 for c in _BENCHMARK_VALUES
                                      if c in evidence})
        config |= {c: st.column_config.NumberColumn(c.replace("_", " "), format=PERCENT)
                   for c in _BENCHMARK_VALUES}
    elif metric == "CPC":
        config |= {c: money_column(c.replace("_", " "), code) for c in _BENCHMARK_VALUES}
    return export.export_frame(evidence), config


def money_axis(code: str | None) -> str:
    """Plotly's tick format of an axis of amounts in `code` (d3: ",.0f" for JPY)."""
    return f",.{currencies.minor_unit(code)}f"


RATES = ("ctr", "conversion_rate")


def as_percent_points(frame: pd.DataFrame, columns=RATES) -> pd.DataFrame:
    """A copy for display with rates in percent points, shown with `PERCENT` (the
    "percent" preset drops trailing zeros, so one column mixed 12.4% and 10.71%)."""
    present = [c for c in columns if c in frame]
    return frame.assign(**{c: frame[c] * 100 for c in present})


PERCENT = "%.2f%%"


def empty_columns(table: pd.DataFrame) -> list[str]:
    """Columns of a dataset's campaign table that hold no value at all (the account and
    label of exports that have neither, as Sony's; the metrics of a keyword list). Tables
    leave them out: they showed a whole column of "None". So is a count of search terms
    that is 0 for every campaign: the data has no search terms report (Sony's keyword
    reports showed a column of zeros)."""
    if table.empty:
        return []
    empty = table.columns[table.isna().all()].tolist()
    if "search_terms" in table and not table["search_terms"].fillna(0).any():
        empty.append("search_terms")
    return empty


ROW_PX = 35           # a row of st.dataframe, its header too
TABLE_ROWS = 15       # rows a long table shows before it scrolls


def table_height(rows: int, most: int = TABLE_ROWS) -> int | str:
    """A table's height: its content when it has at most `most` rows, else `most` rows
    and a scroll bar (the Audit log's fixed 600 px left a blank box under three entries;
    "content" grows up to 10,000 px, a thousand entries' page)."""
    return "content" if rows <= most else (most + 1) * ROW_PX + 3


NO_KNOWN_WORDS = " (no word the model knows)"


def campaign_labels(ids: pd.Series, names: pd.Series,
                    unknown: Collection[str] = frozenset(),
                    mark: str = NO_KNOWN_WORDS) -> dict[str, str]:
    """Campaign id -> how a campaign picker offers it: `id — name`, or the id alone when
    the name adds nothing (none, or the id itself: the Sony exports name every campaign
    by its id, offered as `akashi_brand — akashi_brand`, and one without a name was
    `C1 — `). Campaigns in `unknown` (the model knows no word of them) come last, with
    `mark`: Sony's `amuelind_brand` was offered among the others, as if its neighbours
    meant something, while the Map and Topics already set it apart."""
    ids, names, plain = _plain_names(ids, names)
    shown = ids.where(plain, ids + " — " + names)
    unknown = set(unknown)
    last = ids.isin(unknown)
    shown = shown.where(~last, shown + mark)
    order = list(ids[~last].index) + list(ids[last].index)
    return {ids[i]: shown[i] for i in order}


def _plain_names(ids: pd.Series, names: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Ids and stripped names as text, and where the name adds nothing to the id (none,
    blank, or the id itself): the one rule of pickers and tables."""
    ids = pd.Series(ids, dtype=object).astype(str).reset_index(drop=True)
    names = pd.Series(names, dtype=object).reset_index(drop=True).fillna("").astype(str)
    names = names.str.strip()
    return ids, names, (names == "") | (names == ids)


def names_adding_nothing(table: pd.DataFrame,
                         pairs=(("campaign_id", "campaign_name"),)) -> list[str]:
    """`["campaign_name"]` when that column says nothing `campaign_id` does not in any row
    shown (the rule of `campaign_labels`), else none: tables leave it out, as every Sony
    campaign showed its id twice, as `campaign` and `id`. Downloads keep it. `pairs`:
    (id column, name column) of tables with several (A/B's "A neighbour", "A name")."""
    if table.empty:
        return []
    return [name for id_column, name in pairs if {id_column, name} <= set(table.columns)
            and _plain_names(table[id_column].dropna(),
                             table.loc[table[id_column].notna(), name])[2].all()]


def count_axis(figure, largest: float, axis: str = "y"):
    """An axis of counts (campaigns) ticked at whole numbers when they are few: plotly
    ticked 0, 0.5, 1 … 3 campaigns on Sony's 16 (its own ticks are whole from about 20
    up). `largest`: the highest count the axis can reach."""
    if largest <= 20:
        figure.update_layout({f"{axis}axis": {"tick0": 0, "dtick": 1}})
    return figure


HEATMAP_MARGINS = 260  # px of an alignment chart outside its rows


def _rows_px(rows: int, a_title: str) -> int:
    """The rows' height: 22 px a row, and at least the A axis title's length (7 px a
    character at Plotly's 14 px font), which is drawn along them: at K = 3 (Sony) the
    rows were 66 px and the model id ran 230 px up over the chart's title."""
    return max(22 * rows, 7 * len(a_title))


def alignment_heatmap(js, names_a: list[str], names_b: list[str], model_a: str,
                      model_b: str, title: str) -> go.Figure:
    """Two models' topic alignment (rows A, columns B) as Compare and A/B draw it. Each
    axis and each hover names its model: two models of one data name their topics alike
    (Sony's `T1: 勤怠, 管理, 工数` in both), and the hover said only `x`, `y`, `z`. Every
    row is labelled (at 20 px a row, A/B labelled every other topic of a K = 50 model)
    and gets that height: the title, the slanted B labels and the axis names take about
    260 px, and a floor of 400 px left Sony's 8 rows 165 px between them."""
    heat = go.Figure(go.Heatmap(
        z=js, x=chart_text(names_b), y=chart_text(names_a), colorscale="Viridis_r",
        colorbar={"title": "JS distance"},
        hovertemplate="A: %{y}<br>B: %{x}<br>JS distance: %{z:.2f}<extra></extra>"))
    a_title = f"A: {chart_text([model_a])[0]}"
    heat.update_layout(height=HEATMAP_MARGINS + _rows_px(len(names_a), a_title), title=title)
    heat.update_yaxes(title_text=a_title, dtick=1)
    heat.update_xaxes(title_text=f"B: {chart_text([model_b])[0]}", dtick=1)
    return heat


def chart_text(values):
    """Labels and hover text as a Plotly chart should draw them: literally. Plotly reads a
    subset of HTML in them (<b>, <br>, <a href>), so an imported keyword, campaign or
    label, or a topic name, holding tags was drawn as markup or as a link. Escaped, it
    shows as typed (Plotly turns &lt; back into <). Takes a Series or a list; what is not
    text is left as it is."""
    def escape(value):
        return html.escape(value, quote=False) if isinstance(value, str) else value

    if isinstance(values, pd.Series):
        return values.map(escape)
    return [escape(v) for v in values]


_MARKDOWN_ALWAYS = re.compile(r"[\\`*\[\]<$~:]|(?<=:material)/|&(?=[#A-Za-z])")
_UNDERSCORES = re.compile(r"_+")
_BLOCK_START = re.compile(r"^([#>+=-]|\d+(?=[.)]))")


def markdown_text(value: object) -> str:
    """User or data text as Streamlit's markdown (st.markdown, captions, info boxes, toasts,
    expander labels) should show it: literally. A topic named `**x** [a](http://e)` was
    shown bold with a link; `:red[x]`, `:material/home:` and `$x$` were colour, an icon
    and maths. Each mark that can start such markup gets CommonMark's backslash escape
    (`_` only outside a word: `a_b` is never emphasis; the `/` of `:material/`, which
    Streamlit reads even after `\\:`), a line break becomes a space, and
    a list, heading or quote mark at the start is escaped too. Bare web and e-mail
    addresses are still linked by Streamlit, but only to the address they show."""
    return _block_start(_escaped(" ".join(str(value).splitlines()).strip()))


def message_text(value: object) -> str:
    """A message core wrote (an error, a refusal, a warning) as markdown: the names and
    values it quotes show as typed (`markdown_text`), and the commands and options it puts
    in backticks (`python -m core canary set 0`, `--force`) as code, as the CLI's readers
    see them; error boxes showed the backticks themselves. A code span shows its text
    literally, so only a pair of backticks around some text makes one (and not around
    `:material/…`, which Streamlit turns into an icon name even in code); a message with
    an odd number of them (a quoted name that holds one) is shown all as typed."""
    text = " ".join(str(value).splitlines()).strip()
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return markdown_text(text)

    def shown(i: int, part: str) -> str:
        if i % 2 == 0:  # between code spans
            return _escaped(part)
        if part.strip() and ":material/" not in part.lower():
            return f"`{part}`"
        return "\\`" + _escaped(part) + "\\`"

    return _block_start("".join(shown(i, part) for i, part in enumerate(parts)))


def _escaped(text: str) -> str:
    """`text` with every mark that could start inline markup escaped (`markdown_text`)."""
    text = _MARKDOWN_ALWAYS.sub(lambda m: "\\" + m.group(), text)
    return _UNDERSCORES.sub(_escape_underscores, text)


def _block_start(text: str) -> str:
    """`text` with a list, heading or quote mark at its start escaped."""
    return _BLOCK_START.sub(lambda m: m.group() + "\\" if m.group()[0].isdigit()
                            else "\\" + m.group(), text)


def _escape_underscores(run: re.Match) -> str:
    """A run of `_` between two letters or digits is no emphasis; any other is escaped."""
    text, start, end = run.string, run.start(), run.end()
    inside = (start > 0 and text[start - 1].isalnum()
              and end < len(text) and text[end].isalnum())
    return run.group() if inside else "\\_" * len(run.group())


def flash(message: str, icon: str = ":material/check_circle:") -> None:
    """A confirmation that survives `st.rerun()`: shown as a toast on the next run."""
    st.session_state.setdefault("_flashes", []).append((message, icon))


def show_flashes() -> None:
    """Show (once) the confirmations queued by `flash`; app.py calls this every run."""
    for message, icon in st.session_state.pop("_flashes", []):
        st.toast(message, icon=icon)


@st.cache_data(show_spinner=False, max_entries=16)
def gate_verdict(model_id: str, production_id: str | None) -> dict:
    """The pipeline's quality gate for replacing production (models never change, so the
    verdict of a pair can be cached), naming the page's controls."""
    from core.ops import gate
    return gate.verdict(model_id, production_id, controls=PAGE_CONTROLS).to_dict()


def empty_store_notice() -> None:
    st.info(
        "The store holds no data yet. Import a file on the **Explore** page, or run "
        "`python -m core init` to load the demo corpus."
    )


def no_models_notice() -> None:
    """For a page that needs a (production or scored) model: the step that comes next.
    "No model is trained yet" was shown over trained models that were not promoted, and
    named the demo dataset in a store without it."""
    active = active_dataset()
    if active is None:
        empty_store_notice()
        return
    trained = len(models_table())
    if not trained:
        st.info("No model is trained yet. Train one on the **Train** page or run "
                f"`python -m core train --dataset {shlex.quote(active[0])}`.")
        return
    st.info(f"{counted(trained, 'model')} {plural(trained, 'is', 'are')} trained, but none is in "
            "production yet. Promote one on the **Compare** page (promoting also scores "
            "it for Lookup and the Map), or run `python -m core promote MODEL_ID`.")


def production_or_stop() -> str:
    """The production model's id; without one, a friendly notice ends the page."""
    production = production_model_id()
    if production is None:
        no_models_notice()
        st.stop()
    return production


def login_configured() -> bool:
    """Streamlit's OIDC login is on when secrets.toml has an `[auth]` section."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def session_user() -> auth.User | None:
    """Who this session is right now: the local user without login, else the signed-in
    person with the role `[topiclab.roles]` gives them now; None when signed out or
    matching no role. Draws nothing (app.py says why there is no user). Raises
    IdentityError for a bad TOPICLAB_USER / TOPICLAB_ROLE, a bad e-mail or role map."""
    if not login_configured():
        return auth.local_user()
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    role = auth.role_for(email, st.secrets.get("topiclab", {}).get("roles", {}))
    return None if role is None else auth.User(str(email), role)


def as_user(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a widget callback that changes the store. Callbacks run before app.py names
    the user of the run, in a thread with no user: this one works out who the session is
    *now* (`session_user`), so a role taken away, or a sign-out, since the last run is
    not honoured; with no user core refuses the change (it never falls back)."""
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            user = session_user()
        except auth.IdentityError:
            user = None  # app.py's run that follows shows why
        if user is None:
            return callback(*args, **kwargs)
        with auth.use(user):
            return callback(*args, **kwargs)
    return run


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show a TopicLabError as an error box instead of a stack trace (`message_text`: it
    quotes names and values people typed or imported, and commands to run)."""
    try:
        yield
    except TopicLabError as err:
        st.error(message_text(err))


class StreamlitProgress:
    """A progress bar that core's long work reports to (done, total, message). Its text is
    markdown, and core's messages quote dataset names and the cells of warnings: they are
    shown as typed (`markdown_text`)."""

    def __init__(self, label: str) -> None:
        self.bar = st.progress(0.0, text=markdown_text(label))

    def __call__(self, done: int, total: int, message: str) -> None:
        self.bar.progress(min(1.0, done / total) if total else 1.0,
                          text=markdown_text(message))


def summary_cards(table: pd.DataFrame, currency_code: str | None = None) -> None:
    """Campaigns, terms and totals of a campaign table, '—' where the data has no metric."""
    def total(column: str) -> str:
        return f"{table[column].sum():,.0f}" if table[column].notna().any() else "—"

    # Whole units on the card, as every total: cents of a total in millions cut it to
    # "15,943,7…". The exact amount is in its help.
    spent = float(table["cost"].sum()) if table["cost"].notna().any() else None

    cards = st.columns(5)
    cards[0].metric("Campaigns", f"{len(table):,}")
    cards[1].metric("Terms", f"{int(table['terms'].sum()):,}")
    cards[2].metric("Impressions", total("impressions"))
    cards[3].metric("Clicks", total("clicks"))
    cards[4].metric(money_label("Cost", currency_code), total("cost"), help=None if spent is None
                    else f"Exactly {currencies.format_money(spent, currency_code)}")
