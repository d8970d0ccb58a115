"""Lookup: a campaign's fingerprint, its most similar campaigns and suggested actions."""

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core.data import auth, export
from core.errors import InputError, counted, plural
from core.model import actions, brand
from core.model.neighbors import MIN_SIMILARITY
from core.serve import brand_lists, keyword_files, registry, review, score
from core.serve.lookup import NEIGHBOR_COLUMNS


def _no_neighbours(min_terms: int, own_account_left_out: bool) -> str:
    """Why the table of neighbours is empty: the filters above (it showed no word why)."""
    if not min_terms and not own_account_left_out:
        return "No other campaign to compare with."
    why = (f"has at least {min_terms} terms" if min_terms else "is")
    why += " outside this campaign's account" if own_account_left_out else ""
    undo = ["lower *Neighbours need at least … terms*" if min_terms else "",
            "show the own account's campaigns" if own_account_left_out else ""]
    return f"No campaign {why}: {' or '.join(u for u in undo if u)}."


@st.cache_data(show_spinner="Reading the keyword file…", max_entries=4)
def _keywords_of_file(data: bytes, name: str) -> tuple[list[str], list[str], str | None]:
    """(keywords, notes, refusal) of an uploaded file, kept per file: every rerun (a
    slider move) read it again, and an export of many campaigns again to be refused."""
    try:
        return (*keyword_files.keywords_of_file(data, name), None)
    except InputError as err:
        return [], [], str(err)


st.title("Campaign lookup")

scored = ui.scored_model_ids()
if not scored:
    ui.no_models_notice()
    st.stop()


production = ui.production_model_id()
# Default: production when it was trained on the active dataset, else the newest scored
# model of the active dataset (a fresh import of Sony exports is looked up in Sony's own
# model), else production. The key carries the active dataset, so the default follows it.
active = ui.active_dataset()
models = ui.models_table().set_index("model_id")
of_active = [m for m in scored if active and (models.at[m, "dataset"],
                                              int(models.at[m, "version"])) == tuple(active)]
default = (production if production in of_active else of_active[0] if of_active
           else production if production in scored else scored[0])
with st.sidebar:
    model_id = ui.selectbox("Model", scored, index=scored.index(default),
                            key=f"lookup_model:{active}", format_func=ui.model_label,
                            help="Any batch-scored model can be used.")
with st.spinner("Loading the model, its fingerprints and its campaigns…"):
    lookup = ui.lookup(model_id)
topic_names = registry.topic_names(lookup.model)  # fresh: names may change after loading
st.caption(f"Campaigns of **{ui.markdown_text(lookup.dataset)} v{lookup.version}**, compared "
           f"by model {ui.markdown_text(ui.model_label(model_id))}.")
if active and (lookup.dataset, lookup.version) != tuple(active):
    st.caption(f"The active dataset is {ui.markdown_text(active[0])} v{active[1]}: pick "
               f"{' or '.join(f'`{m}`' for m in of_active)} under *Model* to look its "
               "campaigns up." if of_active else
               f"The active dataset is {ui.markdown_text(active[0])} v{active[1]}, which has no "
               "scored model "
               "yet: promote one (Compare) to look its campaigns up.")
money = ui.currency(lookup.dataset)

mode_key = ui.kept("lookup_mode")  # a default beside a value set in state: a warning
mode = st.segmented_control("Look up", ["Existing campaign", "New campaign"],
                            default=None if mode_key in st.session_state
                            else "Existing campaign", key=mode_key,
                            required=True) or "Existing campaign"  # never "no mode"
options = st.columns(4)
n = options[0].slider("Neighbours", 5, 50, 10)
min_similarity = options[1].slider(
    "Minimum similarity", 0.0, 1.0, MIN_SIMILARITY, 0.05, key="lookup_min_similarity",
    help=f"Suggested actions learn only from campaigns at least this similar. Default "
         f"{MIN_SIMILARITY:.2f}: on the demo, 90% of neighbours at or above it are the same "
         "kind of business (bench/similarity_floor.py).")
