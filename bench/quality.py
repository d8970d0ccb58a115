"""Topic quality on OCTIS BBC News next to the published figures: NPMI, diversity, seconds.

    .venv/bin/python -m bench.quality               # K = 10, 20, 50, every row
    .venv/bin/python -m bench.quality --k 20        # a subset of K
    .venv/bin/python -m bench.quality --quick       # K = 20, project defaults + OCTIS row
    .venv/bin/python -m bench.quality --k 20 --seeds 3 --engine tomotopy \\
        --param term_weight=one --param eta=0.01    # one extra variant, mean of 3 seeds
    .venv/bin/python -m bench.quality --dataset m10 --k 20 --seeds 3 --engine tomotopy \
        --param diversify=true --only-extra         # the diversity step (docs/benchmarks.md)

Rows: each engine with the project's defaults (core.model.engines.DEFAULTS) and gensim with
1 pass x 50 iterations, the OCTIS default that the BERTopic paper's LDA row used.
NPMI is gensim c_npmi on the top 10 words with the whole corpus as reference; TD is the
unique share of the top-10 words. Published rows are means over K = 10..50 (3 seeds
each) unless a K is given (BERTopic paper, arXiv:2203.05794, Table 1; `PUBLISHED_BBC`
below quotes them). Shared data: `TOPICLAB_SHARED_DATA`,
default `../shared/data` beside the repository. `--dataset m10` runs the short-document
OCTIS M10 corpus (titles, ~6 words; no published LDA figures) as a sanity check that
defaults do not only suit long news articles. `--dataset wands` runs 480 real Wayfair
search queries (~3 words each, one document per query) through the product's own text
pipeline, `--dataset wands-class` the same queries joined per product class (188
documents); both are tiny, the issue's other short-title corpus beside M10.
`--corpus PATH` runs a corpus of your own instead (`read_own`: an OCTIS folder, or a
CSV/TSV/Parquet/text file of one document per row), so that the defaults can be checked
on data they were never tuned on:

    .venv/bin/python -m bench.quality --corpus ~/titles.csv --k 20 --seeds 3 --quick

How the defaults were picked (BBC, K=20, 1000 Gibbs iterations unless said; NPMI / TD;
mean over the seeds listed; CPU seconds for 2 workers, wall is about half when the
machine is otherwise idle):

    tomotopy term weight, alpha, eta, alpha optimisation          NPMI    TD   seeds  cpu s
    ONE  alpha .1  eta .01  optim 10 (library default)           0.118  0.83   1      ~13
    ONE  alpha .1  eta .01  optim 0                              0.116  0.82   2      12
    ONE  ... optim 0, 2000 iterations                            0.124  0.84   1      27
    ONE  ... rm_top 5 / 10 (drop the most frequent words)        0.115 / 0.120  0.83 / 0.88  1
    ONE  eta .005 / .05; alpha .05 / .5                          0.110-0.116  0.78-0.83  1
    IDF  alpha .1  eta .01  optim 10 / optim 0                   0.084 / 0.102  0.93 / 0.94
    IDF  alpha .1  eta .05  optim 0                              0.106  0.94   3      14
    IDF  alpha .1  eta .07  optim 0                              0.104  0.92   3      13
    IDF  alpha .1  eta .1   optim 0   <- chosen                  0.125  0.93   5      14
         the same through core.model.engines (seeds 0-5, --seeds 6)     0.119  0.93   6      14
         the same, seeds 6-11                                     0.117  0.92   6      15
    IDF  alpha .1  eta .15  optim 0                              0.123  0.92   6      13
    IDF  alpha .1  eta .2   optim 0                              0.104  0.93   3      13
    IDF  eta .1, alpha .2 / optim 10 / 1500 iterations           0.115 / 0.108 / 0.107  1
    IDF  eta .05, 500 iterations                                 0.115  0.94   1      7
    IDF  eta .1, seeds 0-5 unless said (m10 = --dataset m10):
         alpha .05                                               0.121  0.92   6      14
         burn_in 300, optim 20                                   0.120  0.93   6      15
         eta .15 (re-measured through core.model.engines)              0.114  0.94   6      14
         1300 iterations                                         0.121  0.93   6      19
         burn_in 300, optim 20, 1300 iterations                  0.118  0.93   6      19
         burn_in 500, optim 50                                   0.118  0.93   6      14
         alpha .05, burn_in 300, optim 20                        0.123  0.92   6      15
           ... on m10: 0.030 / 0.78 (default 0.035 / 0.82): worse on short titles
         alpha .05, 1300 iterations (tie on seeds 6-11)          0.125  0.92   6      18
           ... seeds 6-11                                        0.117  0.93   6      19
           ... on m10: 0.041 / 0.82 (default 0.035 / 0.82)
    PMI  alpha .1  eta .01 / eta .1 / eta .2                     0.109 / 0.112 / 0.109  ~0.93
    gensim 10 passes: default / eta .01 / alpha+eta auto         0.073 / 0.071 / 0.074  ~0.76
    gensim 20 passes / asymmetric alpha                          0.079 / 0.065  0.76 / 0.77
    the default + spare_share 0.4 (8 spare topics at K=20, an option:
      docs/benchmarks.md, *Spare topics*)                        0.161  0.94   3      40
      ... the default in the same run                           0.131  0.92   3      39
      ... on m10: 0.074 / 0.84 (the default: 0.025 / 0.80)
    the default + tomotopy min_df at 1% of documents (23; the topic
      model's vocabulary only, stop 36, not adopted)                0.142  0.92   3      16
      ... the default in the same run                           0.131  0.92   3      16
      ... on m10 at 0.2% / 0.5%: 0.058 / 0.81, 0.079 / 0.79
    the best of two seeds at 650 iterations each, higher c_npmi kept
      (runs {0,1} {2,3} {4,5}; stop 37, not adopted)            0.127  0.92   3      19+3
      ... the default in the same run                           0.131  0.92   3      17
      ... on m10: 0.055 / 0.81 (the default: 0.025 / 0.80)
    the default + word priors from a deterministic NMF of the TF-IDF matrix (K
      components, NNDSVD, one BLAS thread, ~1 CPU s): each component's top 20
      words get eta x 3 in "its" topic (tomotopy set_word_prior, which also
      biases the initial assignments; stop 40, not adopted)      0.146  0.92   3      28+1
      ... top 30 words at eta x 10                              0.145  0.91   3      27+1
      ... top 10 words at eta x 10 (a later run, no default beside:
          seeds 0-2 0.152 / 0.151 / 0.150; M10 and neighbours not run)
                                                                0.151  0.91   3      35+1
      ... top 20 words at eta x 30 (the same later run)         0.154  0.91   3      34+1
      ... the default in the same run                           0.131  0.92   3      24
      ... on m10: -0.007 / 0.75 and 0.014 / 0.84 in 23 / 25 CPU s (the default:
          0.025 / 0.80 in 14 s: 1.7-1.8x the time); NMF alone BBC 0.200 / 0.885
      ... top 10 words at eta x 10 in the product's engine (optim_interval 0;
          the rows above left tomotopy's 10), bench/guided_start.py, the
          default in the same run, NMF in the CPU, stop 40: seeds 0-2
          0.162 / 0.156 / 0.151
                                                                0.157  0.91   3      29
      ... the default in that run                               0.131  0.92   3      25
      ... on m10: 0.037 / 0.82 in 9.4 CPU s (the default: 0.025 / 0.80 in 7.7);
          neighbours worse on BBC (blend 0.9466 -> 0.9450, seeds 0-2) and the
          demo (0.9903 -> 0.9898): not adopted (docs/benchmarks.md)
    the default with each word counted at most c times per document
      (burstiness cap, the topic model and its fold-in only; stop 40,
      not adopted: it lowers the neighbour answers, docs/benchmarks.md)
      c = 1 (a set of words)                                    0.127  0.96   3      18
      c = 2                                                     0.150  0.95   3      21
      c = 3                                                     0.149  0.93   3      26
      round(1 + ln count)                                       0.142  0.93   3      23
      ... the default in the same run                           0.131  0.92   3      25
      ... on m10: c = 1 0.042 / 0.80, c = 2 and log (the same tokens)
          0.046 / 0.81 (the default 0.025 / 0.80; 37 of 49,385 tokens differ
          at c = 2, so the gain is the sampler's chain, not the cap)
    the default's models with top words ranked by p(w|t) / idf(w)^g
      (the words shown only; stop 42, not adopted)
      g = 0.25                                                  0.141  0.90   3
      g = 0.5 / 1                                     0.133 / 0.118  0.87 / 0.80   3
      ranked by p(w|t) x idf(w)^0.25 / ^0.5           0.120 / 0.110  0.96 / 0.97   3
      ... the default in the same run                           0.131  0.92   3
    the default with its topic-word matrix averaged over every 20th
      iteration of the last 300 / 600 (stop 43, not adopted: BBC's
      neighbour blend 0.9479 -> 0.9469 / 0.9462, docs/benchmarks.md)
                                                    0.133 / 0.131  0.92 / 0.92   3      18
      ... the default in the same run                           0.131  0.92   3      18
      ... on m10: 0.036 / 0.79 and 0.031 / 0.79 (the default 0.025 / 0.80)

Seed-to-seed spread is wide (the chosen setting ranges 0.106-0.144 NPMI over seeds
0-11), as in the published LDA runs; compare bands, not single numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

from core.model.corpus import Corpus  # noqa: E402
from core.model.engines import DEFAULT_ENGINE, DEFAULTS, make_engine  # noqa: E402
from core.model.metrics import coherence, topic_diversity  # noqa: E402
from core.model.text import TextConfig  # noqa: E402

DATASETS = {"bbc": "octis_bbc_news", "m10": "octis_m10", "wands": "wands_queries",
            "wands-class": "wands_queries", "sony": "sony_okg_ad_keywords/keyword"}

# BERTopic paper (arXiv:2203.05794) Table 1, BBC News; LDA per K recomputed from its
# raw JSONs. (label, K or None for the mean over K=10..50, NPMI, TD)
PUBLISHED_BBC = [
    ("published LDA (OCTIS)", None, 0.014, 0.577),
    ("published LDA (OCTIS)", 10, 0.0305, 0.6733),
    ("published LDA (OCTIS)", 20, 0.0182, 0.5950),
    ("published LDA (OCTIS)", 50, 0.0055, 0.5160),
    ("published CTM", None, 0.094, 0.819),
    ("published BERTopic-MPNET", None, 0.167, 0.794),
]


def shared_data() -> Path:
    """The shared data folder, defined once for tests and benches: `TOPICLAB_SHARED_DATA`
    or `../shared/data` beside the repository (tests/conftest.py)."""
    from tests.conftest import SHARED_DATA
    return SHARED_DATA


TEXT_COLUMNS = ("text", "title", "document", "query", "term", "keyword")


def read_own(path: str | Path) -> tuple[list[str], list[str] | None, bool]:
    """(texts, labels or None, already tokenised) of a corpus of your own.

    A folder is OCTIS's layout (`corpus.tsv`: tokenised text, split, label); a file holds
    one document per row: Parquet, CSV or TSV (by its suffix, with a header row) with a
    text column (the first of `TEXT_COLUMNS` found, in any case, else its only column) and
    an optional `label` column, or plain text (`.txt`), one document per line, without
    labels. Raw text goes through the product's own text pipeline."""
    path = Path(path).expanduser()
    source = path / "corpus.tsv" if path.is_dir() else path
    if not source.is_file():
        raise SystemExit(f"{source}: " + ("not a regular file (a device or a pipe)"
                                          if source.exists() else "no such file") + (
            " (a folder is read in OCTIS's layout, its corpus.tsv)" if path.is_dir() else ""))
    try:
        texts, labels, tokenised = _read_documents(path, source)
    except (ValueError, OSError) as err:  # pandas' EmptyDataError and ParserError, decoding
        raise SystemExit(f"{source.name}: not readable as a corpus: {err}") from None
    if not any(text.strip() for text in texts):
        raise SystemExit(f"{source.name}: no documents")
    return texts, labels, tokenised


