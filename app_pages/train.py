"""Train: one model or a sweep over K × seeds, with live progress and cancellation."""

from dataclasses import replace

import streamlit as st

import ui
from core.data import auth, datasets
from core.errors import InputError, counted, plural
from core.model import spark_session
from core.model.engines import DEFAULTS, ENGINES, SETTINGS, Setting
from core.model.text import LANGUAGE_NAMES, LANGUAGES, WEIGHTINGS, parse_stopwords
from core.ops import carry, sweep, train
from core.serve import registry


def _starting_at(key: str, value):
    """Start the keyed widget `key` at `value` unless it holds a value already, through
    Session State, which the browser is told of. Deleting the key and passing `value` as
    the widget's default (as `_start_settings_from` did alone) left the browser showing the
    previous dataset's value: demo's K = 50 on a dataset of 94 campaigns, judged by the
    page as its K = 20 (no warning) and sent back as 50 by the click on Start."""
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def _setting_input(container, setting: Setting, value, key: str):
    """The widget of one engine setting (`core.model.engines.SETTINGS`), starting at `value`."""
    value = setting.resolve(value)
    common = {"help": setting.help}
    if setting.kind in ("int", "float"):  # a saved recipe outside the form's bounds: clamped
        kind = int if setting.kind == "int" else float
        low, high = kind(setting.low), kind(setting.high)
        return container.number_input(setting.label, low, high,
                                      key=_starting_at(key, min(max(kind(value), low), high)),
                                      step=kind(setting.step) if setting.step else None,
                                      format=setting.format, **common)
    if setting.kind == "bool":
        return container.toggle(setting.label, key=_starting_at(key, bool(value)), **common)
    if setting.kind == "choice":
        choices = list(setting.choices)
        return container.selectbox(
            setting.label, choices,
            key=_starting_at(key, value if value in choices else choices[0]), **common)
    return container.text_input(setting.label, key=_starting_at(key, value), **common)


_RECIPE_KEYS = {"train_k", "train_fit_k", "train_ks", "train_word_vectors", "train_stopwords",
                "train_spark_sample"}


def _start_settings_from(dataset: str) -> None:
    """The settings widgets are keyed, so what was typed survives reruns, and they start
    from the dataset's saved recipe: after another dataset is picked they start again from
    that one's (they kept the previous dataset's K and iterations)."""
    if st.session_state.get("train_settings_of") == dataset:
        return
    engine_keys = tuple(f"train_{engine}_" for engine in ENGINES)
    for key in [k for k in st.session_state if k in _RECIPE_KEYS or k.startswith(engine_keys)]:
        del st.session_state[key]
    st.session_state["train_settings_of"] = dataset


st.title("Train")

picked = ui.dataset_picker()
if picked is None:
    ui.empty_store_notice()
    st.stop()
name, version = picked
_start_settings_from(name)
if not auth.current_user().can("train"):
    st.warning("Your role may look at models but not train them.")
    st.stop()

# A run that was interrupted by a click (the Cancel button, or any widget) never reaches
# the line that clears this flag: the next run reports it.
if st.session_state.pop("training_started", False):
    st.warning("Training was cancelled: the run in progress was not saved (a sweep keeps "
               "the runs it had finished; see Compare).")

# Start from how this dataset is trained (its production model's recipe), else defaults.
saved = train.saved_settings(name, version)
with st.expander("Text settings", expanded=False):
    left, right = st.columns(2)
    languages, weightings = list(LANGUAGES), list(WEIGHTINGS)
    language = left.selectbox("Language", languages,
                              index=languages.index(saved.text.language),
                              format_func=LANGUAGE_NAMES.__getitem__,
                              help="Detected: Japanese when enough of the text is kana or "
                                   "kanji, else the language whose words cover the text "
                                   "best (English unless another clearly does).")
    weight_by = left.selectbox("Weight terms by", weightings,
                               index=weightings.index(saved.text.weight_by),
                               format_func=lambda v: v or "nothing (every term once)")
    bigrams = left.toggle("Join frequent word pairs (bigrams)", value=saved.text.bigrams)
    word_vectors = left.toggle(
        "Word vectors for similar campaigns",
        key=_starting_at("train_word_vectors", saved.text.word_vectors),
        help="Learn word2vec vectors on this dataset, so that similar campaigns also match "
             "words of alike meaning (\"urgent\" and \"emergency\" plumber). Adds word2vec "
             "to training (about 6 s on the 3,000 demo campaigns, 15 s on a million words); "
             "lifted neighbour precision on every corpus measured.")
    no_below = right.number_input("Keep words in at least … campaigns", 1, 1000,
                                  saved.text.no_below)
    no_above = right.slider("…and at most this share of campaigns", 0.05, 1.0,
                            float(saved.text.no_above), 0.05)
    stopwords = right.text_input(
        "Extra stop words (comma separated)",
        key=_starting_at("train_stopwords", ", ".join(saved.text.extra_stopwords)))
    refused = None
    try:
        extra_stopwords = parse_stopwords(stopwords)
    except InputError as err:  # the typed words stay in their box, to be corrected
        extra_stopwords, refused = (), err
    text = replace(saved.text, language=language, weight_by=weight_by, bigrams=bigrams,
                   word_vectors=word_vectors,
                   no_below=int(no_below), no_above=float(no_above),
                   extra_stopwords=extra_stopwords)
