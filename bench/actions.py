"""How right are the suggested actions? Precision and recall per action kind against the
problems planted in the demo corpus (`core.data.planted`, `data/demo/planted.parquet`).

One run: a temporary TOPICLAB_HOME gets the demo corpus (the first `--campaigns` of it)
imported and a production model trained as `make run` does (`core.ops.bootstrap`), then every
campaign is looked up (`core.serve.lookup.Lookup.campaign`, all actions, default settings) and
each action's items are compared with the truth of that campaign:

- `ngram_waste`: the fragments suggested as safe negatives. Right when planted, or when
  every search term of the campaign it blocks is one the generator made to never convert.
- `negative_conflicts`: the fragments `ngram_waste` left out because they would block a
  keyword or a converting search term. Right when planted, or when the fragment really
  blocks one of the campaign's keywords or converting search terms.
- `promote_search_terms`, `duplicate_keywords` (this campaign's rows of the evidence) and
  any action kind whose name a planted kind's starts with (`brand_…`, `wrong_ad_group`):
  the terms of the evidence; right when in the truth of that campaign.
Recall is over planted problems only. `top5` is the share of planted problems found by
an action ranked among the first five of their campaign.

    python -m bench.actions [--campaigns N] [--seed S] [--workers W] [--json]

`--seed` measures a demo generated with another seed (in memory; 7 is the committed
file), so that no rule is tuned to one draw. `--workers` looks campaigns up in that many
forked processes sharing the loaded model (the whole demo, 3,000 campaigns: about
`--workers 2` on a quiet 2-core machine). Over a subset (`--campaigns`), a planted
competitor brand whose advertiser is not among the first N campaigns cannot be known
as a brand, so brand recall is only meaningful over the whole demo.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

from core.data import demo
from core.data.planted import KINDS as PLANTED_KINDS
from core.model.negatives import blocks, words

TERM_COLUMNS = ("term", "search_term", "keyword", "negative")


def key(text: object) -> str:
    return " ".join(words(text))


def _items(action, campaign_id: str) -> dict[str, list[tuple[str, str]]]:
    """Per measured kind, the (item, match type) an action names for this campaign."""
    ev = action.evidence
    if ev is None or ev.empty:
        return {}
    if action.kind == "ngram_waste":
        status = ev["status"].fillna("").astype(str)
        safe = ev[status == "safe"]
        dropped = ev[status.str.startswith("dropped")]
        return {"ngram_waste": list(zip(safe["negative"], safe["match_type"], strict=True)),
                "negative_conflicts": list(zip(dropped["negative"], dropped["match_type"],
                                               strict=True))}
    if "campaign_id" in ev:
        ev = ev[ev["campaign_id"].astype(str) == campaign_id]
    column = next((c for c in TERM_COLUMNS if c in ev), None)
    if column is None:
        return {}
    kind = next((k for k in PLANTED_KINDS if k == action.kind or (action.kind.startswith(
        k.split("_")[0] + "_") and k != "negative_conflicts")), action.kind)
    return {kind: [(t, "") for t in ev[column].dropna()]}


class Truth:
    """The planted table, indexed for the checks."""

    def __init__(self, table: pd.DataFrame, rows: pd.DataFrame) -> None:
        self.table = table.assign(key=table["term"].map(key))
        self.by = {k: set(zip(g["campaign_id"], g["key"], strict=True))
                   for k, g in self.table.groupby("kind")}
        planted = self.table[self.table["origin"] == "planted"]
        self.planted = {k: set(zip(g["campaign_id"], g["key"], strict=True))
                        for k, g in planted.groupby("kind")}
        waste = self.table[(self.table["kind"] == "ngram_waste")]
        self.never_converts = set(zip(waste["campaign_id"], waste["key"], strict=True))
        self.rows = {c: g for c, g in rows.groupby("campaign_id", sort=False)}

    def right(self, kind: str, campaign: str, item: str, match_type: str) -> bool:
        if (campaign, key(item)) in self.by.get(kind, set()) and kind != "ngram_waste":
            return True
        rows = self.rows.get(campaign)
        negative = words(item)
        if kind == "ngram_waste":
            if (campaign, key(item)) in self.planted.get(kind, set()):
                return True
            searches = rows[rows["term_type"] == "search_term"]["term"].map(key)
            blocked = [t for t in set(searches) if blocks(negative, match_type, tuple(t.split()))]
            return bool(blocked) and all((campaign, t) in self.never_converts for t in blocked)
        if kind == "negative_conflicts":
            protected = rows[(rows["term_type"] == "keyword") | (rows["conversions"] > 0)]
            return any(blocks(negative, match_type, tuple(key(t).split()))
                       for t in protected["term"])
        return False


_WORKER: dict = {}  # the loaded Lookup, set before forking (workers inherit it)


def _looked_up(campaign: str) -> list[tuple[str, int, dict]]:
    """(action kind, rank, {measured kind: [(item, match type)]}) of a campaign's actions."""
    actions = _WORKER["lookup"].campaign(campaign).suggestions.actions
    return [(a.kind, rank, _items(a, campaign)) for rank, a in enumerate(actions)]


