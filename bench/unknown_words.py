"""What does naming a stored campaign's unread words cost, and what does the cache save?

A stored fingerprint keeps only the share of words the model does not use; the words
themselves are read again from the campaign's term rows (`Lookup.unknown_of`: its rows,
tokenised, checked against the vocabulary). On the store in TOPICLAB_HOME (e.g. the demo
store of `python -m core init`) this prints, for `--campaigns` random stored campaigns:

1. the first read of each campaign's words (what the Lookup page paid on every rerun
   before `Lookup` kept them), and a read from the cache (what a rerun pays now);
2. beside them, the scoring service's answers for one stored campaign (`answers.answer`,
   no HTTP): /v1/fingerprint, a lookup that does not read the words (`unknown_words:
   null`), and /v1/suggest, which lists them.

Medians over the campaigns; the machines are shared, so absolute figures move with the load.

    TOPICLAB_HOME=... .venv/bin/python -m bench.unknown_words [--campaigns 50] [--model ID]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[str], object], campaign_ids: list[str]) -> float:
    """Median milliseconds of `fn(campaign_id)` over the campaigns."""
    times = []
    for campaign_id in campaign_ids:
        started = time.perf_counter()
        fn(campaign_id)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--model", help="model id or alias (default: production)")
    args = parser.parse_args()

    from core.data import auth
    from core.serve import answers
    from core.serve.lookup import Lookup

    auth.set_user(auth.local_user())
    lookup = Lookup(args.model)
    ids = random.Random(0).sample(lookup.fingerprints.campaign_ids,
                                  min(args.campaigns, len(lookup.fingerprints.campaign_ids)))
    lookup.unknown_of(ids[0])                 # the tokenizer's first load is not measured
    fresh = ids[1:]

    def fingerprint(campaign_id: str) -> object:
        return answers.answer(lookup, "fingerprint", answers.Query(campaign_id=campaign_id))

    def suggest(campaign_id: str) -> object:
        return answers.answer(lookup, "suggest", answers.Query(campaign_id=campaign_id))

    first = median_ms(lookup.unknown_of, fresh)
    cached = median_ms(lookup.unknown_of, fresh)
    print(f"model {lookup.model_id}, {len(fresh)} stored campaigns of "
          f"{lookup.dataset} v{lookup.version} (medians)")
    print(f"  unknown words, first read      {first:8.2f} ms  (every Lookup rerun before)")
    print(f"  unknown words, from the cache  {cached:8.4f} ms  ({first / cached:,.0f}x less)")
    lookup._unknown.clear()                   # suggest reads them as a new campaign would
    print(f"  /v1/fingerprint (words not read) {median_ms(fingerprint, fresh):6.2f} ms")
    print(f"  /v1/suggest (words read)       {median_ms(suggest, fresh):8.2f} ms")


if __name__ == "__main__":
    main()