if refused:  # below the settings, so it shows when they are folded away; nothing trains
    st.error(ui.message_text(refused))
    st.stop()

engines = sorted(ENGINES)
engine = st.selectbox("Engine", engines, index=engines.index(saved.engine),
                      help="tomotopy (Gibbs sampling) is the default: on BBC News it gave "
                           "clearly more coherent topics than gensim in the same time. "
                           "btm (biterm topic model) learns from word pairs: more coherent "
                           "topics on short titles, but more top words shared between them.")
campaign_count = int(datasets.get(name, version).campaigns)
defaults = {**DEFAULTS[engine], **(saved.params if engine == saved.engine else {}),
            "k": saved.k if engine == saved.engine else train.fitting_k(DEFAULTS[engine]["k"],
                                                                        campaign_count)}
mode = st.segmented_control("What to run", ["One model", "Sweep"], default="One model",
                            key="train_mode", required=True)
# A dataset no one chose a K for is fitted as the pipeline and `train` fit it
# (`train.train_fitted`); a promotion saves the K, which is then kept.
fit_k = mode != "Sweep" and st.toggle(
    "Fit K to the data", key=_starting_at("train_fit_k", not train.has_saved_settings(name)),
    help="Start from the K the campaigns and words hold (3 campaigns and 10 words per topic, "
         "at most the engine's default) and train again at 2/3 of it while the topics "
         "repeat each other's top words (diversity below the floor the gate holds models "
         "to). Off: train exactly the K given.")

settings = SETTINGS[engine]
# K, the settings and (Spark) the metrics sample, four to a row
slots = 1 + len(settings) + (engine == "spark")
cols = [column for _ in range(0, slots, 4) for column in st.columns(4)]
params: dict = {}
if engine == "spark":
    try:
        spark_session.check_available()
    except spark_session.SparkUnavailable as err:
        st.warning(ui.message_text(err))
for column, setting in zip(cols[1:], settings, strict=False):  # as many columns or more
    params[setting.name] = _setting_input(column, setting, defaults[setting.name],
                                        key=f"train_{engine}_{setting.name}")
if engine == "spark":  # a TrainSpec setting, not an engine one
    sample = cols[1 + len(settings)].number_input("Metrics sample (campaigns)", 100, 10_000_000,
                                  step=1000,
                                  key=_starting_at("train_spark_sample", train.TrainSpec.sample),
                                  help="Coherence and perplexity are measured on this many "
                                       "campaigns when the dataset has more.")

if mode == "Sweep":
    suggested = sweep.suggested_ks(int(defaults["k"]), campaign_count)
    ks = cols[0].multiselect("K values", sorted({5, 8, 10, 12, 15, 20, 25, 30, 40, 50,
                                                 *suggested}),
                             key=_starting_at("train_ks", suggested))
    seeds = st.slider("Seeds per K (for stability)", 1, 5, 2, key="train_seeds")
    st.caption(f"{len(ks) * seeds} runs. Objective: {sweep.OBJECTIVE}.")
else:
    k = cols[0].number_input("Topics (K)", train.MIN_K, train.MAX_K, disabled=fit_k,
                             key=_starting_at("train_k", defaults["k"]),
                             help="With Fit K to the data on: the most it starts from.")
    params["seed"] = st.number_input("Seed", 0, 10_000, 0)

# Warn before training when K is large for the data (core.ops.train.size_warnings).
largest_k = max(ks, default=0) if mode == "Sweep" else int(k)
# In a placeholder: the result repeats them (counted on the words kept), so they are
# cleared once training ends (the page showed the K warning twice).
before_start = st.empty()
with before_start.container():
    for warning in train.size_warnings(largest_k, campaign_count):
        st.warning(ui.message_text(warning), icon=":material/warning:")