min_terms = options[2].number_input("Neighbours need at least … terms", 0, 500, 0)
# Data that names no account (the Sony exports): the toggle changed nothing, unexplained.
no_accounts = "account" in ui.empty_columns(lookup.campaigns)
exclude_account = options[3].toggle(  # a short label: a quarter-width column cut the long one
    "Other accounts only", disabled=mode != "Existing campaign" or no_accounts,
    help="Leave out the campaign's own account. The data names no account." if no_accounts
    else "Leave out the campaign's own account: neighbours from other advertisers only.")

result = None
with ui.friendly_errors():
    if mode == "Existing campaign":
        table = lookup.campaigns.reset_index()
        labels = ui.campaign_labels(table["campaign_id"], table["campaign_name"],
                                    lookup.fingerprints.without_known_words())
        campaign_id = st.selectbox("Campaign (type an id or part of a name)", list(labels),
                                   format_func=labels.get, index=None,
                                   # one of this dataset's own (a demo id on Sony's data)
                                   placeholder=f"e.g. {next(iter(labels), 'C00042')} …",
                                   key=ui.kept("lookup_campaign", list(labels)))
        if campaign_id:
            result = lookup.campaign(campaign_id, n, exclude_account=exclude_account,
                                     min_terms=int(min_terms),
                                     min_similarity=float(min_similarity))
    else:
        text = st.text_area("Keywords of the new campaign (one per line, or comma separated)",
                            height=140, key=ui.kept("lookup_keywords"),
                            # the data's own words (Sony's exports were shown the demo's)
                            placeholder="\n".join(lookup.example_keywords())
                            or "emergency plumber\nblocked drain\nwater heater repair")
        upload = st.file_uploader(
            "…or a file of them", key="lookup_keyword_file",
            type=ui.UPLOAD_TYPES,
            help="A Keyword Planner download or an export of one campaign (CSV, Excel: its "
                 "keyword column), or a list, one keyword per line. It is used instead of "
                 "the box above.")
        keywords = None
        if upload is not None:
            keywords, notes, refusal = _keywords_of_file(upload.getvalue(), upload.name)
            if refusal:
                raise InputError(refusal)
            for note in notes:
                st.caption(ui.markdown_text(note))
        elif text.strip():
            keywords = score.split_keywords(text)
        if keywords is not None:
            result = lookup.keywords(keywords, n, min_terms=int(min_terms),
                                     min_similarity=float(min_similarity))

if result is None:
    st.info("Pick a campaign, or switch to *New campaign* and paste its keywords."
            if mode == "Existing campaign" else  # it said "switch to" in that mode too
            "Paste the new campaign's keywords (the box's grey example shows the format), "
            "or switch to *Existing campaign* and pick one.")
    st.stop()

if result.fingerprint.knows_no_word:  # Sony's amuelind_brand: 8 bars of 0.125, unexplained
    st.warning("The model knows no word of this campaign: its fingerprint is the prior "
               "alone, the same weight on every topic, so its topics, its confidence and "
               "the neighbours found by them say nothing about it. The words and why each "
               "was not used are listed below; retrain with them kept, or review it.")
if result.fingerprint.hidden_share >= score.MOSTLY_HIDDEN:  # demo CRM campaigns: 100%
    st.info(f"{result.fingerprint.hidden_share:.0%} of this campaign is on spare topics the "
            "model keeps hidden (Topics lists them): the topics below describe only the "
            "rest, and its confidence is taken over them. Its similar campaigns are ranked "
            "by every topic, hidden ones included.")
fingerprint = result.fingerprint_frame(topic_names)
left, right = st.columns([2, 1])
chart = fingerprint.sort_values("weight").tail(12)
chart["name"] = ui.chart_text(chart["name"])
left.plotly_chart(px.bar(chart, x="weight", y="name", orientation="h", range_x=[0, 1],
                         title="Fingerprint: strongest topics", labels={"name": ""}),
                  width="stretch")
