"""A test hook: pause at a named point between a check and its write.

Race tests set `TOPICLAB_TEST_PAUSE="set_alias:2"` (several as `a:2,b:1`) for one
process, wait for its `test pause: set_alias` line on stderr, and run the competing
command in a second process during the pause. Unset (always, outside tests) it costs
one environment lookup. Pauses are capped at 30 s so a stray setting cannot hang a run.
"""

from __future__ import annotations

import os
import sys
import time

_MAX_S = 30.0


def pause(point: str) -> None:
    """Sleep here if TOPICLAB_TEST_PAUSE names `point`."""
    spec = os.environ.get("TOPICLAB_TEST_PAUSE")
    if not spec:
        return
    for item in spec.split(","):
        name, _, seconds = item.partition(":")
        if name.strip() != point:
            continue
        try:
            wait = min(max(float(seconds or 1), 0.0), _MAX_S)
        except ValueError:
            wait = 1.0
        print(f"test pause: {point} for {wait:g} s", file=sys.stderr, flush=True)
        time.sleep(wait)