run = st.button("Start", type="primary", key="train_start")
if run and mode == "Sweep" and not ks:  # before the run starts: nothing to cancel
    st.error("Pick at least one K.")
    st.stop()
if run:
    # Hidden once training ends: it stayed under "Done." as if something still ran.
    cancel = st.empty()
    cancel.button("Cancel", help="Stops training; nothing is saved.")
    spec = train.TrainSpec(dataset=name, version=version, engine=engine, params=params,
                           text=text, **({"k": int(k)} if mode != "Sweep" else {}),
                           **({"sample": int(sample)} if engine == "spark" else {}))
    progress = ui.StreamlitProgress("Starting…")
    st.session_state["training_started"] = True
    with ui.friendly_errors():
        if mode == "Sweep":
            result = sweep.sweep(spec, ks, seeds=range(seeds), progress=progress)
            progress(1, 1, "Done.")
            st.session_state.pop("training_started", None)
            st.success(f"Sweep {result.sweep_id}: {len(result.runs)} models trained.")
            st.markdown(f"**Chosen model:** `{result.best_model_id}` — {result.explanation}")
            st.dataframe(result.table, hide_index=True)
        else:
            result = (train.train_fitted if fit_k else train.train)(spec, progress)
            progress(1, 1, "Done.")
            st.session_state.pop("training_started", None)
            before_start.empty()
            seconds = (sum(t["seconds"] for t in result.tries) if result.tries
                       else sum(result.timings.values()))   # every model tried
            st.success(f"Trained `{result.model_id}` (K = {result.k}, "
                       f"{LANGUAGE_NAMES.get(result.language, result.language)} text) "
                       f"in {seconds:.1f} s.")
            if result.tries:
                st.caption("K tried: " + " → ".join(
                    f"{t['k']} (diversity {t['diversity']:.2f}"
                    f"{', kept' if t['model_id'] == result.model_id else ''})"
                    for t in result.tries) + ". The others stay on Compare, unaliased, "
                    "marked with the model kept instead.")
            if engine == "spark":
                ran = registry.load(result.model_id).engine.fit_info_
                st.caption(f"Ran on Spark {ran.get('spark_version')} at `{ran.get('master')}` "
                           f"({ran.get('parallelism')} cores, {ran.get('documents'):,} "
                           "campaigns); metrics on a sample of "
                           f"{result.metrics.get('metrics_documents'):,}.")
            m = result.metrics
            cards = st.columns(4)
            cards[0].metric("NPMI", f"{m['npmi']:.3f}")
            cards[1].metric("Diversity", f"{m['diversity']:.2f}")
            cards[2].metric("c_v", f"{m['c_v']:.3f}")
            cards[3].metric("Perplexity", f"{m['perplexity']:.0f}" if m["perplexity"] else "—")
            for warning in result.warnings:
                st.warning(ui.message_text(warning), icon=":material/warning:")
            st.session_state["trained_model"] = result.model_id
        st.page_link("app_pages/compare.py", label="Compare runs and promote one",
                     icon=":material/compare_arrows:")
    st.session_state.pop("training_started", None)
    cancel.empty()

# After training: offer to carry the production model's topic names to the new model's
# matching topics (core.ops.carry; the pipeline does the same on its own).
trained = st.session_state.get("trained_model")
production = ui.production_model_id()
if trained and production and trained != production:
    with ui.friendly_errors():
        same_data = registry.get(trained)["dataset"] == registry.get(production)["dataset"]
        named = len(registry.topic_labels(production))
        if same_data and named:
            st.subheader("Topic names")
            st.caption(f"Production ({ui.markdown_text(ui.model_label(production))}) has "
                       f"{named} named {plural(named, 'topic')}. Carry "
                       f"{plural(named, 'it', 'them')} to the matching topics of `{trained}` "
                       f"(Jensen–Shannon distance ≤ {carry.MAX_JS}); they stay marked as "
                       "carried until someone confirms them on the Topics page.")
            if st.button("Carry names from production", key="carry_names"):
                report = carry.carry_labels(production, trained)
                st.session_state.pop("trained_model", None)
                new = len(report.new_topics)
                ui.flash(f"{counted(len(report.carried), 'name')} carried; "
                         f"{len(report.not_carried)} had no close match; "
                         f"{counted(new, 'topic')} of the new model "
                         f"{plural(new, 'is', 'are')} new.")
                st.rerun()