def _read_documents(path: Path, source: Path) -> tuple[list[str], list[str] | None, bool]:
    import pandas as pd

    if path.is_dir():
        frame = pd.read_csv(source, sep="\t", header=None, quoting=3, keep_default_na=False,
                            dtype=str)
        return frame[0].tolist(), (frame[2].tolist() if frame.shape[1] > 2 else None), True
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [line.rstrip("\r\n") for line in path.open(encoding="utf-8")], None, False
    frame = (pd.read_parquet(path) if suffix == ".parquet" else
             pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                         keep_default_na=False))
    by_name = {str(c).strip().lower(): c for c in frame.columns}
    text = next((by_name[c] for c in TEXT_COLUMNS if c in by_name),
                frame.columns[0] if len(frame.columns) == 1 else None)
    if text is None:
        raise SystemExit(f"{path.name}: no text column. Columns found: "
                         f"{', '.join(map(str, frame.columns))}. Name it one of "
                         f"{', '.join(TEXT_COLUMNS)}.")
    labels = frame[by_name["label"]].astype(str).tolist() if "label" in by_name else None
    return frame[text].fillna("").astype(str).tolist(), labels, False


def load_corpus(dataset: str = "bbc", text: dict | None = None,
                own: str | Path | None = None) -> Corpus:
    """The benchmark corpus `dataset`, every split, as one corpus.

    OCTIS corpora (bbc, m10) are text, split, label, already tokenised. WANDS
    (`wands_queries/query.csv`, tab-separated: query_id, query, query_class) is raw
    English and goes through the product's own text pipeline: `wands` is one document
    per search query (~3 words), `wands-class` one per product class, its queries joined
    (the "ad group" reading of its PROVENANCE; rows without a class left out). `sony` is
    the 16 real Google Ads keyword reports, read and tokenised as an import trains them
    (one campaign per file, Japanese and English terms, the default text settings).
    `text`: TextConfig overrides, e.g. {"bigrams": True} (phrases change the vocabulary,
    so NPMI is then measured over phrase tokens, not the published word list).
    `own`: a corpus of your own instead (`read_own`)."""
    # Word similarity and vectors are for neighbours only and do not change topics.
    overrides = {"soft_terms": False, "word_vectors": False, **(text or {})}
    if own is not None:
        texts, _, tokenised = read_own(own)
        if not tokenised:
            return Corpus.from_texts(texts, config=TextConfig(**overrides))
        return Corpus.from_texts(texts, config=_octis_config(overrides))
    path = shared_data() / DATASETS[dataset]
    if dataset == "sony":
        from core.data import readers

        return Corpus.from_frame(readers.read_paths([path]).frame, TextConfig(**overrides))
    if dataset.startswith("wands"):
        import pandas as pd

        frame = pd.read_csv(path / "query.csv", sep="\t", dtype=str, keep_default_na=False)
        if dataset == "wands-class":
            frame = (frame[frame["query_class"] != ""].groupby("query_class")["query"]
                     .agg(" ; ".join).reset_index())
        return Corpus.from_texts(frame["query"].tolist(), config=TextConfig(**overrides))
    texts = [line.rstrip("\n").split("\t")[0]
             for line in (path / "corpus.tsv").open(encoding="utf-8")]
    return Corpus.from_texts(texts, config=_octis_config(overrides))


