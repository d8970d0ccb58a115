"""A tokenised corpus: one document per campaign, its vocabulary and bag-of-words.

Documents are held as in-memory lists, not streamed gensim-style: the corpora here
(thousands of campaigns of up to a few hundred keywords) fit in memory many times over,
and every engine and metric needs several passes over them anyway.

Term weighting (`TextConfig.weight_by`): with "impressions" or "clicks", each keyword's
tokens are repeated round(1 + log1p(x)) times in the bag-of-words (x missing or negative
counts as 0), so a keyword that served 1,000 times weighs about 8 times one that never
served, instead of 1,000 times. `tokens` stays unweighted: it is the text itself, used
as the reference for coherence.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data.columns import lacking_columns
from core.errors import InputError, counted, plural
from core.model import campaign_vectors, npz, term_vectors
from core.model.engines import bow_matrix
from core.model.text import TextConfig, Tokenizer, check_numbers

if TYPE_CHECKING:
    from gensim.corpora import Dictionary

Bow = list[tuple[int, int]]


class CampaignRows:
    """Term rows grouped by campaign: ids in first-seen order, and per row its campaign's
    position, its text and how many times its tokens count (see `TextConfig.weight_by`)."""

    def __init__(self, ids: list[str], positions: Sequence[int], terms: Sequence[str],
                 repeats: Sequence[int]) -> None:
        self.ids, self.positions, self.terms, self.repeats = ids, positions, terms, repeats

    def documents(self, tokenizer: Tokenizer) -> tuple[list[list[str]], list[list[str]]]:
        """(tokens, weighted tokens) per campaign; each distinct term is tokenised once."""
        term_codes, unique_terms = pd.factorize(pd.Series(self.terms, dtype="str"))
        positions = np.asarray(self.positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")  # rows by campaign, in row order
        bounds = np.searchsorted(positions[order], np.arange(len(self.ids) + 1)).tolist()
        with gc_paused():
            per_term = tokenizer.tokenize_terms(unique_terms.tolist())
            rows = term_codes[order].tolist()
            tokens = [list(itertools.chain.from_iterable(map(per_term.__getitem__, rows[a:b])))
                      for a, b in itertools.pairwise(bounds)]
            repeats = np.asarray(self.repeats, dtype=np.int64)
            if (repeats == 1).all():
                return tokens, tokens
            reps = repeats[order].tolist()
            weighted = [list(itertools.chain.from_iterable(
                per_term[t] * r for t, r in zip(rows[a:b], reps[a:b], strict=True)))
                for a, b in itertools.pairwise(bounds)]
        return tokens, weighted

    def counts(self, tokenizer: Tokenizer, dictionary: Dictionary
               ) -> tuple[sp.csr_matrix, np.ndarray]:
        """(campaigns x vocabulary weighted token counts, OOV share per campaign).

        The same numbers as `documents` + `doc2bow`, without a per-row Python loop: each
        distinct term is tokenised once into a row of a terms x vocabulary matrix, and a
        campaigns x terms matrix of row repeats sums them per campaign.
        """
        term_codes, unique_terms = pd.factorize(pd.Series(self.terms, dtype="str"))
        with gc_paused():  # millions of small token lists, no reference cycles
            per_term = tokenizer.tokenize_terms(unique_terms.tolist())
            lengths = np.fromiter(map(len, per_term), dtype=np.int64, count=len(per_term))
            flat = list(itertools.chain.from_iterable(per_term))
            del per_term
            word_ids = np.fromiter(map(dictionary.token2id.get, flat, itertools.repeat(-1)),
                                   dtype=np.int64, count=len(flat))
            del flat
        n_terms = len(lengths)
        owner = np.repeat(np.arange(n_terms), lengths)
        known = word_ids >= 0
        missing_per_term = np.bincount(owner[~known], minlength=n_terms)
        term_words = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float64), (owner[known], word_ids[known])),
            shape=(n_terms, len(dictionary)))
        positions = np.asarray(self.positions, dtype=np.int64)
        repeats = np.asarray(self.repeats, dtype=np.float64)
        campaign_terms = sp.csr_matrix((repeats, (positions, term_codes)),
                                       shape=(len(self.ids), n_terms))
        counts = (campaign_terms @ term_words).tocsr()
        counts.sum_duplicates()
        counts.sort_indices()
        total = np.bincount(positions, weights=lengths[term_codes], minlength=len(self.ids))
        missing = np.bincount(positions, weights=missing_per_term[term_codes],
                              minlength=len(self.ids))
        oov = np.divide(missing, total, out=np.ones(len(self.ids)), where=total > 0)
        return counts, oov


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: while millions of lists are created it would
    otherwise rescan them over and over (measured: half the encoding time at 5M rows)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_campaign_ids(terms: pd.DataFrame) -> None:
    """A term row without a campaign (a DataFrame built in a notebook, after a merge) is
    refused by name: it failed deep in the campaign totals ("'list' argument must have no
    negative elements"). Imports always give one (a file without the column is one campaign).
    Rows without a term are left out anyway, so only rows with one are looked at."""
    missing = (terms["term"].notna() & terms["campaign_id"].isna()).to_numpy()
    if missing.any():
        from core.data.readers import row_label

        first, n = int(np.flatnonzero(missing)[0]), int(missing.sum())
        raise InputError(f"{counted(n, 'term row')} {plural(n, 'has', 'have')} no campaign_id "
                         f"(the first: {row_label(terms, first)}, term "
                         f"{terms['term'].iloc[first]!r:.80}): every term row needs the "
                         "campaign it belongs to")


def _check_some_terms(terms: pd.DataFrame, ids: Sequence[str]) -> None:
    """Term rows with no term at all (an empty frame, a filter that kept nothing, a column
    of blanks) are named as such: they were "no words are left after the vocabulary filters
    (0 documents, …): lower no_below or raise no_above", as if a setting were wrong."""
    if len(ids):
        return
    if terms.empty:
        raise InputError("the term rows are empty (0 rows): there is nothing to learn topics "
                         "from; give the rows of your campaigns (read_terms reads files)")
    raise InputError(f"none of the {len(terms):,} term rows has a term (the term column is "
                     "empty): there is nothing to learn topics from")


def no_tokens(documents: int, cfg: TextConfig) -> str:
    """Why tokenising left no word at all: "lower no_below" would not help."""
    return (f"no word is left after tokenising the {documents:,} documents: every word is "
            f"a stop word, a number, punctuation or shorter than min_token_len="
            f"{cfg.min_token_len}, so there is nothing to learn topics from")


def no_vocabulary(documents: int, cfg: TextConfig) -> str:
    """Why the vocabulary filters kept no word (local and Spark training say it alike).
    Fewer documents than `no_below` can share no word (a version of one campaign: `train`
    said "(1 documents, no_below=2, …): lower no_below", when the data, not the setting,
    is what to change)."""
    found = (f"no words are left after the vocabulary filters ({counted(documents, 'document')}, "
             f"no_below={cfg.no_below}, no_above={cfg.no_above})")
    if documents < cfg.no_below:
        return (f"{found}: a word is kept only when at least {cfg.no_below:,} documents use "
                f"it, and there {plural(documents, 'is', 'are')} only {documents:,}; topics "
                "are learnt from the words campaigns share, so train on data with more "
                "campaigns (or lower no_below)")
    return f"{found}: lower no_below or raise no_above"


def campaign_rows(terms: pd.DataFrame, weight_by: str | None) -> CampaignRows:
    """Group canonical term rows by campaign, with the weighting the config asks for."""
    missing = [c for c in ("campaign_id", "term") if c not in terms.columns]
    if missing:
        raise InputError(lacking_columns(terms.columns, missing))
    if weight_by and weight_by not in terms.columns:
        raise InputError(f"weight_by={weight_by!r} but the data has no such column")
    _check_campaign_ids(terms)
    rows = terms[terms["term"].notna()]
    positions, ids = pd.factorize(rows["campaign_id"].astype(str), use_na_sentinel=False)
    repeats = np.ones(len(rows), dtype=np.int64)
    if weight_by:
        values = pd.to_numeric(rows[weight_by], errors="coerce").fillna(0).clip(lower=0)
        repeats = np.rint(1 + np.log1p(values.to_numpy(dtype=np.float64))).astype(np.int64)
    return CampaignRows(ids.tolist(), positions, rows["term"].astype(str), repeats)


@dataclass
class EncodedCounts:
    """The encoded term matrix of a model's own campaigns: ids, weighted counts, OOV share.

    Scoring, Lookup and the Topics page all need it, and encoding millions of term rows
    is most of the cost of loading a model, so it is computed once at training time and
    saved beside the model (`counts.npz`, plain arrays, no pickles). The numbers are
    exactly what `Encoder.encode_frame(terms, as_matrix=True)` gives for the model's
    dataset version; readers find campaigns by id (scoring a large version encodes it
    batch by batch, which orders them by batch).
    """

    campaign_ids: list[str]
    matrix: sp.csr_matrix      # campaigns x vocabulary, float64 weighted counts
    oov_share: np.ndarray      # per campaign

    FILE: ClassVar[str] = "counts.npz"

    def save(self, folder: str | Path) -> Path:
        """Write `counts.npz` into `folder` atomically: a model's reader never sees half
        of it (scoring adds it to models saved without it)."""
        path = Path(folder) / self.FILE
        partial = path.with_name(f".{path.stem}-{os.getpid()}.npz")
        data = self.matrix.data
        whole = data.size == 0 or (np.all(data == np.rint(data)) and data.max() < 2**31)
        np.savez(partial, campaign_ids=np.asarray(self.campaign_ids, dtype=str),
                 indptr=self.matrix.indptr.astype(np.int64),
                 indices=self.matrix.indices.astype(np.int32),
                 data=data.astype(np.int32) if whole else data,
                 shape=np.asarray(self.matrix.shape, dtype=np.int64),
                 oov_share=np.asarray(self.oov_share, dtype=np.float64))
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> EncodedCounts | None:
        """The saved counts, or None when the folder has none (models from before)."""
        path = Path(folder) / cls.FILE
        if not path.exists():
            return None
        with npz.arrays(path) as z:
            matrix = sp.csr_matrix((z["data"].astype(np.float64), z["indices"], z["indptr"]),
                                   shape=tuple(int(n) for n in z["shape"]))
            return cls(z["campaign_ids"].tolist(), matrix, z["oov_share"])


def dropped_words(seen: dict[str, int], kept: Container[str], common: float
                  ) -> dict[str, str]:
    """Each word of the training documents (`seen`: word -> documents holding it) that the
    vocabulary filters removed, and why: in more than `common` documents "too common",
    else "too rare" (fewer than `no_below`, or past `keep_n`). One rule for local and
    Spark training, so a model's unknown words are split alike whichever trained it."""
    return {w: "too common" if df > common else "too rare"
            for w, df in seen.items() if w not in kept}


class Encoder:
    """Tokens or raw documents -> bag-of-words over a fixed vocabulary, plus OOV share.

    This is what a saved model needs to score new campaigns: the fitted tokenizer and
    the dictionary, nothing of the training documents. `dropped` maps each word the
    training data had but the vocabulary filters removed to why ("too rare", "too
    common"), so a report can tell those from words never seen (empty for artifacts
    saved before it was kept). `word_similarity` is the V x V word-similarity matrix the
    neighbour index matches terms with (`core.model.term_vectors`), None when
    `TextConfig.soft_terms` is off or the artifact predates it; `word_vectors` the V x D
    word vectors of campaign vectors (`core.model.campaign_vectors`), None when
    `TextConfig.word_vectors` is off or the artifact predates them.
    """

    def __init__(self, tokenizer: Tokenizer, dictionary: Dictionary,
                 dropped: dict[str, str] | None = None,
                 word_similarity: sp.csr_matrix | None = None,
                 word_vectors: np.ndarray | None = None) -> None:
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        self.dropped = dropped or {}
        self.word_similarity = word_similarity
        self.word_vectors = word_vectors

    def encode(self, tokens: Sequence[str]) -> tuple[Bow, float]:
        """Bow of a token list and the share of its tokens not in the vocabulary.

        A document with no tokens at all has OOV share 1.0: nothing of it can be scored.
        """
        bow, missing = self.dictionary.doc2bow(list(tokens), return_missing=True)
        total = len(tokens)
        return bow, (sum(missing.values()) / total if total else 1.0)

    def encode_docs(self, docs: Sequence[str | Sequence[str]]) -> tuple[list[Bow], np.ndarray]:
        """Tokenise raw docs (strings or lists of terms) and encode each one."""
        pairs = [self.encode(toks) for toks in self.tokenizer.transform(docs)]
        return [b for b, _ in pairs], np.array([o for _, o in pairs], dtype=float)

    def encode_frame(self, terms: pd.DataFrame, *, as_matrix: bool = False
                     ) -> tuple[list[str], list[Bow] | sp.csr_matrix, np.ndarray]:
        """Campaign ids, weighted bow and OOV share of each campaign in some term rows,
        exactly as `Corpus.from_frame` builds its documents (batch scoring, drift).

        `as_matrix=True` gives the bows as one campaigns x vocabulary CSR matrix (float
        counts), which engines' `transform` take as is: faster for large data.
        """
        rows = campaign_rows(terms, self.tokenizer.config.weight_by)
        counts, oov = rows.counts(self.tokenizer, self.dictionary)
        if as_matrix:
            return rows.ids, counts, oov
        ids, values = counts.indices.tolist(), counts.data.astype(np.int64).tolist()
        bounds = counts.indptr.tolist()
        bows = [list(zip(ids[a:b], values[a:b], strict=True))
                for a, b in itertools.pairwise(bounds)]
        return rows.ids, bows, oov

    @property
    def columns(self) -> list[str]:
        """The term-row columns `encode_frame` reads (reading fewer is faster)."""
        weight_by = self.tokenizer.config.weight_by
        return ["campaign_id", "term", *([weight_by] if weight_by else [])]

    def encode_batches(self, frames: Iterable[pd.DataFrame]
                       ) -> tuple[list[str], sp.csr_matrix, np.ndarray]:
        """`encode_frame(..., as_matrix=True)` of term rows that come in batches of whole
        campaigns (`core.data.datasets.term_batches`), stacked: one batch in memory at a
        time, the campaigns batch after batch."""
        ids: list[str] = []
        matrices, oov = [], []
        for frame in frames:
            batch_ids, counts, batch_oov = self.encode_frame(frame, as_matrix=True)
            ids += batch_ids
            matrices.append(counts)
            oov.append(batch_oov)
        if len(matrices) == 1:
            return ids, matrices[0], oov[0]
        return ids, sp.vstack(matrices, format="csr"), np.concatenate(oov)

    @property
    def vocabulary(self) -> list[str]:
        """Words in id order: column j of every topic-term matrix is `vocabulary[j]`.

        Built once per dictionary size (a fresh list each call: callers may change it).
        Rebuilding it word by word from gensim took ~10 ms at 13,000 words, on every
        pasted-keyword lookup, twice."""
        cached = getattr(self, "_vocabulary", None)
        if cached is None or len(cached[0]) != len(self.dictionary) \
                or cached[1] is not self.dictionary.token2id:
            words = [self.dictionary[i] for i in range(len(self.dictionary))]
            cached = self._vocabulary = (words, self.dictionary.token2id)
        return list(cached[0])

    def save(self, folder: str | Path) -> None:
        """Write `tokenizer.json`, `vocabulary.json` (words in id order, doc and corpus
        freqs) and `dropped.json` (words the vocabulary filters removed, and why)."""
        folder = Path(folder)
        self.tokenizer.save(folder)
        dfs, cfs = self.dictionary.dfs, self.dictionary.cfs
        vocab = {"words": self.vocabulary,
                 "doc_freqs": [int(dfs.get(i, 0)) for i in range(len(self.dictionary))],
                 "num_docs": int(self.dictionary.num_docs)}
        if cfs:
            vocab["term_freqs"] = [int(cfs.get(i, 0)) for i in range(len(self.dictionary))]
        (folder / "vocabulary.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
        (folder / "dropped.json").write_text(json.dumps(self.dropped, ensure_ascii=False),
                                             "utf-8")
        if self.word_similarity is not None:
            term_vectors.save(self.word_similarity, folder)
        if self.word_vectors is not None:
            campaign_vectors.save(self.word_vectors, folder)

    @classmethod
    def load(cls, folder: str | Path) -> Encoder:
        folder = Path(folder)
        from gensim.corpora import Dictionary  # here: reading the registry needs no gensim

        vocab = json.loads((folder / "vocabulary.json").read_text("utf-8"))
        dictionary = Dictionary()
        dictionary.token2id = {w: i for i, w in enumerate(vocab["words"])}
        dictionary.dfs = dict(enumerate(vocab["doc_freqs"]))
        dictionary.cfs = dict(enumerate(vocab.get("term_freqs", [])))
        dictionary.num_docs = vocab["num_docs"]
        dropped_file = folder / "dropped.json"  # absent in artifacts from before it existed
        dropped = json.loads(dropped_file.read_text("utf-8")) if dropped_file.exists() else {}
        return cls(Tokenizer.load(folder), dictionary, dropped, term_vectors.load(folder),
                   campaign_vectors.load(folder))


class Corpus:
    """Campaign documents ready for an engine.

    Attributes: `campaign_ids`, `campaign_names` (None where unknown), `tokens` (token
    list per doc, unweighted), `dictionary` (gensim, after `filter_extremes`), `bow` (per
    doc, weighted when configured), `language`, `config`, `tokenizer`, `encoder`.
    """

    def __init__(self, campaign_ids: list[str], tokens: list[list[str]], bow: list[Bow],
                 dictionary: Dictionary, tokenizer: Tokenizer,
                 campaign_names: list[str | None] | None = None,
                 dropped: dict[str, str] | None = None,
                 word_similarity: sp.csr_matrix | None = None,
                 word_vectors: np.ndarray | None = None) -> None:
        self.campaign_ids = campaign_ids
        self.campaign_names = campaign_names or [None] * len(campaign_ids)
        self.tokens = tokens
        self.bow = bow
        self.dictionary = dictionary
        self.tokenizer = tokenizer
        self.config: TextConfig = tokenizer.config
        self.language: str = tokenizer.language_
        self.encoder = Encoder(tokenizer, dictionary, dropped, word_similarity, word_vectors)

    def __len__(self) -> int:
        return len(self.bow)

    @property
    def vocabulary(self) -> list[str]:
        return self.encoder.vocabulary

    @property
    def num_tokens(self) -> int:
        """Tokens in the bag-of-words (after vocabulary filters and weighting)."""
        return int(sum(c for doc in self.bow for _, c in doc))

    def encode(self, tokens: Sequence[str]) -> tuple[Bow, float]:
        """Bow of new tokens over this vocabulary and their OOV share (see Encoder)."""
        return self.encoder.encode(tokens)

    def encoded_counts(self) -> EncodedCounts:
        """This corpus as `Encoder.encode_frame(..., as_matrix=True)` would encode its term
        rows again: weighted counts and the share of each campaign's tokens that the
        vocabulary filters dropped. Computed from what tokenising already produced."""
        matrix = bow_matrix(self.bow, len(self.dictionary)).tocsr()
        matrix.sort_indices()
        lengths = np.fromiter(map(len, self.tokens), dtype=np.int64, count=len(self.tokens))
        token2id = self.dictionary.token2id
        with gc_paused():
            known = np.fromiter(map(token2id.__contains__,
                                    itertools.chain.from_iterable(self.tokens)),
                                dtype=bool, count=int(lengths.sum()))
        owner = np.repeat(np.arange(len(self.tokens)), lengths)
        missing = np.bincount(owner[~known], minlength=len(self.tokens))
        oov = np.divide(missing, lengths, out=np.ones(len(self.tokens)), where=lengths > 0)
        return EncodedCounts(list(self.campaign_ids), matrix, oov)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_frame(cls, terms: pd.DataFrame, config: TextConfig | None = None) -> Corpus:
        """One document per campaign (first-seen order) from rows of `campaign_id`, `term`."""
        config = config or TextConfig()
        check_numbers(config)
        rows = campaign_rows(terms, config.weight_by)
        _check_some_terms(terms, rows.ids)
        grouped_terms: list[list[str]] = [[] for _ in rows.ids]
        for pos, term in zip(rows.positions, rows.terms, strict=True):
            grouped_terms[pos].append(term)
        tokenizer = Tokenizer(config).fit(grouped_terms)
        tokens, weighted = rows.documents(tokenizer)
        names: dict[str, str | None] = {}
        if "campaign_name" in terms.columns:
            named = terms.dropna(subset=["campaign_name"])
            names = dict(zip(named["campaign_id"].astype(str),
                             named["campaign_name"].astype(str), strict=True))
        return cls._build(rows.ids, tokens, weighted, tokenizer,
                          [names.get(cid) for cid in rows.ids])

    @classmethod
    def from_texts(cls, texts: Sequence[str | Sequence[str]], ids: Sequence[str] | None = None,
                   config: TextConfig | None = None) -> Corpus:
        """One document per text, e.g. a benchmark corpus (`pretokenized=True` for OCTIS)."""
        config = config or TextConfig()
        check_numbers(config)
        ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(texts))]
        if len(ids) != len(texts):
            raise InputError(f"{len(texts)} texts but {len(ids)} ids")
        tokenizer = Tokenizer(config).fit(texts)
        tokens = tokenizer.transform(texts)
        return cls._build(ids, tokens, tokens, tokenizer)

    @classmethod
    def _build(cls, ids: list[str], tokens: list[list[str]], weighted: list[list[str]],
               tokenizer: Tokenizer, names: list[str | None] | None = None) -> Corpus:
        from gensim.corpora import Dictionary

        cfg = tokenizer.config
        dictionary = Dictionary(tokens)
        seen = {w: dictionary.dfs[i] for w, i in dictionary.token2id.items()}
        dictionary.filter_extremes(no_below=cfg.no_below, no_above=cfg.no_above,
                                   keep_n=cfg.keep_n)
        dropped = dropped_words(seen, dictionary.token2id, cfg.no_above * len(tokens))
        if not seen:  # the filters had nothing to drop
            raise InputError(no_tokens(len(ids), cfg))
        if len(dictionary) == 0:
            raise InputError(no_vocabulary(len(ids), cfg))
        bow = [dictionary.doc2bow(doc) for doc in weighted]
        vocabulary = [dictionary[i] for i in range(len(dictionary))]
        similarity, vectors = term_vectors.learn_for(tokens, vocabulary, cfg.soft_terms,
                                                     cfg.word_vectors)
        return cls(ids, tokens, bow, dictionary, tokenizer, names, dropped, similarity, vectors)

    # -- held-out split ---------------------------------------------------------------
    def split(self, test_share: float = 0.1, seed: int = 0) -> tuple[Corpus, Corpus]:
        """(train, heldout) by random documents; both keep this corpus's vocabulary."""
        if not 0 < test_share < 1:
            raise InputError("test_share must be between 0 and 1")
        n = len(self)
        n_test = max(1, round(n * test_share))
        if n_test >= n:
            raise InputError(f"cannot hold out {n_test} of {n} documents")
        perm = np.random.default_rng(seed).permutation(n)
        return self.subset(sorted(perm[n_test:])), self.subset(sorted(perm[:n_test]))

    def subset(self, indices: Sequence[int]) -> Corpus:
        """The given documents, same vocabulary and tokenizer."""
        idx = [int(i) for i in indices]
        return Corpus([self.campaign_ids[i] for i in idx], [self.tokens[i] for i in idx],
                      [self.bow[i] for i in idx], self.dictionary, self.tokenizer,
                      [self.campaign_names[i] for i in idx], self.encoder.dropped,
                      self.encoder.word_similarity, self.encoder.word_vectors)
