"""pyLDAvis, offline: the chart's data from a model, and one self-contained HTML page.

pyLDAvis' own HTML loads d3 and LDAvis from a CDN, which renders blank without internet.
We inline the copies that ship inside the pyLDAvis wheel instead, and keep
`sort_topics=False` with `start_index=0` so the chart's topic numbers are the model's.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyLDAvis
from pyLDAvis import urls

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style>
<style>body{{margin:0;font-family:sans-serif;background:white}}</style>
</head><body>
<div id="ldavis" style="background-color:white;"></div>
<script>{d3}</script>
<script>{ldavis}</script>
<script>new LDAvis("#ldavis", {data});</script>
<script>
  // LDAvis draws at a fixed ~1,250 px; shrink it to the frame instead of clipping it.
  function fit() {{ document.body.style.zoom = Math.min(1, window.innerWidth / 1250); }}
  fit(); window.addEventListener("resize", fit);
</script>
</body></html>
"""


def _read(path: str) -> str:
    return Path(path).read_text("utf-8")


def prepare(topic_term: np.ndarray, doc_topic: np.ndarray, doc_lengths: Sequence[int],
            vocab: Sequence[str], term_frequency: Sequence[int], *, n_terms: int = 30):
    """pyLDAvis' PreparedData with topic ids equal to the model's (0-based, unsorted).

    Words no topic holds are left out: the dictionary is built over every campaign, the
    engine learns from the training part, so a word only held-out campaigns use has weight
    0 in every topic (3 words of the demo's K=50 model), and pyLDAvis took its log: "divide
    by zero encountered in log" on every Topics page. No topic can show such a word."""
    doc_lengths = np.asarray(doc_lengths)
    keep = doc_lengths > 0  # pyLDAvis divides by document length
    topic_term = np.asarray(topic_term, dtype=float)
    held = topic_term.max(axis=0) > 0
    return pyLDAvis.prepare(
        topic_term_dists=topic_term[:, held],
        doc_topic_dists=np.asarray(doc_topic, dtype=float)[keep],
        doc_lengths=doc_lengths[keep], vocab=[w for w, h in zip(vocab, held, strict=True) if h],
        term_frequency=np.maximum(np.asarray(term_frequency), 1)[held], R=n_terms,
        sort_topics=False, start_index=0, n_jobs=1,
    )


def to_html(prepared, title: str = "Topics") -> str:
    """A complete page with d3, LDAvis and its CSS inlined: no request leaves the machine."""
    data = prepared.to_json()
    # Keep `</script>` inside the JSON from closing the script element early.
    data = data.replace("</", "<\\/")
    json.loads(prepared.to_json())  # fail here, not in the browser, on broken data
    return _PAGE.format(
        title=html.escape(title), css=_read(urls.LDAVIS_CSS_LOCAL), d3=_read(urls.D3_LOCAL),
        ldavis=_read(urls.LDAVIS_LOCAL), data=data,
    )