def _octis_config(overrides: dict) -> TextConfig:
    """OCTIS already filtered the vocabulary; keep it exactly (published figures use it)."""
    return TextConfig(pretokenized=True, no_below=1, no_above=1.0, keep_n=10**6, **overrides)


def rows(quick: bool, extra: tuple[str, dict] | None) -> list[tuple[str, str, dict]]:
    """(label, engine, params) of every row to run."""
    default_first = sorted(DEFAULTS, key=lambda name: name != DEFAULT_ENGINE)
    out = [(f"{name} (project default)", name, {}) for name in default_first]
    if quick:
        out = out[:1]
    out.append(("gensim 1 pass x 50 it (OCTIS)", "gensim", {"passes": 1, "iterations": 50}))
    if extra:
        name, params = extra
        out.append((f"{name} {json.dumps(params)}", name, params))
    return out


def run_one(corpus: Corpus, name: str, params: dict, k: int, seed: int) -> dict:
    engine = make_engine(name, **{**params, "k": k, "seed": seed})
    started = time.perf_counter()
    cpu_started = time.process_time()
    engine.fit(corpus)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    top = engine.topics(10)
    started = time.perf_counter()
    npmi = coherence(top, corpus, "c_npmi")
    return {"npmi": npmi, "td": topic_diversity(top), "seconds": seconds, "cpu": cpu,
            "npmi_seconds": time.perf_counter() - started}