right.metric("Confidence (strongest topic)", f"{result.fingerprint.confidence:.2f}")
right.metric("Words the model does not use", f"{result.fingerprint.oov_share:.0%}",
             help="Never seen in the training data, or seen but dropped by the vocabulary "
                  "filter (in too few or too many campaigns).")
# a stored campaign's fingerprint keeps only the share: its words are read again
words = (result.fingerprint if result.campaign_id is None
         else lookup.unknown_of(result.campaign_id))
if words is not None and words.unknown_tokens:
    unknown = words.unknown_report()
    if unknown["never_seen"]:
        right.caption(f"Never seen in training ({unknown['never_seen_share']:.0%}): "
                      + ui.markdown_text(", ".join(unknown["never_seen"])[:300]))
    if unknown["dropped"]:
        right.caption(f"Seen but dropped by the vocabulary filter "
                      f"({unknown['dropped_share']:.0%}): "
                      + ui.markdown_text(", ".join(f"{w} ({why})" for w, why
                                                   in unknown["dropped"].items())[:300]))
if result.campaign_id:
    past = review.reviews_of(result.campaign_id, lookup.dataset)
    if not past.empty:
        latest = past.iloc[0]
        note = f" — {ui.markdown_text(latest['note'])}" if pd.notna(latest["note"]) else ""
        deleted = int(past["model_deleted"].sum())
        under = f" ({deleted} under a model since deleted)" if deleted else ""
        right.caption(f"Reviewed {len(past)}×{under}; latest: {latest['decision']}{note}")

st.subheader("Most similar campaigns")
if result.below_floor:
    shown = len(result.neighbors)
    st.caption(f"{result.below_floor} of the {shown} nearest campaigns "
               f"{plural(result.below_floor, 'has', 'have')} similarity "
               f"below {result.min_similarity:.2f} (*similar enough*: no): suggested actions "
               "do not learn from them.")
if result.neighbors.empty:
    st.info(_no_neighbours(int(min_terms), exclude_account and mode == "Existing campaign"))
elif not result.neighbors["similar_enough"].any():
    st.info(f"No campaign is similar enough (similarity ≥ {result.min_similarity:.2f}) to "
            "learn from.")
# Similarities as the answers give them (six decimals, core.jsonable): "%.3f" showed a
# neighbour at 0.2996 as 0.300, unticked under a 0.30 floor.
similarity = {c: st.column_config.NumberColumn(c.replace("_", " "), format="plain", help=why)
              for c, why in [("topic_similarity", "How alike the two fingerprints are"),
                             ("term_similarity", "How many rare words the campaigns share "
                              "(TF-IDF cosine)"),
                             ("vector_similarity", "How alike their words' meanings are "
                              "(word vectors learnt on this dataset), also for different "
                              "words"),
                             ("group_similarity", "How often the two fall in one group of "
                              "campaigns, with the graph of every campaign's nearest cut "
                              "into 2 to 64 groups (1: in one group at every size)")]}
