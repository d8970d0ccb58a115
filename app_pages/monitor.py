"""Monitor: drift of each dataset version against the production model's training data."""

import shlex

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core.data import auth
from core.errors import counted, plural
from core.ops import drift
from core.serve import registry

st.title("Monitor drift")


def _shares(counts: list[int]) -> list[float]:
    """Each bin's share of the campaigns (all 0 when there are none)."""
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


production = ui.production_or_stop()
trained_on = registry.get(production)
learned = registry.learned_on(registry.read_manifest(production))   # rebound: another one
rebound = (f" (its topics learnt on v{learned['version']}, which drift is measured against)"
           if int(learned["version"]) != int(trained_on["version"]) else "")
st.caption(f"Production model {ui.markdown_text(ui.model_label(production))}, trained on "
           f"**{ui.markdown_text(trained_on['dataset'])} v{trained_on['version']}**{rebound}. "
           "Each measure has a threshold; crossing any of them recommends retraining.")

versions = ui.dataset_versions()
names = list(dict.fromkeys(versions["name"]))
dataset = st.selectbox("Dataset", names, index=names.index(trained_on["dataset"])
                       if trained_on["dataset"] in names else 0)
available = sorted(versions.loc[versions["name"] == dataset, "version"].astype(int))
version = st.selectbox("Version to check", available, index=len(available) - 1)

other_dataset = dataset != trained_on["dataset"]
if not auth.current_user().can("score"):
    st.caption("Your role may look at drift checks but not run them.")
elif other_dataset and not st.checkbox(
        f"Measure **{ui.markdown_text(dataset)}** against this model of "
        f"**{ui.markdown_text(trained_on['dataset'])}** anyway (it shows how unlike the "
        "datasets are, not how one moved)",
        key=f"drift_other_dataset:{production}:{dataset}"):  # never carried to another
    st.caption(f"The production model was trained on {ui.markdown_text(trained_on['dataset'])}"
               f", not {ui.markdown_text(dataset)}.")
elif st.button("Check drift", type="primary"):
    with ui.friendly_errors(), st.spinner("Scoring the version against the model…"):
        report = drift.check(dataset, version, production, other_dataset=other_dataset,
                             controls=ui.PAGE_CONTROLS)
        st.session_state["drift_report"] = report.to_dict()

report = st.session_state.get("drift_report")
# Only a check of this version against today's production: after a promotion (a
# pipeline, another tab) the last report measured the model production replaced.
if report and (report["dataset"], report["version"], report["model_id"]) == (
        dataset, version, production):
    (st.error if report["retrain_recommended"] else st.success)(report["verdict"])
    cards = st.columns(len(report["measures"]))
    for card, (name, m) in zip(cards, report["measures"].items(), strict=True):
        value = round(float(m["value"]), 3) + 0.0  # + 0.0: never "-0.000"
        card.metric(name.replace("_", " "), f"{value:.3f}",
                    delta=f"threshold {m['threshold']}", delta_color="off")
    left, right = st.columns(2)
    hist = report["confidence_histogram"]
    # Shares, not counts: the two hold different numbers of campaigns (16 and 11 of the
    # Sony exports), and counts made every bar of the smaller one look lower.
    frame = pd.DataFrame({"confidence": hist["bins"][:-1] + hist["bins"][:-1],
                          "share": _shares(hist["training"]) + _shares(hist["version"]),
                          "data": ["training data"] * len(hist["training"])
                          + [f"v{version}"] * len(hist["version"])})
    chart = px.bar(frame, x="confidence", y="share", color="data", barmode="group",
                   labels={"share": "share of campaigns"},
                   title="Fingerprint confidence (max topic weight)")
    chart.update_yaxes(tickformat=".0%")
    left.plotly_chart(chart, width="stretch")
    right.markdown("**New words that matter most**")
    if report["new_terms"]:
        right.dataframe(pd.DataFrame(report["new_terms"]), hide_index=True)
    else:
        right.caption("None: every word of this version was seen in the training data, "
                      "and none that its vocabulary dropped as too rare is common now.")

st.subheader("Over time")
with st.spinner("Reading the drift history…"):
    history = drift.history(dataset)
    others = drift.checks_of_other_models(dataset) if history.empty else {}
title = "Drift per dataset version, against the production model of the time"
if history.empty and others:
    count = sum(others.values())
    st.info(f"No check of **{ui.markdown_text(dataset)}** against the production model of "
            f"its time yet; {counted(count, 'check')} against "
            f"{'other models' if len(others) > 1 else 'another model'} "
            f"{plural(count, 'is', 'are')} recorded, shown below.")
    shown = registry.marked_deleted(others)
    chosen = ui.selectbox("Show the checks against", list(others), key="drift_history_model",
                          format_func=lambda m: shown[m] if shown[m] != m
                          else ui.model_label(m))
    history = drift.history(dataset, chosen)
    title = "Drift per dataset version, against the chosen model"
if history.empty:
    st.info(f"No drift checks recorded for {ui.markdown_text(dataset)} yet: pick a version "
            f"and check it, or run `python -m core drift --dataset {shlex.quote(dataset)}`.")
else:
    history = history.assign(model=history["model_id"].where(
        ~history["model_deleted"], history["model_id"].map(registry.deleted_label)))
    if history["model_deleted"].any():
        st.caption("Some checks were made against a model deleted since: they are kept as "
                   "the history of the data, marked *(deleted)*.")
    chart = px.line(history, x="version", y="value", color="measure", markers=True,
                    hover_data=["model"], title=f"{title} (dashed: thresholds)")
    # One dashed line per threshold value, named in the legend (highest first, as the lines
    # stand): measures that share a threshold (two at 0.15) printed their labels on top of
    # each other at the line's end.
    for threshold, group in reversed(list(history.groupby("threshold", sort=True))):
        chart.add_hline(y=threshold, line_dash="dash", opacity=0.4, showlegend=True,
                        name=f"{threshold:g}: {', '.join(dict.fromkeys(group['measure']))}",
                        legendgroup="thresholds", legendgrouptitle_text="thresholds")
    # Ticks at the versions checked and only there: with one version plotly ticked 0, 1
    # and 2, versions that do not exist (as Compare's K axis).
    chart.update_xaxes(tickmode="array", tickvals=sorted({int(v) for v in history["version"]}))
    st.plotly_chart(chart, width="stretch")