def parse_param(text: str) -> tuple[str, object]:
    key, _, raw = text.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, action="append", help="number of topics (repeatable)")
    parser.add_argument("--quick", action="store_true", help="K=20, default engine + OCTIS row")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per cell (mean reported)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="bbc")
    parser.add_argument("--corpus", metavar="PATH",
                        help="a corpus of your own instead of --dataset: an OCTIS folder, or "
                             "a CSV/TSV/Parquet/.txt file, one document per row")
    parser.add_argument("--engine", choices=sorted(DEFAULTS), help="add a row for this engine")
    parser.add_argument("--param", action="append", default=[],
                        help="KEY=VALUE (JSON) override for the --engine row")
    parser.add_argument("--only-extra", action="store_true", help="run only the --engine row")
    parser.add_argument("--text", action="append", default=[],
                        help="KEY=VALUE (JSON) TextConfig override, e.g. bigrams=true")
    args = parser.parse_args(argv)

    ks = args.k or ([20] if args.quick else [10, 20, 50])
    extra = (args.engine, dict(parse_param(p) for p in args.param)) if args.engine else None
    plan = rows(args.quick, extra)
    if args.only_extra and extra:
        plan = plan[-1:]

    started = time.perf_counter()
    corpus = load_corpus(args.dataset, dict(parse_param(p) for p in args.text), args.corpus)
    name = Path(args.corpus).name if args.corpus else args.dataset
    published = args.dataset == "bbc" and not args.corpus
    print(f"{name} {args.text or ''}: {len(corpus)} documents, "
          f"{len(corpus.dictionary)} words, "
          f"loaded in {time.perf_counter() - started:.1f} s; {args.seeds} seed(s) per cell")
    header = (f"{'K':>3}  {'model':<52} {'NPMI':>7} {'TD':>6} {'train s':>8} {'cpu s':>6} "
              f"{'NPMI s':>6}")
    print(header)
    print("-" * len(header))
    for k in ks:
        for label, name, params in plan:
            runs = [run_one(corpus, name, params, k, seed) for seed in range(args.seeds)]

            def mean(key: str, runs=runs) -> float:
                return statistics.fmean(r[key] for r in runs)

            values = [r["npmi"] for r in runs]
            spread = f"  NPMI {min(values):.3f}..{max(values):.3f}" if len(runs) > 1 else ""
            print(f"{k:>3}  {label:<52} {mean('npmi'):>7.4f} {mean('td'):>6.3f} "
                  f"{mean('seconds'):>8.1f} {mean('cpu'):>6.1f} {mean('npmi_seconds'):>6.1f}"
                  f"{spread}", flush=True)
        if published:
            for label, pk, npmi, td in PUBLISHED_BBC:
                if pk == k:
                    print(f"{k:>3}  {label:<52} {npmi:>7.4f} {td:>6.3f}")
    if published:
        for label, pk, npmi, td in PUBLISHED_BBC:
            if pk is None:
                print(f"{'all':>3}  {label + ' (mean K=10..50)':<52} {npmi:>7.4f} {td:>6.3f}")


if __name__ == "__main__":
    main()
