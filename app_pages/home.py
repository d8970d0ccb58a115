"""Home: what the store holds, which model is in production, and where to go next."""

import streamlit as st

import ui
from core.serve import registry

st.title("Topic Lab")
st.write(
    "Topic models over the keywords and search terms of your ad campaigns: a topic "
    "*fingerprint* for every campaign, its most similar campaigns, and suggested actions."
)

active = ui.active_dataset()
if active is None:
    ui.empty_store_notice()
    st.stop()

name, version = active
st.subheader(f"Dataset {ui.markdown_text(name)} v{version}")
with st.spinner(f"Loading {ui.markdown_text(name)} v{version}…"):
    table = ui.campaigns(name, version)
ui.summary_cards(table, ui.currency(name))

production = ui.production_model_id()
st.subheader("Production model")
if production is None:
    ui.no_models_notice()
else:
    record = registry.get(production)
    cards = st.columns(4)
    cards[0].metric("Model", record["engine"], help=production)
    cards[1].metric("Topics", record["k"])
    cards[2].metric("NPMI coherence", f"{record['metrics']['npmi']:.3f}")
    learned = registry.learned_on(registry.read_manifest(production))
    rebound = int(learned["version"]) != int(record["version"])   # its topics: another one
    cards[3].metric("Answers" if rebound else "Trained on",
                    f"{record['dataset']} v{record['version']}",
                    help=f"Rebound: its topics were learnt on v{learned['version']}."
                    if rebound else None)

st.subheader("Where next")
for target, label, icon in [
    ("lookup", "Look up a campaign: fingerprint, similar campaigns, suggested actions",
     ":material/travel_explore:"),
    ("explore", "Explore the corpus with charts and SQL, or import your own exports",
     ":material/table_view:"),
    ("train", "Train a model or sweep K", ":material/model_training:"),
    ("topics", "Inspect and name the topics", ":material/bubble_chart:"),
    ("monitor", "Check new data for drift", ":material/monitoring:"),
]:
    st.page_link(f"app_pages/{target}.py", label=label, icon=icon)