hidden = set(ui.empty_columns(lookup.campaigns))  # no account in the data: no column of None
ids_only = bool(ui.names_adding_nothing(result.neighbors))  # Sony's: `campaign` was `id`
hidden.update(ui.names_adding_nothing(result.neighbors))  # then the id leads, pinned
order = [c for c in NEIGHBOR_COLUMNS if c in result.neighbors and c not in hidden]
order.insert(order.index("similarity") + 1, "similar_enough")
st.dataframe(ui.as_percent_points(result.neighbors), hide_index=True, column_order=order,
             column_config={
    "campaign_name": st.column_config.TextColumn("campaign", pinned=True),
    "campaign_id": st.column_config.TextColumn("id", pinned=ids_only),
    "similarity": st.column_config.ProgressColumn(
        "similarity", min_value=0.0, max_value=1.0, format="plain",
        help="What neighbours are ranked by: the blend 0.2 × topic + 0.4 × term + 0.4 × "
             "vector similarity, as 0.8 × blend + 0.2 × group similarity where the model "
             "has groups"),
    **similarity,
    "ctr": st.column_config.NumberColumn("CTR", format=ui.PERCENT),
    "conversion_rate": st.column_config.NumberColumn("Conv. rate", format=ui.PERCENT),
    **ui.metric_columns(money),
    "similar_enough": st.column_config.CheckboxColumn(
        "similar enough", help="At or above the minimum similarity: actions learn from it"),
})
# A download does not rerun the page (a rerun could swallow the next click).
st.download_button("Download neighbours (CSV)", export.csv_bytes(result.neighbors),
                   file_name=f"neighbours-{result.campaign_id or 'new'}.csv", mime="text/csv",
                   key="download_neighbours", on_click="ignore")

if result.campaign_id and not result.neighbors.empty and auth.current_user().can("feedback"):
    with st.expander("Was a suggested neighbour useful? Tell us"), st.form("feedback"):
        named = ui.campaign_labels(result.neighbors["campaign_id"],  # as every picker:
                                   result.neighbors["campaign_name"])  # bare ids were opaque
        neighbor = st.selectbox("Neighbour", result.neighbors["campaign_id"].tolist(),
                                format_func=named.get)
        useful = st.radio("Verdict", ["useful", "not useful"], horizontal=True)
        if st.form_submit_button("Send feedback"):
            with ui.friendly_errors():
                review.record_feedback(model_id, result.campaign_id, neighbor,
                                       useful == "useful")
                st.success("Thanks — recorded with this model's id.")
                st.toast("Feedback recorded.", icon=":material/check_circle:")

st.subheader("Suggested actions")
for note in result.suggestions.notes:
    st.caption(ui.markdown_text(note))  # they quote terms and topic names
if not result.suggestions.actions:
    st.info(result.suggestions.nothing_to_suggest(result.neighbors))
for action in result.suggestions.actions:
    with st.expander(f"**{ui.markdown_text(action.title)}** — "
                     f"{ui.markdown_text(action.reason)}"):
        shown, config = ui.evidence_table(action.evidence, money)
        st.dataframe(shown, hide_index=True, column_config=config)
st.download_button("Download actions (CSV)",
                   export.csv_bytes(actions.to_frame(result.suggestions.actions)),
                   file_name=f"actions-{result.campaign_id or 'new'}.csv", mime="text/csv",
                   key="download_actions", on_click="ignore")

if result.campaign_id:
    owner = lookup.brands.owner_of.get(result.campaign_id)
    if owner and auth.current_user().can("set_brands"):
        named = lookup.campaigns["campaign_name"].get(result.campaign_id)  # its spelling
        owner_label = brand.owner_label(owner, named)
        with (st.expander(f"Brand list of {ui.markdown_text(owner_label)}"),
              st.form("brand_list")):
            st.caption("Brand phrases of this advertiser that are in no account or campaign "
                       "name (products, old names, other spellings). Brand vs non-brand "
                       "checks use them first. Empty: names only.")
            ui.follow_stored(f"brand_list:{owner}", ", ".join(brand_lists.brand_list(owner)))
            text = st.text_input("Brand phrases (comma separated)", key=f"brand_list:{owner}")
            if st.form_submit_button("Save brand list"):
                with ui.friendly_errors():
                    # An emptied box clears the list (blank phrases alone are refused)
                    stored = brand_lists.set_brand_list(
                        owner, [p for p in text.split(",") if p.strip()])
                    lookup.forget_brands()  # the next answer reads the new list
                    st.success(ui.markdown_text(
                        f"Saved {counted(len(stored), 'phrase')} for {owner_label}: "
                        + (", ".join(stored) or "none (names only)")))