def _look_up_all(ids: list[str], workers: int, quiet: bool):
    if workers <= 1:
        for i, campaign in enumerate(ids):
            if not quiet and (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(ids)} campaigns", file=sys.stderr)
            yield campaign, _looked_up(campaign)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for i, (campaign, found) in enumerate(zip(ids, pool.imap(_looked_up, ids,
                                                                 chunksize=20), strict=True)):
            if not quiet and (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(ids)} campaigns", file=sys.stderr)
            yield campaign, found


def run(campaigns: int | None, quiet: bool, seed: int = demo.DEFAULT_SEED,
        workers: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="topiclab-bench-actions-") as home:
        os.environ["TOPICLAB_HOME"] = home
        from core.data import auth, ingest
        from core.ops import bootstrap, deploy
        from core.ops.train import saved_settings, train
        from core.serve import registry
        from core.serve.lookup import Lookup

        auth.set_user(auth.User("bench", auth.DATA_SCIENTIST))
        if seed == demo.DEFAULT_SEED:
            frame = pd.read_parquet(demo.DEFAULT_PATH)
            truth_table = pd.read_parquet(demo.planted_path(demo.DEFAULT_PATH))
        else:
            frame, truth_table = demo.generate_with_truth(demo.DEFAULT_CAMPAIGNS, seed)
        ids = frame["campaign_id"].drop_duplicates()
        if campaigns:
            ids = ids.head(campaigns)
            frame = frame[frame["campaign_id"].isin(set(ids))]
        path = Path(home) / "demo.parquet"
        frame.to_parquet(path, index=False)
        started = time.perf_counter()
        ingest.import_paths([path], bootstrap.DEMO_DATASET)
        result = train(saved_settings(bootstrap.DEMO_DATASET).with_(k=bootstrap.DEMO_K))
        deploy.promote(result.model_id, "production")
        trained = time.perf_counter() - started
        lookup = Lookup(registry.resolve("production"))
        _ = lookup.brands  # built once, before forking: every worker shares it
        _WORKER["lookup"] = lookup
        truth = Truth(truth_table[truth_table["campaign_id"].isin(set(ids))], frame)
        found: dict[str, set] = defaultdict(set)       # kind -> {(campaign, key)}
        top5: dict[str, set] = defaultdict(set)
        right: dict[str, int] = defaultdict(int)
        named: dict[str, int] = defaultdict(int)
        fired: dict[str, int] = defaultdict(int)
        in_top5: dict[str, int] = defaultdict(int)
        started = time.perf_counter()
        for campaign, looked in _look_up_all(ids.tolist(), workers, quiet):
            for action_kind, rank, measured in looked:
                fired[action_kind] += 1
                in_top5[action_kind] += rank < 5
                for kind, items in measured.items():
                    for item, match_type in items:
                        named[kind] += 1
                        ok = truth.right(kind, campaign, item, match_type)
                        right[kind] += ok
                        found[kind].add((campaign, key(item)))
                        if rank < 5:
                            top5[kind].add((campaign, key(item)))
        looked_s = time.perf_counter() - started
        kinds = {}
        for kind in PLANTED_KINDS:
            planted = truth.planted.get(kind, set())
            measured = named[kind] > 0 or kind in fired or kind in (
                "ngram_waste", "negative_conflicts")
            if not measured:
                kinds[kind] = {"precision": None, "recall": None, "planted": len(planted),
                               "note": "no action of this kind yet"}
                continue
            kinds[kind] = {
                "precision": round(right[kind] / named[kind], 3) if named[kind] else None,
                "recall": round(len(planted & found[kind]) / len(planted), 3) if planted
                else None,
                "top5": round(len(planted & top5[kind]) / len(planted), 3) if planted else None,
                "named": named[kind], "planted": len(planted)}
        n = len(ids)
        return {"campaigns": n, "seed": seed, "workers": workers,
                "train_s": round(trained, 1), "lookup_s": round(looked_s, 1),
                "lookup_ms": round(1000 * looked_s * max(workers, 1) / max(n, 1), 1),
                "kinds": kinds,
                "fired": {k: {"campaigns": v, "share": round(v / n, 3),
                              "in_top5": round(in_top5[k] / n, 3)}
                          for k, v in sorted(fired.items())}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=None,
                        help="only the first N demo campaigns (default: all 3,000)")
    parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED,
                        help="demo generator seed (default: the committed demo's)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes looking campaigns up (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    report = run(args.campaigns, args.json, args.seed, max(1, args.workers))
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['campaigns']} demo campaigns (seed {report['seed']}); train "
          f"{report['train_s']} s, lookups {report['lookup_s']} s with {report['workers']} "
          f"worker(s), {report['lookup_ms']} ms per lookup")
    print(f"{'kind':22} {'precision':>9} {'recall':>7} {'top 5':>6} {'named':>6} "
          f"{'planted':>7}")
    for kind, r in report["kinds"].items():
        def show(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f}"
        print(f"{kind:22} {show(r['precision']):>9} {show(r['recall']):>7} "
              f"{show(r.get('top5')):>6} {r.get('named', 0):>6} {r['planted']:>7}"
              + (f"  ({r['note']})" if "note" in r else ""))
    print("\nactions fired (share of campaigns; share with the action in their top 5):")
    for kind, r in report["fired"].items():
        print(f"  {kind:22} {r['share']:.2f}  top 5: {r['in_top5']:.2f}")


if __name__ == "__main__":
    main()
