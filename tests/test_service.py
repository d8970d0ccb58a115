"""The scoring service: status codes, canary, cache, throttling, logging, hot reload.

In-process through FastAPI's TestClient against a real trained store (production + a
candidate), plus one run of the real uvicorn server in a subprocess while another process
promotes a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from core.cli import main as cli_main
from core.data import audit, store
from core.errors import InputError, TopicLabError
from core.ops import deploy
from core.serve import (
    answers,
    brand_lists,
    canary,
    keys,
    registry,
    request_log,
    score,
    throttle,
)
from core.serve.lookup import Lookup
from core.serve.response_cache import ResponseCache
from core.serve.service import Gateway, Settings, create_app
from core.serve.serving import ModelHolder
from tests.conftest import FAST_PARAMS, FIXTURES, REPO, SECOND_K, cli, ok_json, stop_process

with warnings.catch_warnings():  # Starlette 1.10 prefers httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CAMPAIGN = "C00003"


@pytest.fixture(scope="module")
def service_template(two_models_template: Path, tmp_path_factory) -> dict:
    """The trained store with its second scored model (a different K) as the candidate."""
    home = tmp_path_factory.mktemp("service") / "home"
    shutil.copytree(two_models_template, home)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        production = registry.alias("production")
        candidate = next(m for m in registry.list_models()["model_id"] if m != production)
        deploy.promote(candidate, "candidate")
    finally:
        mp.undo()
    return {"home": home, "production": production, "candidate": candidate}


@pytest.fixture
def served(service_template: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of that store as TOPICLAB_HOME, with the model ids."""
    home = tmp_path / "home"
    shutil.copytree(service_template["home"], home)
    monkeypatch.setenv("TOPICLAB_HOME", str(home))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    monkeypatch.delenv("TOPICLAB_ROLE", raising=False)
    return {**service_template, "home": home}


@contextmanager
def client(**overrides) -> Iterator[tuple[TestClient, object]]:
    """The app in-process; its poller is idle (tests call `holder.refresh()` themselves)."""
    app = create_app(Settings(**{"poll_s": 60.0, **overrides}))
    with TestClient(app) as test_client:
        assert app.state.gateway.holder.first_round.wait(120)   # models load in background
        yield test_client, app.state.gateway


def post(c: TestClient, endpoint: str, body, key: str | None) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    response = c.post(f"/v1/{endpoint}", json=body, headers=headers)
    assert response.headers["X-Request-Id"]
    assert "X-Model-Id" in response.headers
    assert "Traceback" not in response.text
    return response


def metric(c: TestClient, name: str, labels: str = "") -> float:
    text = c.get("/metrics").text
    match = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@contextmanager
def store_locked() -> Iterator[None]:
    """Another process holds the store's write lock until the block ends (it waits for the
    service's own short connections, e.g. the request log's first flush)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         "for _ in range(200):\n"
         "    try:\n        con = duckdb.connect(sys.argv[1]); break\n"
         "    except duckdb.IOException:\n        time.sleep(0.05)\n"
         "print('locked', flush=True); sys.stdin.read()", str(store.config.db_path())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(20)


# -- keys -------------------------------------------------------------------------------------
def test_keys_cli_store_only_a_hash_need_a_data_scientist_and_are_audited(served, capsys,
                                                                          monkeypatch):
    assert cli_main(["keys", "create", "crm-sync", "--role", "scorer", "--rate", "120"]) == 0
    created = json.loads(capsys.readouterr().out)
    secret = created["key"]
    assert secret.startswith("tl_") and len(secret) > 40
    rows = store.query("SELECT * FROM api_keys")
    assert rows["key_hash"].tolist() == [hashlib.sha256(secret.encode()).hexdigest()]
    assert secret not in rows.to_json()          # the secret itself is nowhere in the store

    assert cli_main(["keys", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["role"], k["rate_per_minute"], k["active"]) for k in listed] == [
        ("crm-sync", "scorer", 120, True)]
    assert "key_hash" not in listed[0] and "key" not in listed[0]

    monkeypatch.setenv("TOPICLAB_ROLE", "account_manager")
    assert cli_main(["keys", "create", "sneaky"]) == 1
    assert "may not manage keys" in capsys.readouterr().err
    assert cli_main(["keys", "revoke", "crm-sync"]) == 1
    capsys.readouterr()
    monkeypatch.delenv("TOPICLAB_ROLE")
    assert store.query_one("SELECT count(*) FROM api_keys")[0] == 1

    assert cli_main(["keys", "create", "crm-sync"]) == 1          # names are unique
    assert "exists already" in capsys.readouterr().err
    assert cli_main(["keys", "create", "bad name!"]) == 1
    assert "not valid" in capsys.readouterr().err
    assert cli_main(["keys", "revoke", "crm-sync"]) == 0
    capsys.readouterr()
    assert cli_main(["keys", "revoke", "nobody"]) == 1
    assert "No API key" in capsys.readouterr().err
    actions = audit.entries(limit=20)["action"].tolist()
    assert actions[:2] == ["key_revoke", "key_create"]


def test_canary_cli_checks_the_share_and_is_audited(served, capsys):
    assert cli_main(["canary", "set", "150"]) == 1
    assert "between 0 and 100" in capsys.readouterr().err
    assert cli_main(["canary", "set", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["canary_percent"] == 20 and out["candidate"] == served["candidate"]
    assert canary.get_percent() == 20
    entry = audit.entries(limit=1).iloc[0]
    assert entry["action"] == "canary" and json.loads(entry["details"])["percent"] == 20
    assert cli_main(["canary", "set", "-0"]) == 0      # 0, not -0.0 in /readyz and /metrics
    shown = json.loads(capsys.readouterr().out)["canary_percent"]  # (ids may hold "-0")
    assert str(shown) in ("0", "0.0") and str(canary.get_percent()) == "0.0"


def test_canary_set_refuses_a_candidate_that_cannot_load(served, capsys):
    """`canary set 20` with the candidate's folder damaged or gone was accepted without a
    word, and the service then sent the candidate nothing."""
    candidate = served["candidate"]
    folder = registry.model_dir(candidate)
    counts = folder / "counts.npz"
    saved = counts.read_bytes()
    counts.write_bytes(saved[:1000])
    assert cli_main(["canary", "set", "20"]) == 1
    err = capsys.readouterr().err
    assert f"The candidate {candidate} cannot be loaded" in err and "BadZipFile" in err
    assert canary.get_percent() == 0                   # nothing written
    aside = folder.with_name(folder.name + ".aside")
    counts.write_bytes(saved)
    folder.rename(aside)                               # the whole folder gone
    assert cli_main(["canary", "set", "20"]) == 1
    assert f"The candidate {candidate} cannot be loaded" in capsys.readouterr().err
    assert cli_main(["canary", "set", "0"]) == 0       # turning it off never loads it
    capsys.readouterr()
    aside.rename(folder)                               # repaired: accepted
    assert cli_main(["canary", "set", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["candidate"] == candidate
    assert canary.get_percent() == 20


def test_canary_set_checks_every_file_of_the_candidate_without_building_a_lookup(
        served, monkeypatch):
    """`canary set` built a whole `Lookup` of the candidate (neighbour index, topic names,
    the mapped term file) to throw it away: now it reads each file the service's load
    reads and checks their shapes agree, so a damaged one is still refused."""
    from core.model.neighbors import NeighborIndex

    candidate = served["candidate"]
    built, fit = [], NeighborIndex.fit
    monkeypatch.setattr(NeighborIndex, "fit", lambda self, *a, **kw: built.append(1)
                        or fit(self, *a, **kw))
    assert canary.set_percent(20).canary_percent == 20
    assert built == []
    canary.set_percent(0)
    folder = registry.model_dir(candidate)
    for name in ("manifest.json", "engine/topic_term.npy", "engine/alpha.npy",
                 "encoder/vocabulary.json", "encoder/tokenizer.json", "counts.npz"):
        path = folder / name
        saved = path.read_bytes()
        path.write_bytes(saved[:len(saved) // 2])
        with pytest.raises(TopicLabError, match=f"The candidate {candidate} cannot be loaded"):
            canary.set_percent(20)
        path.write_bytes(saved)
    with store.transaction() as con:   # fingerprints of fewer topics than the model has
        con.execute("UPDATE fingerprints SET weights = weights[2:] WHERE model_id = ?",
                    [candidate])
    with pytest.raises(TopicLabError, match=f"stored fingerprints have {SECOND_K - 1} topic "
                                            f"weights, its artifact K = {SECOND_K}"):
        canary.set_percent(20)
    assert canary.get_percent() == 0 and built == []


def test_no_canary_for_a_candidate_of_another_dataset_than_production(served):
    """The pipeline keeps a model of another dataset as candidate; `canary set 20` took it,
    and the service answered a fifth of production's traffic from another dataset's
    campaigns (a campaign id there names another campaign). Refused in the transaction
    that stores the share; and a production moved to another dataset after `canary set`
    turns the canary off in the service."""
    from core.data import ingest
    from core.ops import train
    from core.serve.serving import Served
    from tests.conftest import FIXTURES

    ingest.import_paths([FIXTURES / "sony"], "tiny")
    other = train.train(train.TrainSpec(dataset="tiny", k=2, params={"iterations": 50}))
    deploy.promote(other.model_id, "candidate")
    with pytest.raises(TopicLabError, match=r"candidate .* is a model of dataset 'tiny' and "
                                            r"production of 'demo': a canary would answer"):
        canary.set_percent(20)
    assert canary.get_percent() == 0 and canary.set_percent(0).canary_percent == 0
    production, candidate = Lookup(served["production"]), Lookup(other.model_id)
    state = Served(production, candidate, 20.0, canary_for=other.model_id)
    assert state.canary_share == 0
    assert state.pick("k:plumber")[0] == canary.PRODUCTION
    same = Served(production, Lookup(served["candidate"]), 20.0,
                  canary_for=served["candidate"])
    assert same.canary_share == 20.0
    # of demo, as production: taken; no canary ran, so none is said to stop
    assert deploy.promote(served["candidate"], "candidate").warning is None
    assert canary.set_percent(20).canary_percent == 20
    moved = deploy.promote(other.model_id, "production", other_dataset=True)
    assert canary.get_percent() == 0   # as the service applies it, so a delete may go on
    assert "production is now a model of another dataset" in canary.show()["note"]
    assert canary.show()["note"] in moved.warning   # and the promotion said so


# -- canary split (pure) -------------------------------------------------------------------------
def test_canary_split_is_sticky_monotone_and_close_to_the_share():
    ids = [f"C{i:05d}" for i in range(2000)]
    chosen = {}
    for percent in (5, 20, 50, 90):
        variants = [canary.variant(canary.sticky_key(c), percent) for c in ids]
        share = 100 * variants.count(canary.CANDIDATE) / len(ids)
        assert abs(share - percent) <= 5, (percent, share)
        assert variants == [canary.variant(canary.sticky_key(c), percent) for c in ids]
        chosen[percent] = {c for c, v in zip(ids, variants, strict=True)
                           if v == canary.CANDIDATE}
    # Raising the share only moves campaigns to the candidate, never back.
    assert chosen[5] <= chosen[20] <= chosen[50] <= chosen[90]
    assert all(canary.variant(canary.sticky_key(c), 0) == canary.PRODUCTION for c in ids)
    assert all(canary.variant(canary.sticky_key(c), 100) == canary.CANDIDATE for c in ids)
    # A keyword set is sticky whatever its order, case, spacing or repeats.
    assert (canary.sticky_key(keywords=["Boiler  repair", "plumber"])
            == canary.sticky_key(keywords=["plumber", "boiler repair", "plumber"]))
    assert canary.sticky_key(keywords=["plumber"]) != canary.sticky_key(keywords=["roofer"])


# -- status codes -------------------------------------------------------------------------------
def test_every_status_code(served):
    am = keys.create("am").key
    bot = keys.create("bot", role="scorer").key
    slow = keys.create("slow", rate_per_minute=2).key
    gone = keys.create("gone").key
    keys.revoke("gone")
    production = served["production"]
    with client(max_body_bytes=2000) as (c, _):
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, am)
        assert r.status_code == 200 and r.headers["X-Model-Id"] == production
        body = r.json()
        assert body["model_id"] == production and body["campaign_id"] == CAMPAIGN
        assert abs(sum(body["fingerprint"]) - 1) < 1e-3 and body["top_topics"][0]["name"]

        for key in (None, "tl_not-a-key", gone):
            r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
            assert r.status_code == 401, key
            assert "X-API-Key" in r.json()["error"] and r.json()["request_id"]
            # refused before a model is chosen: `none` in both (as the README says)
            assert (r.headers["X-Model-Id"], r.headers["X-Variant"]) == ("none", "none")

        r = post(c, "feedback", {"campaign_id": CAMPAIGN, "neighbor_id": "C00004",
                                 "useful": True}, bot)
        assert r.status_code == 403 and "account_manager" in r.json()["error"]
        assert post(c, "neighbors", {"campaign_id": CAMPAIGN}, bot).status_code == 200

        r = post(c, "neighbors", {"campaign_id": "NOPE-1"}, am)
        assert r.status_code == 404 and "NOPE-1" in r.json()["error"]
        r = post(c, "feedback", {"campaign_id": CAMPAIGN, "neighbor_id": "NOPE-2",
                                 "useful": False}, am)
        assert r.status_code == 404 and "neighbor_id" in r.json()["error"]
        r = post(c, "feedback", {"campaign_id": CAMPAIGN, "neighbor_id": CAMPAIGN,
                                 "useful": True}, am)
        assert r.status_code == 422 and "the campaign itself" in r.json()["error"]

        for bad, field in (({"campaign_id": CAMPAIGN, "n": 0}, "`n`"),
                           ({"keywords": "plumber"}, "`keywords`"),
                           ({"campaign_id": CAMPAIGN, "colour": "red"}, "`colour`"),
                           ({"campaign_id": CAMPAIGN, "keywords": ["x"]}, "not both"),
                           ({"keywords": ["zzqqxx"]}, "`keywords`"),
                           ({"keywords": ["plumber", "blocked\x1b[31m drain"]},
                            "keyword 2 'blocked\\x1b[31m drain' holds control"),
                           ([1, 2], "JSON object")):
            r = post(c, "suggest", bad, am)
            assert r.status_code == 422, bad
            assert field in r.json()["error"], (bad, r.json())
        r = c.post("/v1/suggest", content=b'{"campaign_id": ', headers={"X-API-Key": am})
        assert r.status_code == 422 and "not valid JSON" in r.json()["error"]
        for empty, said in ((b"", "empty:"), (b" \r\n", "empty but for white space:")):
            r = c.post("/v1/suggest", content=empty, headers={"X-API-Key": am})
            assert r.status_code == 422 and r.json()["error"] == (
                f'The body is {said} send a JSON object, such as {{"campaign_id": '
                '"C00042"}.'), r.text
        r = post(c, "feedback", {"campaign_id": CAMPAIGN, "neighbor_id": "C00004"}, am)
        assert r.status_code == 422 and "`useful`" in r.json()["error"]

        r = post(c, "fingerprint", {"keywords": ["emergency plumber " * 10] * 20}, am)
        assert r.status_code == 413 and r.json()["error"] == (
            "The body is larger than the service's limit of 2,000 bytes; send fewer items "
            "per batch."), r.text

        assert [post(c, "fingerprint", {"campaign_id": CAMPAIGN}, slow).status_code
                for _ in range(2)] == [200, 200]
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, slow)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # the wait is said in the body too, as Retry-After gives it (it was only there)
        assert r.json()["error"] == ("Key 'slow' is over its rate of 2 requests a minute; "
                                     f"retry in {r.headers['Retry-After']} s."), r.text
        assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, am).status_code == 200

        r = c.get("/v1/nowhere")
        assert r.status_code == 404 and "error" in r.json()
        # a wrong method names the right one, in words and in Allow (it had no Allow)
        r = c.get("/v1/suggest")
        assert (r.status_code, r.headers["Allow"]) == (405, "POST"), r.headers
        assert r.json()["error"] == "GET is not allowed on /v1/suggest; use POST."
        assert r.json()["request_id"] == r.headers["X-Request-Id"]
        r = c.post("/healthz")
        assert (r.status_code, r.headers["Allow"]) == (405, "GET, HEAD"), r.headers
        assert r.json()["error"] == "POST is not allowed on /healthz; use GET or HEAD."
        for path in ("/v1/nowhere", "/healthz", "/readyz", "/metrics"):  # every answer
            headers = c.get(path).headers
            assert (headers["X-Model-Id"], headers["X-Variant"]) == (production, "production")
        for path in ("/healthz", "/readyz", "/metrics"):  # probed with HEAD (was 405)
            r = c.head(path)
            assert (r.status_code, r.content) == (200, b"")
            assert r.headers["X-Model-Id"] == production
        assert c.get("/docs").status_code == 404         # no CDN-backed Swagger page
        with warnings.catch_warnings():    # HEAD routes gave "Duplicate Operation ID"
            warnings.simplefilter("error")
            paths = c.get("/openapi.json").json()["paths"]
        assert paths["/v1/suggest"] and list(paths["/healthz"]) == ["get"]
        assert metric(c, "topiclab_requests_total",
                      f'{{endpoint="fingerprint",model="{production}",status="200"}}') >= 4
        assert metric(c, "topiclab_requests_total",
                      '{endpoint="fingerprint",model="none",status="401"}') == 3

    with client(max_in_flight=0) as (c, _):
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, am)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.json()["error"] == "More than 0 requests are in flight; retry shortly."
        assert c.get("/healthz").status_code == 200          # takes no slot
        for key in (None, gone):      # checked before a slot is asked for (was 503)
            assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code == 401


def test_bad_bodies_are_named_in_json_words_and_ignored_fields_are_refused(served):
    """Type errors named Python's types (`not NoneType`, `a valid list`); /v1/fingerprint
    silently ignored `n`, `exclude_account` and `min_terms`, and pasted keywords ignored
    `exclude_account`; `/v1/neighbors/` was a 307 redirect, which a POST client may not
    follow (or follows without the body); `{"keywords": []}` was pydantic's "List should
    have at least 1 item after validation, not 0", `{"campaign_id": ""}` its "String should
    have at least 1 character", and blank keywords named no field."""
    key = keys.create("strict").key
    with client() as (c, _):
        def refused(endpoint: str, raw: bytes) -> str:
            r = c.post(f"/v1/{endpoint}", content=raw, headers={"X-API-Key": key})
            assert r.status_code == 422, (raw, r.text)
            return r.json()["error"]

        for raw, said in ((b"null", "the body must be a JSON object, not null"),
                          (b"[1]", "the body must be a JSON object, not an array"),
                          (b'"x"', "the body must be a JSON object, not a string"),
                          (b"true", "the body must be a JSON object, not true"),
                          (b'{"keywords": "plumber"}',
                           "field `keywords`: must be an array, not a string"),
                          (b'{"campaign_id": "C00003", "n": 5.0}',
                           "field `n`: must be a whole number, not 5.0"),
                          (b'{"campaign_id": "C00003", "exclude_account": null}',
                           "field `exclude_account`: must be true or false, not null"),
                          (b'{"items": {"campaign_id": "C00003"}}',
                           "field `items`: must be an array of 1 to 1,000 objects, not an "
                           "object"),
                          (b'{"items": [null]}', "`items.0` must be a JSON object, not null"),
                          (b'{"keywords": []}', "field `keywords`: must be an array of 1 to "
                                                "1,000 keywords, not an empty one"),
                          (json.dumps({"keywords": ["plumber"] * 1001}).encode(),
                           "field `keywords`: must be an array of 1 to 1,000 keywords, not "
                           "1,001"),
                          (b'{"items": [{"keywords": []}]}', "field `items.0.keywords`: must "
                           "be an array of 1 to 1,000 keywords, not an empty one"),
                          (b'{"keywords": ["", " "]}',
                           "field `keywords`: has no keyword with any text"),
                          (b'{"campaign_id": ""}', "field `campaign_id`: must not be an empty "
                                                   "string"),
                          (json.dumps({"keywords": ["x" * 501]}).encode(),
                           "field `keywords.0`: must have at most 500 characters, not 501")):
            error = refused("neighbors", raw) if b"items" not in raw else None
            if error is None:
                r = c.post("/v1/neighbors", content=raw, headers={"X-API-Key": key})
                error = (r.json()["items"][0]["error"] if r.status_code == 200
                         else r.json()["error"])
            assert error == said, (raw, error)
            assert not re.search(r"NoneType|\blist\b|\bstr\b|dictionary|List should|String "
                                 r"should", error)

        for extra in ({"n": 3}, {"min_terms": 2}, {"exclude_account": False}):
            for base in ({"campaign_id": CAMPAIGN}, {"keywords": ["emergency plumber"]}):
                error = refused("fingerprint", json.dumps({**base, **extra}).encode())
                assert f"field `{next(iter(extra))}`: /v1/fingerprint does not use it" in error
        r = post(c, "fingerprint", {"items": [{"campaign_id": CAMPAIGN},
                                              {"campaign_id": CAMPAIGN, "n": 3}]}, key)
        assert [i["status"] for i in r.json()["items"]] == [200, 422]
        assert "field `items.1.n`: /v1/fingerprint" in r.json()["items"][1]["error"]

        pasted = {"keywords": ["emergency plumber"], "exclude_account": True}
        for endpoint in ("neighbors", "suggest"):
            assert "pasted keywords belong to no account" in refused(
                endpoint, json.dumps(pasted).encode())
        assert post(c, "neighbors", {**pasted, "exclude_account": False}, key
                    ).status_code == 200
        assert post(c, "neighbors", {"campaign_id": CAMPAIGN, "exclude_account": True}, key
                    ).status_code == 200

        for method, path in (("POST", "/v1/neighbors/"), ("GET", "/healthz/")):
            r = c.request(method, path, json={"campaign_id": CAMPAIGN},
                          headers={"X-API-Key": key}, follow_redirects=False)
            assert r.status_code == 404, (path, r.status_code)
            assert f"the endpoint is {path.rstrip('/')}, without the trailing slash" in \
                r.json()["error"]
        assert "see /openapi.json" in c.get("/v1/nowhere/").json()["error"]

        described = c.get("/openapi.json").json()["paths"]   # says what is accepted
        for endpoint, has_n in (("fingerprint", False), ("neighbors", True)):
            one, batch = described[f"/v1/{endpoint}"]["post"]["requestBody"]["content"][
                "application/json"]["schema"]["oneOf"]
            assert ("n" in one["properties"]) is has_n, endpoint
            assert ("n" in batch["properties"]["items"]["items"]["properties"]) is has_n


def test_a_lone_surrogate_is_named_as_such(served):
    """JSON may escape half of a UTF-16 pair (`\\ud800`), which is no character: the 422
    said pydantic's "unable to parse raw data as a unicode string"."""
    key = keys.create("surrogate").key
    with client() as (c, _):
        for body, field_name in ((b'{"keywords": ["\\ud800abc"]}', "keywords.0"),
                                 (b'{"campaign_id": "C\\udfff"}', "campaign_id")):
            r = c.post("/v1/fingerprint", content=body, headers={"X-API-Key": key})
            assert r.status_code == 422, r.text
            assert r.json()["error"] == (f"field `{field_name}`: must be Unicode text, and it "
                                         "holds a lone surrogate (an escape from \\ud800 to "
                                         "\\udfff without its pair), which is no character")


def test_a_key_with_spaces_around_it_a_bearer_header_and_a_gzip_body(served):
    """`X-API-Key:  tl_…  ` (HTTP's optional whitespace, which uvicorn passes on) was a
    401 for a valid key; a key sent as `Authorization: Bearer` was only "missing"; a gzip
    body was "not valid JSON ('utf-8' codec can't decode byte 0x8b …)"."""
    import gzip

    key = keys.create("spaced").key
    with store.connect(read_only=True) as con:
        known = keys.active_keys(con)
    for presented in (f"  {key}  ", f"{key}\t", f"\t{key}"):
        assert keys.find(presented, known) is not None, repr(presented)
    assert keys.find("   ", known) is None and keys.find(f"{key}x", known) is None
    body = json.dumps({"campaign_id": CAMPAIGN}).encode()
    with client() as (c, _):
        r = c.post("/v1/fingerprint", content=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401
        assert "the Authorization header is not read" in r.json()["error"]
        r = c.post("/v1/fingerprint", content=gzip.compress(body),
                   headers={"X-API-Key": key, "Content-Encoding": "gzip"})
        assert r.status_code == 415, r.text
        assert "Content-Encoding 'gzip'" in r.json()["error"] and "uncompressed" in r.text
        assert c.post("/v1/fingerprint", content=body, headers={
            "X-API-Key": key, "Content-Encoding": "identity"}).status_code == 200


def test_a_body_in_another_charset_than_utf8_is_named_as_such(served):
    """JSON is UTF-8 (RFC 8259): a body sent as `charset=latin-1` holding `é` was a 422
    `not valid JSON ('utf-8' codec can't decode byte 0xe9 …)`, naming neither the
    charset nor UTF-8. Now a 415 naming the charset, or, with no charset, a 422 naming
    the byte and UTF-8. An ASCII body reads alike in either and is answered."""
    key = keys.create("latin").key
    latin = '{"keywords": ["emergency plumber café"]}'.encode("latin-1")
    plain = json.dumps({"campaign_id": CAMPAIGN}).encode()
    with client() as (c, _):
        for content_type in ("application/json; charset=latin-1",
                             'application/json;Charset="ISO-8859-1"'):
            r = c.post("/v1/fingerprint", content=latin,
                       headers={"X-API-Key": key, "Content-Type": content_type})
            assert r.status_code == 415, r.text
            assert r.json()["error"].startswith("The body is sent as charset=") and (
                "but JSON must be UTF-8 (RFC 8259)" in r.json()["error"]), r.text
        assert "charset=iso-8859-1 (its Content-Type)" in r.json()["error"]
        r = c.post("/v1/fingerprint", content=latin,
                   headers={"X-API-Key": key, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == (
            f"The body is not UTF-8 (byte 0xe9 at position {latin.index(0xE9)}), and JSON "
            "must be UTF-8 (RFC 8259): send its text as UTF-8."), r.text
        for content_type in ("application/json; charset=latin-1",
                             "application/json; charset=UTF-8"):
            r = c.post("/v1/fingerprint", content=plain,
                       headers={"X-API-Key": key, "Content-Type": content_type})
            assert r.status_code == 200, (content_type, r.text)
        r = c.post("/v1/fingerprint", content=latin.decode("latin-1").encode(),
                   headers={"X-API-Key": key, "Content-Type": "application/json; charset=utf-8"})
        assert r.status_code == 200 and "café" in r.json()["unknown_words"], r.text


def test_two_charsets_declared_are_refused_naming_both(served):
    """Two Content-Type headers (or one with two `charset=` parameters) that declare
    different charsets: only the first was read, so a Latin-1 body sent as `charset=utf-8`
    then `charset=latin-1` was read as UTF-8 without a word (a 422 on its byte 0xe9, or
    garbled text). Now a 400 naming both, before a token is taken; the same charset twice
    (in any spelling) is read."""
    key = keys.create("charsets", rate_per_minute=1).key
    latin = '{"keywords": ["emergency plumber café"]}'.encode("latin-1")
    with client() as (c, _):
        for headers, said in (
                ([("Content-Type", "application/json; charset=utf-8"),
                  ("Content-Type", "application/json; charset=latin-1")],
                 "2 charsets, 'utf-8' and 'latin-1'"),
                ([("Content-Type", "application/json; charset=latin-1"),
                  ("Content-Type", "application/json")], "2 charsets, 'latin-1' and 'utf-8'"),
                ([("Content-Type", "application/json; charset=utf-8; charset=iso-8859-1")],
                 "2 charsets, 'utf-8' and 'iso-8859-1'")):
            r = c.post("/v1/fingerprint", content=latin, headers=[("X-API-Key", key), *headers])
            assert r.status_code == 400, (headers, r.text)
            assert r.json()["error"] == (
                f"The Content-Type declares {said} (a header without one means utf-8), and "
                "only one can be read; send one Content-Type: application/json, with "
                "charset=utf-8 or no charset."), r.text
            assert r.json()["request_id"] == r.headers["X-Request-Id"]
        # one charset, spelled two ways and sent twice, is one: read (the key's one token)
        r = c.post("/v1/fingerprint", content=json.dumps({"campaign_id": CAMPAIGN}).encode(),
                   headers=[("X-API-Key", key), ("Content-Type", "application/json; charset=UTF8"),
                            ("Content-Type", "application/json")])
        assert r.status_code == 200 and r.json()["campaign_id"] == CAMPAIGN, r.text


def test_a_body_of_another_media_type_than_json_is_refused_naming_it(served):
    """`curl -d 'a=b'` sends `Content-Type: application/x-www-form-urlencoded`, and such a
    body was read as JSON (a form of JSON text was answered 200, any other a 422 "not
    valid JSON"). Now a 415 naming the type received and the one read, before a token is
    taken. No Content-Type at all is read as JSON, as FastAPI does."""
    key = keys.create("form", rate_per_minute=1).key
    text = json.dumps({"campaign_id": CAMPAIGN})
    with client() as (c, _):
        for content_type, content in (
                ("application/x-www-form-urlencoded", text),      # curl -d '{…}'
                ("application/x-www-form-urlencoded", f"campaign_id={CAMPAIGN}"),
                ("text/plain; charset=utf-8", text), ("text/json", text),
                ("application/json-patch+json", text), ("multipart/form-data", text)):
            r = c.post("/v1/fingerprint", content=content.encode(),
                       headers={"X-API-Key": key, "Content-Type": content_type})
            assert r.status_code == 415, (content_type, r.text)
            media_type = content_type.split(";")[0]
            assert r.json()["error"] == (
                f"The body is sent as Content-Type '{media_type}', but the service reads "
                "only application/json (with or without charset=utf-8): send the body as "
                "JSON, with Content-Type: application/json."), r.text
            assert r.json()["request_id"] == r.headers["X-Request-Id"]
        r = c.post("/v1/fingerprint", data={"campaign_id": CAMPAIGN}, headers={"X-API-Key": key})
        assert r.status_code == 415 and "x-www-form-urlencoded" in r.json()["error"], r.text
        # a JSON type with a charset, in any case, and no Content-Type at all, are read;
        # none of the refusals took the key's one token a minute
        r = c.post("/v1/fingerprint", content=text.encode(), headers={
            "X-API-Key": key, "Content-Type": "Application/JSON ; charset=UTF-8"})
        assert r.status_code == 200 and r.json()["campaign_id"] == CAMPAIGN, r.text
        r = c.post("/v1/fingerprint", content=text.encode(), headers={"X-API-Key": key})
        assert r.status_code == 429, r.text    # read (a token asked for), not refused 415



def test_a_utf16_or_utf32_body_is_refused_and_a_utf8_bom_tolerated(served):
    """The standard library guesses UTF-16/32 from a body's first bytes, so such a body,
    with or without a byte-order mark, was answered (200), though JSON on the wire must be
    UTF-8 (RFC 8259 §8.1); and `charset=utf-16` with ASCII text (`{\0"\0…`: NUL bytes are
    ASCII) passed the charset check. Now a 422 naming the encoding (415 with the charset
    said). A UTF-8 byte-order mark is tolerated, as the RFC allows a parser to."""
    key = keys.create("wide").key
    text = json.dumps({"campaign_id": CAMPAIGN})
    json_type = {"X-API-Key": key, "Content-Type": "application/json"}
    with client() as (c, _):
        for encoding, said in (("utf-16-le", "UTF-16-LE text (no byte-order mark)"),
                               ("utf-16-be", "UTF-16-BE text (no byte-order mark)"),
                               ("utf-16", "UTF-16 text (with byte-order mark)"),
                               ("utf-32-le", "UTF-32-LE text (no byte-order mark)"),
                               ("utf-32", "UTF-32 text (with byte-order mark)")):
            r = c.post("/v1/fingerprint", content=text.encode(encoding), headers=json_type)
            assert r.status_code == 422, (encoding, r.text)
            assert r.json()["error"] == (f"The body is {said}, and JSON must be UTF-8 (RFC "
                                         "8259): send its text as UTF-8."), r.text
            assert r.json()["request_id"] == r.headers["X-Request-Id"]
        # NUL-led bytes that are no text in the encoding guessed from where the NULs are
        # (binary data) were named UTF-16/32 text too; now as not UTF-8
        nul_text = ("The body is not UTF-8 text: it holds a NUL byte (at position 0), as "
                    "binary data does and JSON text never does; send JSON as UTF-8 text "
                    "(RFC 8259).")
        for garbage, said in ((b"\x00garbage", nul_text),              # was UTF-16-BE
                              (b"\x00\x00\x00\x01\x02\x03\x04\x05", nul_text),  # UTF-32-BE
                              (b"a\x00\x00\x00\x00\x00\x00\x00", nul_text.replace(
                                  "position 0", "position 1")),     # was UTF-32-LE
                              (b"\x00\x00\xff\xfe\x01", "The body is not UTF-8 (byte 0xff "
                               "at position 2), and JSON must be UTF-8 (RFC 8259): send its "
                               "text as UTF-8.")):
            r = c.post("/v1/fingerprint", content=garbage, headers=json_type)
            assert r.status_code == 422 and r.json()["error"] == said, (garbage, r.text)
            assert r.json()["request_id"] == r.headers["X-Request-Id"]
        r = c.post("/v1/fingerprint", content=text.encode("utf-16-le"),
                   headers={**json_type, "Content-Type": "application/json; charset=utf-16"})
        assert r.status_code == 415 and r.json()["error"].startswith(
            "The body is sent as charset=utf-16 (its Content-Type), but JSON must be UTF-8"), \
            r.text
        r = c.post("/v1/fingerprint", content=text.encode("utf-8-sig"), headers=json_type)
        assert r.status_code == 200 and r.json()["campaign_id"] == CAMPAIGN, r.text


def test_ambiguous_requests_are_refused_naming_what_is_wrong(served):
    """What the service read one way without a word: two X-API-Key headers (the first
    was used), a key repeated in a JSON object (the last value won), a keyword holding
    U+001F (a space), a query string (`/v1/neighbors?n=2`: ignored)."""
    key = keys.create("twice").key
    body = json.dumps({"campaign_id": CAMPAIGN}).encode()
    with client() as (c, _):
        for pair in ((key, "tl_other"), ("tl_other", key), (key, key)):
            r = c.post("/v1/fingerprint", content=body,
                       headers=[("X-API-Key", pair[0]), ("X-API-Key", pair[1])])
            assert r.status_code == 400, (pair, r.text)
            assert "X-API-Key header is sent 2 times" in r.json()["error"]
        r = c.post("/v1/neighbors?n=2", content=body, headers={"X-API-Key": key})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == ("The query string 'n=2' is not read: the service reads "
                                     "only the JSON body, so put those fields there.")

        def sent(endpoint: str, raw: str) -> httpx.Response:
            return c.post(f"/v1/{endpoint}", content=raw.encode(),
                          headers={"X-API-Key": key, "Content-Type": "application/json"})

        for endpoint, raw, repeated in (
                ("neighbors", f'{{"campaign_id": "{CAMPAIGN}", "n": 3, "n": 50}}', "'n'"),
                ("neighbors", f'{{"campaign_id": "{CAMPAIGN}", "n": NaN, "n": 3}}', "'n'"),
                ("fingerprint", '{"items": [{"campaign_id": "C00004"}], "items": []}',
                 "'items'"),
                ("fingerprint", f'{{"items": [{{"campaign_id": "{CAMPAIGN}"}}, '
                                '{"campaign_id": "C00004", "campaign_id": "C00005"}]}',
                 "'campaign_id'"),
                ("fingerprint", '{"keywords": ["plumber: 24h"], "keywords" : ["drain"]}',
                 "'keywords'"),
                ("feedback", f'{{"campaign_id": "{CAMPAIGN}", "neighbor_id": "C00004", '
                             '"useful": true, "useful": false}', "'useful'")):
            r = sent(endpoint, raw)
            assert r.status_code == 422, (raw, r.text)
            assert f"gives the key {repeated} twice" in r.json()["error"], r.text
        # a colon inside a string is no repeated key (the body is read again to be sure)
        r = sent("fingerprint", '{"keywords": ["plumber: 24h", "drain {\\"a\\": 1}"]}')
        assert r.status_code == 200, r.text

        # U+001F inside a keyword became a space here, while Lookup and `neighbors
        # --text` refuse it: refused alike, by name. So are the other characters
        # `str.split` reads as spaces: Lookup splits a pasted text at them (a tab, a line
        # break, U+001C), but a keyword of the array is one keyword.
        with pytest.raises(InputError, match=r"Keyword 2 .* \(U\+001F\)"):
            score.split_keywords("boiler repair;emergency\x1fplumber")
        for hidden in ("\x1f", "\x1c", "\t", "\n", "\u2028"):
            typed = f"emergency{hidden}plumber"
            for endpoint in ("fingerprint", "neighbors"):
                r = post(c, endpoint, {"keywords": ["boiler repair", typed]}, key)
                assert r.status_code == 422, (hidden, r.text)
                assert r.json()["error"].startswith(
                    f"field `keywords`: keyword 2 {typed!r} holds control or invisible "
                    f"characters (U+{ord(hidden):04X})")
        # at either end they are trimmed, as Lookup trims a pasted line
        r = post(c, "fingerprint", {"keywords": ["\x1femergency plumber\n", " drain\t"]}, key)
        assert r.status_code == 200, r.text
        assert score.split_keywords("\x1femergency plumber\n;drain\t") == [
            "emergency plumber", "drain"]


def test_small_queries_answer_on_the_event_loop_which_never_waits_for_a_slot(served,
                                                                             monkeypatch):
    """Stored campaigns and short keyword lists are answered on the event loop (a thread
    hand-off cost more than the answer); suggest, batches and long lists in threads. When
    every compute slot is taken, a small query goes to a thread and waits there: the loop
    still answers /healthz and cache hits meanwhile, and the query is answered once a slot
    frees."""
    from core.serve.answers import Query
    from core.serve.service import INLINE_CHARACTERS, INLINE_KEYWORDS, inline

    stored, few = Query(campaign_id=CAMPAIGN), Query(keywords=["emergency plumber"])
    many = Query(keywords=[f"plumber {i}" for i in range(INLINE_KEYWORDS + 1)])
    long = Query(keywords=["x" * 400] * (INLINE_CHARACTERS // 400 + 1))
    assert inline("neighbors", stored) and inline("fingerprint", few)
    assert not inline("suggest", stored) and not inline("neighbors", many)
    assert not inline("neighbors", long)

    am = keys.create("am").key
    with client(compute_slots=1) as (c, gateway):
        assert post(c, "neighbors", {"campaign_id": "C00004"}, am).status_code == 200
        seen = {}
        real_answer = answers.answer

        def noting_thread(lookup, endpoint, query):
            seen[query.campaign_id] = threading.current_thread().name
            return real_answer(lookup, endpoint, query)

        monkeypatch.setattr(answers, "answer", noting_thread)  # a spy: the real answer
        assert post(c, "neighbors", {"campaign_id": CAMPAIGN}, am).status_code == 200
        assert post(c, "suggest", {"campaign_id": "C00005"}, am).status_code == 200
        assert not seen[CAMPAIGN].startswith("topiclab-answer")   # the loop's thread
        assert seen["C00005"].startswith("topiclab-answer")

        assert gateway.compute.acquire(timeout=5)      # every slot taken
        result = {}
        waiting = threading.Thread(target=lambda: result.setdefault(
            "r", post(c, "neighbors", {"campaign_id": "C00006"}, am)))
        waiting.start()
        time.sleep(0.5)
        assert "r" not in result                           # waits for the slot...
        assert c.get("/healthz").status_code == 200        # ...in a thread, not the loop
        assert post(c, "neighbors", {"campaign_id": "C00004"}, am).status_code == 200  # a hit
        gateway.compute.release()
        waiting.join(30)
        assert result["r"].status_code == 200
        assert seen["C00006"].startswith("topiclab-answer")


def test_without_a_production_model_the_service_is_up_but_not_ready(home, caplog):
    key = keys.create("early").key
    slow = keys.create("one-a-minute", rate_per_minute=1).key
    with caplog.at_level(logging.WARNING, logger="core.serve.service"), client() as (c, _):
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz", headers={"X-Request-Id": "probe-1"})
        assert r.status_code == 503 and "promote" in r.json()["problem"]
        # an error body as every other: `error` and `request_id` (it had neither)
        assert r.json()["error"] == f"Not ready: {r.json()['problem']}."
        assert r.json()["request_id"] == r.headers["X-Request-Id"] == "probe-1"
        # the start's end is said (it said nothing at all without a production model)
        assert re.search(r"scoring service: started after \d+\.\d s but not ready \(/readyz "
                         r"answers 503\): no production model: train one and promote it",
                         caplog.text), caplog.text
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert r.headers["X-Model-Id"] == "none" and "No production model" in r.json()["error"]
        # A refusal before any work costs no token: a key of 1 a minute polling a service
        # that has no model yet is told 503 each time, never 429 (the 503 took its token).
        assert [post(c, "neighbors", {"campaign_id": CAMPAIGN}, slow).status_code
                for _ in range(3)] == [503, 503, 503]


def test_while_the_models_load_requests_are_told_to_retry(served, monkeypatch, caplog):
    """Before the poller's first read a valid key was a 401 "unknown or revoked" (no key
    read yet: a client takes that as final) and /readyz said "no production model: train
    one and promote it" (loading takes seconds at 100,000 campaigns); now a 503 saying the
    service is starting, with Retry-After."""
    from core.serve import serving

    key = keys.create("early").key
    release = threading.Event()

    class SlowLookup(Lookup):
        def __init__(self, *args, **kwargs) -> None:
            release.wait(60)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(serving, "Lookup", SlowLookup)
    caplog.set_level(logging.WARNING, logger="core.serve.service")
    app = create_app(Settings(poll_s=60.0))
    with TestClient(app) as c:
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and "is starting" in r.json()["problem"], r.text
            assert "promote" not in r.json()["problem"]
            assert "is starting" in c.get("/healthz").json()["problem"]
            r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
            assert r.status_code == 503, r.text
            assert "is starting" in r.json()["error"] and r.headers["Retry-After"] == "1"
            # How long it has been loading, and a Retry-After of as long again (was "retry
            # in a few seconds" and 5 s, 21 s into the demo's start on a busy machine).
            app.state.gateway.started_at -= 20
            r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
            assert r.status_code == 503 and r.headers["Retry-After"] == "21", r.text
            assert re.fullmatch(r"Not ready: the service is starting: its models and keys are "
                                r"being loaded, for 20\.\d s so far; retry in 21 s\.",
                                r.json()["error"]), r.text
            r = c.get("/readyz")
            assert r.status_code == 503 and r.headers["Retry-After"] == "21"
            assert "for 20." in r.json()["problem"]
            assert r.json()["error"].startswith("Not ready: the service is starting")
            assert r.json()["request_id"] == r.headers["X-Request-Id"]
            app.state.gateway.started_at -= 100
            r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
            assert r.headers["Retry-After"] == "30" and "retry in 30 s or later." in \
                r.json()["error"], r.text
        finally:
            release.set()
        assert app.state.gateway.holder.first_round.wait(120)
        assert c.get("/readyz").status_code == 200
        assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code == 200
    # the end of the start is one line, with how long the load took ("now serving …" only,
    # and nothing said it was the service becoming ready)
    production = registry.alias("production")
    ready = [r.getMessage() for r in caplog.records if "ready after" in r.getMessage()]
    assert len(ready) == 1 and re.fullmatch(
        rf"scoring service: ready after \d+\.\d s, serving production={production} "
        rf"candidate=\S+", ready[0]), caplog.text
    assert "now serving" not in caplog.text


def test_a_bug_outside_the_scoring_endpoints_is_a_500_with_the_request_id(served):
    """The app's last-resort handler (a bug in /metrics, /healthz, /readyz): the same body
    as a bug in a scoring endpoint, which says where the details are (it said only
    "internal error"), the request id in it and in the header, and no trace."""
    app = create_app(Settings(poll_s=60.0))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.gateway.holder.first_round.wait(120)
        app.state.gateway.metrics.registry = None      # generate_latest(None) fails
        r = c.get("/metrics", headers={"X-Request-Id": "scrape-7"})
        assert r.status_code == 500 and "Traceback" not in r.text
        assert r.json() == {"error": "internal error; the request id is in the service's log",
                            "request_id": "scrape-7"}
        assert r.headers["X-Request-Id"] == "scrape-7"


def test_a_store_with_nothing_to_serve_is_read_once_not_every_round(home):
    """A store with no alias and no key read the same as the poller's empty start, so its
    first round swapped nothing and every round after it was a forced read (14 store
    opens in 2 s at poll_s 0.1). Its first read now ends the start, as any other does."""
    store.ensure_schema()
    holder = ModelHolder(poll_s=0.05)
    holder.start()
    try:
        assert holder.first_round.wait(30)
        time.sleep(1.0)
    finally:
        holder.stop()
    assert holder.reads == 1
    assert not holder.state.starting and holder.state.problem is None


# -- batch, cache, canary, hot reload ------------------------------------------------------------
def test_batch_answers_item_by_item(served):
    key = keys.create("batch").key
    with client() as (c, gateway):
        items = [{"campaign_id": CAMPAIGN}, {"campaign_id": "NOPE"}, {"campaign_id": CAMPAIGN,
                 "n": -1}, {"keywords": ["emergency plumber", "boiler repair"]}, "text"]
        r = post(c, "neighbors", {"items": items}, key)
        assert r.status_code == 200
        answers = r.json()["items"]
        assert [a["status"] for a in answers] == [200, 404, 422, 200, 422]
        assert r.json()["failed"] == 3
        assert "items.2.n" in answers[2]["error"] and "NOPE" in answers[1]["error"]
        assert len(answers[0]["neighbors"]) == 10 and len(answers[3]["neighbors"]) == 10
        # a failed item carries the request id, as a request's error body does (it was
        # only in the header); an answer does not
        assert [a.get("request_id") for a in answers] == [
            None, *[r.headers["X-Request-Id"]] * 2, None, r.headers["X-Request-Id"]]
        assert post(c, "neighbors", {"items": []}, key).status_code == 422
        assert gateway.writer.flush(wait_s=5) > 0
        # the items production took (the 404 too) on its row, the two not valid on a row
        # of no variant, as for a batch the canary split (they were production's here)
        logged = store.query("SELECT variant, items FROM request_log WHERE request_id = ?",
                             [r.headers["X-Request-Id"]])
        assert dict(logged.astype(object).where(logged.notna(), None).values.tolist()) == {
            "production": 3, None: 2}

        # Fingerprint batches fold pasted keywords in together: same answers as one by one.
        pastes = [["emergency plumber", "boiler repair"], ["immigration lawyer"], ["zzqqxx"],
                  ["water heater delivery", "lawn care", "qwertyuiop"]]
        items = [{"keywords": k} for k in pastes] + [{"campaign_id": CAMPAIGN}]
        sent = post(c, "fingerprint", {"items": items}, key)
        together = sent.json()["items"]
        assert together[2]["request_id"] == sent.headers["X-Request-Id"]   # folded in: 422
        gateway.cache.clear()
        for item, answer in zip(items, together, strict=True):
            alone = post(c, "fingerprint", item, key)
            assert alone.status_code == answer["status"]
            if answer["status"] == 200:
                assert {k: v for k, v in answer.items() if k not in ("index", "status")} == \
                    alone.json()
            else:
                assert answer["error"] == alone.json()["error"]
        assert [a["status"] for a in together] == [200, 200, 422, 200, 200]
        assert post(c, "neighbors", {"items": [{"campaign_id": CAMPAIGN}] * 1001},
                    key).status_code == 422


def test_token_bucket_counts_batch_items_and_lets_a_big_batch_run_into_debt():
    now = [0.0]
    bucket = throttle.TokenBucket(60, clock=lambda: now[0])    # 1 token a second, 60 max
    assert bucket.take(50) == 0                                # 10 left
    assert bucket.take(11) == pytest.approx(1.0)               # one short: a second
    assert bucket.take(10) == 0                                # 0 left
    now[0] = 60.0                                              # refilled (capped at 60)
    assert bucket.take(100) == 0                               # a full bucket: runs, -40
    assert bucket.take() == pytest.approx(41.0)                # then the key waits it off
    now[0] = 101.0
    assert bucket.take() == 0


def test_a_batch_paid_for_in_two_takes_costs_what_one_take_did():
    """The service takes one token before it reads a body and the rest of a batch once
    it has read it (`paid`): the same tokens and debt as one take, and a batch refused
    then gives its first token back."""
    now = [0.0]
    bucket = throttle.TokenBucket(60, clock=lambda: now[0])
    assert bucket.take() == 0 and bucket.take(100, paid=1) == 0     # full bucket: -40
    assert bucket.take() == pytest.approx(41.0)
    now[0] = 101.0                                                 # 60 again
    assert bucket.take(50) == 0 and bucket.take() == 0             # 10, its first: 9
    assert bucket.take(11, paid=1) == pytest.approx(1.0)           # 10 of 11: a second
    assert bucket.take(10) == 0 and bucket.take() > 0              # the 1 was given back


def test_workers_share_each_keys_bucket_and_a_new_rate_refills_it(tmp_path):
    """Two workers' limiters on one file take from one bucket per key: a key of 5 a
    minute gets 5 between them, whichever answers (each held 2.5 of it, so 2 each,
    4 in all, and 1 a minute let 1 through each worker: 2)."""
    now = [100.0]
    path = tmp_path / "rates.sqlite"
    throttle.SharedRateLimiter.create(path)
    a, b = (throttle.SharedRateLimiter(path, clock=lambda: now[0]) for _ in range(2))
    assert [w.take("odd", 5) for w in (a, b, a, b, a)] == [0] * 5
    assert b.take("odd", 5) == pytest.approx(12.0) and a.take("odd", 5) == pytest.approx(12.0)
    assert [a.take("slow", 1), b.take("slow", 1) > 0] == [0, True]
    now[0] += 12.0                                           # one token back, for either
    assert b.take("odd", 5) == 0 and a.take("odd", 5) > 0
    assert a.take("odd", 6) == 0                             # a new rate: a full bucket
    assert a.take("big", 60, 100) == 0 and b.take("big", 60) == pytest.approx(41.0)  # debt


def test_a_worker_killed_inside_a_take_leaves_no_stuck_lock(tmp_path):
    """A worker killed while it holds the shared buckets' write lock (paused inside its
    take) neither blocks the other workers nor spends a token: the kernel lets go of
    SQLite's file lock and the half-done transaction is rolled back."""
    path = tmp_path / "rates.sqlite"
    throttle.SharedRateLimiter.create(path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPICLAB_TEST_PAUSE": "rate_take:30"}
    doomed = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom core.serve.throttle import SharedRateLimiter"
         "\nSharedRateLimiter(sys.argv[1]).take('k', 2)", str(path)],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert "test pause: rate_take" in doomed.stderr.readline()
        survivor = throttle.SharedRateLimiter(path)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(survivor.take, "k", 2)
            time.sleep(0.3)
            assert not waiting.done()                        # the lock is held: it waits
            doomed.kill()
            assert waiting.result(timeout=5) == 0            # let go at the kill
        assert survivor.take("k", 2) == 0 and survivor.take("k", 2) > 0   # both tokens
    finally:
        doomed.kill()
        doomed.wait(10)


def test_shared_buckets_removed_while_serving_are_made_again_and_still_shared(
        tmp_path, caplog, monkeypatch):
    """The folder of the workers' shared buckets removed while the service runs (a
    cleaner of /tmp): a worker that opened the file after that answered every request
    503 until the service restarted, and one that had it open kept taking from its own
    unlinked copy. Now the folder is made again (this user's alone) and every worker
    moves to the new file, so they still share; a folder someone else put there (here a
    link) is refused, a 503, rather than written to."""
    monkeypatch.setattr(throttle.SharedRateLimiter, "CHECK_EVERY_S", 0.0)  # every take
    folder = tmp_path / "topiclab-serve-x"
    folder.mkdir(mode=0o700)
    path = folder / "rates.sqlite"
    throttle.SharedRateLimiter.create(path)
    a, b = throttle.SharedRateLimiter(path), throttle.SharedRateLimiter(path)
    assert [a.take("k", 2), b.take("k", 2), a.take("k", 2) > 0] == [0, 0, True]
    shutil.rmtree(folder)
    fresh = throttle.SharedRateLimiter(path)           # a worker opening it only now
    assert [fresh.take("k", 2), a.take("k", 2), b.take("k", 2) > 0] == [0, 0, True]
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
    assert "was removed while the service ran; made it again" in caplog.text
    assert "were removed while the service ran; opened again" in caplog.text
    shutil.rmtree(folder)
    folder.symlink_to(tmp_path)                        # not a folder made by the service
    with pytest.raises(throttle.RatesUnavailable, match="is not a folder of this user's"):
        throttle.SharedRateLimiter(path).take("k", 2)
    assert not (tmp_path / "rates.sqlite").exists()


def test_the_service_takes_from_the_shared_file_it_is_given(served, tmp_path):
    """`serve --workers N` gives each worker the file (TOPICLAB_SERVICE_RATES_FILE): what
    another worker took counts here; a file that cannot be opened is a 503 to retry,
    naming the limiter, not a 500 (and the request takes nothing)."""
    key = keys.create("shared", rate_per_minute=3).key
    path = tmp_path / "rates.sqlite"
    throttle.SharedRateLimiter.create(path)
    assert throttle.SharedRateLimiter(path).take("shared", 3, 2) == 0   # another worker's
    with client(rates_file=str(path)) as (c, gateway):
        assert isinstance(gateway.rates, throttle.SharedRateLimiter)
        assert [post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code
                for _ in range(2)] == [200, 429]
    (tmp_path / "a-file").write_text("")      # a folder that cannot be made
    with client(rates_file=str(tmp_path / "a-file" / "rates.sqlite")) as (c, _):
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert "rate limiter shared by the service's workers" in r.json()["error"]
    assert isinstance(Gateway(Settings()).rates, throttle.RateLimiter)   # one worker: memory


def test_a_key_whose_rate_or_role_was_written_with_plain_sql_is_refused_by_name(served):
    """`keys create` takes rates of 1 to 1,000,000 and three roles, but the columns take
    any: a rate of 0 made the key's second request a 500 (a division by zero), -5 let
    it through unthrottled, and an unknown role made its feedback a 500 (KeyError). Now
    a 403 naming the key and the stored value; the others keep working."""
    good = keys.create("good", rate_per_minute=600, role="account_manager").key
    made = {name: keys.create(name, rate_per_minute=600, role="account_manager").key
            for name in ("zero", "minus", "boss")}
    with store.transaction() as con:
        for name, column, value in (("zero", "rate_per_minute", 0),
                                    ("minus", "rate_per_minute", -5),
                                    ("boss", "role", "admin")):
            con.execute(f"UPDATE api_keys SET {column} = ? WHERE name = ?", [value, name])
        store.mark_serving_change()
    feedback = {"campaign_id": CAMPAIGN, "neighbor_id": "C00004", "useful": True}
    with client() as (c, _):
        for name, stored in (("zero", "rate of 0"), ("minus", "rate of -5"),
                             ("boss", "role 'admin'")):
            for endpoint, body in (("fingerprint", {"campaign_id": CAMPAIGN}),
                                   ("fingerprint", {"campaign_id": CAMPAIGN}),
                                   ("feedback", feedback)):
                r = post(c, endpoint, body, made[name])
                assert r.status_code == 403, (name, r.text)
                assert f"Key {name!r}" in r.json()["error"] and stored in r.json()["error"]
        assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, good).status_code == 200
        assert post(c, "feedback", feedback, good).status_code == 202


def test_a_batch_counts_its_items_against_the_keys_rate(served):
    key = keys.create("batcher", rate_per_minute=5).key
    small = keys.create("small", rate_per_minute=2).key
    with client() as (c, _):
        three = {"items": [{"campaign_id": CAMPAIGN}] * 3}
        assert post(c, "fingerprint", three, key).status_code == 200     # 5 -> 2 tokens
        r = post(c, "fingerprint", three, key)                             # needs 3
        assert r.status_code == 429 and "counts as 3" in r.json()["error"]
        assert 1 <= int(r.headers["Retry-After"]) <= 13                   # 1 token: 12 s
        assert [post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code
                for _ in range(3)] == [200, 200, 429]
        # A batch bigger than the key's rate runs on a full bucket, then the key waits
        # as long as those items take at its rate (5 items at 2 a minute: ~2 minutes).
        assert post(c, "neighbors", {"items": [{"campaign_id": CAMPAIGN}] * 5},
                    small).status_code == 200
        r = post(c, "neighbors", {"campaign_id": CAMPAIGN}, small)
        assert r.status_code == 429 and 100 <= int(r.headers["Retry-After"]) <= 121


def test_neighbour_records_equal_the_cli_table(served):
    """The service builds neighbour rows without pandas (its hot path); they must be the
    rows of the table the CLI and the app show, value for value."""
    from core.serve.answers import plain
    from core.serve.lookup import Lookup

    lookup = Lookup(served["production"])
    for i, cid in enumerate(list(lookup.index.ids_[:40])):
        options = {"exclude_account": i % 2 == 1, "min_terms": 3 if i % 3 == 0 else 0}
        floor = (0.0, 0.0, 0.3, 0.6)[i % 4]      # the same floor as the CLI's, marks too
        table = lookup.neighbors(cid, 10, **options, min_similarity=floor)
        records = lookup.neighbor_records(lookup.find_neighbors(cid, 10, **options), floor)
        assert plain(records) == plain(table.to_dict(orient="records")), cid
        if not records:
            continue
        assert list(records[0]) == list(table.columns)
        # counts are JSON numbers (DuckDB's sums are HUGEINT; they once reached JSON as text)
        assert all(isinstance(r[c], int) for r in records for c in ("clicks", "impressions")
                   if r[c] is not None), records[0]
    _, table = lookup.keyword_neighbors(["emergency plumber", "boiler repair"], 7)
    _, found = lookup.find_keyword_neighbors(["emergency plumber", "boiler repair"], 7)
    assert plain(lookup.neighbor_records(found)) == plain(table.to_dict(orient="records"))


def test_neighbors_take_the_clis_similarity_floor(served, capsys):
    """/v1/neighbors marked `similar_enough` at a fixed 0.55 and took no floor, while the
    CLI's `neighbors --min-similarity` (and the Lookup page) take one: `min_similarity`
    now leaves out those below it and marks the rest at it, the CLI's rows exactly
    (`Lookup.neighbor_floor`, shared); /v1/suggest learns only from those at or above
    it, as `suggest --min-similarity`. A floor that is not a finite number from 0 to 1
    is a 422 naming the field, and /v1/fingerprint refuses it as it refuses `n`."""
    lookup = Lookup(served["production"])
    similarities = [nb.similarity for nb in lookup.find_neighbors(CAMPAIGN, 10)]
    floor = round(float(np.median(similarities)), 3)
    assert min(similarities) < floor <= max(similarities)
    assert cli_main(["neighbors", CAMPAIGN, "--min-similarity", str(floor)]) == 0
    cli_rows = json.loads(capsys.readouterr().out)[0]["neighbors"]
    assert 0 < len(cli_rows) < 10 and all(r["similar_enough"] for r in cli_rows)
    assert cli_main(["suggest", CAMPAIGN, "--min-similarity", str(floor)]) == 0
    cli_suggest = json.loads(capsys.readouterr().out)
    key = keys.create("am", rate_per_minute=10_000).key
    with client() as (c, _):
        r = post(c, "neighbors", {"campaign_id": CAMPAIGN, "min_similarity": floor}, key)
        assert r.status_code == 200, r.text
        assert r.json()["min_similarity"] == floor
        assert r.json()["neighbors"] == answers.plain(cli_rows)
        every = post(c, "neighbors", {"campaign_id": CAMPAIGN}, key).json()
        assert len(every["neighbors"]) == 10 and every["min_similarity"] == 0
        batch = post(c, "neighbors", {"items": [{"campaign_id": CAMPAIGN,
                                                 "min_similarity": floor}]}, key).json()
        assert batch["items"][0]["neighbors"] == r.json()["neighbors"]
        suggested = post(c, "suggest", {"campaign_id": CAMPAIGN, "min_similarity": floor},
                         key).json()
        assert suggested["min_similarity"] == floor
        assert suggested["below_floor"] == cli_suggest["below_floor"] == 10 - len(cli_rows)
        # out of range, the value and the range are named (was pydantic's "Input should
        # be less than or equal to 1", and for NaN "Input should be a finite number")
        for bad, said in ((1.5, "must be a number from 0 to 1, not 1.5"),
                          (-0.1, "must be a number from 0 to 1, not -0.1"),
                          ("0.5", "must be a number, not a string"),
                          (True, "must be a number, not true")):
            r = post(c, "neighbors", {"campaign_id": CAMPAIGN, "min_similarity": bad}, key)
            assert r.status_code == 422, r.text
            assert r.json()["error"] == f"field `min_similarity`: {said}", r.text
        for literal in (b"NaN", b"Infinity", b"1e999"):  # not JSON, but Python's reader takes them
            r = c.post("/v1/neighbors", headers={"X-API-Key": key},
                       content=b'{"campaign_id": "C00003", "min_similarity": ' + literal + b"}")
            assert r.status_code == 422, r.text
            assert r.json()["error"] == ("field `min_similarity`: must be a number from 0 to "
                                         f"1, not {'NaN' if literal == b'NaN' else 'Infinity'}")
        for field_name, bad, said in (("n", 0, "a whole number from 1 to 200, not 0"),
                                      ("n", 201, "a whole number from 1 to 200, not 201"),
                                      ("min_terms", -1, "a whole number from 0 to 1,000,000, "
                                                        "not -1")):
            r = post(c, "neighbors", {"items": [{"campaign_id": CAMPAIGN, field_name: bad}]},
                     key)
            assert r.json()["items"][0]["error"] == f"field `items.0.{field_name}`: must be {said}"
        r = post(c, "fingerprint", {"campaign_id": CAMPAIGN, "min_similarity": 0.5}, key)
        assert r.status_code == 422 and "field `min_similarity`" in r.text, r.text


def test_leaving_out_the_account_of_a_campaign_without_one_is_refused(home):
    """Sony's exports have no account column: `exclude_account: true` for `akashi_brand`
    left nothing out and answered the advertiser's own `akashi_nonbrand` first, without a
    word (pasted keywords with it were already a 422; the CLI and Python said nothing
    either). Now a 422 naming the campaign, and an InputError in Python and the CLI."""
    from core.data import ingest
    from core.ops import train

    ingest.import_paths([FIXTURES / "sony"], "sony")
    model = train.train(train.TrainSpec(dataset="sony", k=3, params=FAST_PARAMS)).model_id
    deploy.promote(model, "production")
    key = keys.create("jp", rate_per_minute=10_000).key
    said = ("has no account: its export has no account column, so there is no own "
            "account to leave out; ask without leaving it out")
    refused = f"field `exclude_account`: campaign 'akashi_brand' of sony v1 {said}"
    # the CLI (through Lookup), Python and the Lookup page are told the same
    for asker in (Lookup(model), registry.campaign_model(model)):
        with pytest.raises(InputError) as err:
            asker.neighbors("akashi_brand", exclude_account=True)
        assert str(err.value).startswith("campaign 'akashi_brand' of sony v1"), err.value
        assert str(err.value).endswith(said), err.value
    with client() as (c, _):
        for endpoint in ("neighbors", "suggest"):
            r = post(c, endpoint, {"campaign_id": "akashi_brand", "exclude_account": True}, key)
            assert (r.status_code, r.json()["error"]) == (422, refused), r.text
            r = post(c, endpoint, {"items": [{"campaign_id": "akashi_brand",
                                              "exclude_account": True}]}, key)
            assert r.json()["items"][0]["error"] == refused, r.text
        r = post(c, "neighbors", {"campaign_id": "akashi_brand"}, key)
        assert r.status_code == 200 and "akashi_nonbrand" in {
            n["campaign_id"] for n in r.json()["neighbors"]}, r.text
        r = post(c, "neighbors", {"campaign_id": "no-such", "exclude_account": True}, key)
        assert r.status_code == 404, r.text


def test_a_campaign_id_with_spaces_around_it_is_the_campaign(served, capsys):
    """An import trims the ids it stores, so `" C1 "` can only mean C1: the service, the
    CLI and Python answer it as C1 (the service said 404, the CLI "No campaign ' C1 '")."""
    cid = Lookup(served["production"]).index.ids_[3]
    padded = f" {cid}\t"
    key = keys.create("am").key
    with client() as (c, _):
        for endpoint in ("fingerprint", "neighbors", "suggest"):
            plain, spaced = (post(c, endpoint, {"campaign_id": given}, key)
                             for given in (cid, padded))
            assert spaced.status_code == 200, (endpoint, spaced.text)
            assert spaced.json() == plain.json(), endpoint
        batch = post(c, "fingerprint", {"items": [{"campaign_id": padded}]}, key)
        assert batch.json()["items"][0]["campaign_id"] == cid, batch.text
        neighbor = post(c, "neighbors", {"campaign_id": cid}, key).json()["neighbors"][0]
        verdict = post(c, "feedback", {"campaign_id": padded,
                                       "neighbor_id": f" {neighbor['campaign_id']}",
                                       "useful": True}, key)
        assert verdict.status_code in (200, 202), verdict.text
        blank = post(c, "neighbors", {"campaign_id": "   "}, key)
        assert blank.status_code == 422 and "campaign_id" in blank.text, blank.text
        assert "is blank" in blank.text, blank.text
    for command in (["neighbors", "-n", "3"], ["fingerprint"], ["suggest", "-n", "3"]):
        answers = []
        for given in (cid, padded):
            assert cli_main([*command, given]) == 0, capsys.readouterr().err
            answers.append(json.loads(capsys.readouterr().out))
        assert answers[0] == answers[1], command


def test_pasted_keywords_list_their_unknown_words_as_the_cli_does(served, capsys):
    """The service answers a keyword set sorted (its cache key); the CLI reads it as given.
    Both list the unknown words through `Fingerprint.unknown_words`: distinct, the most
    frequent first, so the same keywords in any order give the same list (the CLI once
    gave `zzfoo, qqbar, zzfoo`, the service `qqbar, zzfoo, zzfoo`)."""
    given = ["zzfoo roof repair", "qqbar emergency plumber", "boiler zzfoo leak"]
    expected = ["zzfoo", "qqbar"]
    answers_ = {}
    for command in ("fingerprint", "suggest"):
        assert cli_main([command, "--text", ", ".join(given)]) == 0
        answers_[f"cli {command}"] = json.loads(capsys.readouterr().out)
    key = keys.create("am").key
    with client() as (c, _):
        for command in ("fingerprint", "suggest"):
            for order in (given, given[::-1]):
                r = post(c, command, {"keywords": order}, key)
                assert r.status_code == 200, r.text
                answers_[f"service {command} {order[0]}"] = r.json()
    for name, answer in answers_.items():
        assert answer["unknown_words"] == expected, name
    reports = {name: a["unknown"]["never_seen"] for name, a in answers_.items()}
    assert set(map(tuple, reports.values())) == {tuple(expected)}, reports
    # the whole fingerprint answer is the CLI's (it lacked the `unknown` report)
    for order in (given, given[::-1]):
        answer = answers_[f"service fingerprint {order[0]}"]
        assert answer.pop("variant") == "production"
        assert answer == answers_["cli fingerprint"]


def test_a_stored_campaigns_unknown_words_are_the_clis_or_said_not_read(served, capsys):
    """/v1/suggest of a stored campaign answered `unknown_words: []` beside an oov_share
    of 0.2 while the CLI listed them: it lists the CLI's words now. /v1/fingerprint, whose
    stored answer is a lookup ~150x cheaper than reading them, says null (not read), in
    both fields a pasted answer has (it left `unknown` out), alone and in a batch."""
    lookup = Lookup(served["production"])
    i = int(np.argmax(lookup.fingerprints.oov_share))
    campaign_id = lookup.fingerprints.campaign_ids[i]
    assert cli_main(["suggest", campaign_id]) == 0
    cli_answer = json.loads(capsys.readouterr().out)
    assert cli_answer["unknown_words"]
    key = keys.create("am").key
    with client() as (c, _):
        suggested = post(c, "suggest", {"campaign_id": campaign_id}, key).json()
        fingerprint = post(c, "fingerprint", {"campaign_id": campaign_id}, key).json()
        pasted = post(c, "fingerprint", {"keywords": ["boiler repair"]}, key).json()
        batch = post(c, "fingerprint", {"items": [{"campaign_id": "C00004"}]}, key).json()
    assert suggested["unknown_words"] == cli_answer["unknown_words"]
    assert suggested["unknown"] == cli_answer["unknown"]
    assert fingerprint["unknown_words"] is None and fingerprint["oov_share"] > 0
    assert fingerprint["unknown"] is None and list(fingerprint) == list(pasted)
    assert batch["items"][0]["unknown"] is None, batch


def test_lookup_loads_with_one_store_open_what_its_helpers_read(served, monkeypatch):
    """Loading a model (app, CLI, service) opened the store 8 times, ~30 ms each: half of
    a load on the demo (`bench/lookup_load.py`). One open now, and the same state as the
    helpers give one by one."""
    from core.data import datasets
    from core.serve import score

    Lookup(served["candidate"])          # this process's schema check and first imports
    opened = []
    open_store = store._open
    monkeypatch.setattr(store, "_open", lambda *a, **k: opened.append(1) or open_store(*a, **k))
    registry.set_topic_label(served["production"], 1, "Boilers")
    opened.clear()
    lookup = Lookup("production")
    assert len(opened) == 1
    assert lookup.model_id == served["production"]
    assert lookup.topic_names == registry.topic_names(registry.load(served["production"]))
    assert lookup.topic_names[1] == "Boilers"
    stored = score.load_fingerprints(served["production"])
    assert lookup.fingerprints.campaign_ids == stored.campaign_ids
    assert (lookup.fingerprints.weights == stored.weights).all()
    campaigns = datasets.campaigns(lookup.dataset, lookup.version, stored.campaign_ids)
    assert lookup.campaigns.equals(campaigns)
    assert lookup._counts.campaign_ids == registry.encoded_counts(lookup.model_id).campaign_ids
    opened.clear()
    assert len(lookup.neighbors(CAMPAIGN, 5)) == 5   # queries need no store either
    assert not opened


def test_batch_fingerprints_equal_one_by_one_answers(served):
    """A batch's fingerprints are rounded and ranked for all items at once; each must be
    the answer the definition gives for that item alone (weights rounded to 5 places, top
    topics as `score.top_topics`), with unknown ids and wordless lists as their errors."""
    from core.serve import answers, score
    from core.serve.lookup import Lookup

    lookup = Lookup(served["production"])
    raw = [{"campaign_id": c} for c in lookup.index.ids_[:6]] + [
        {"campaign_id": "nope"}, {"keywords": ["emergency plumber", "boiler repair"]},
        {"keywords": ["zzzz qqqq"]}, {"keywords": ["plumber"]}]
    queries = [answers.parse(answers.Query, r) for r in raw]
    batch = answers.fingerprint_many(lookup, queries)
    assert [getattr(a, "status", 200) for a in batch] == [200] * 6 + [404, 200, 422, 200]
    for query, got in zip(queries, batch, strict=True):
        if isinstance(got, answers.AnswerError):
            continue
        if query.campaign_id is not None:
            weights = lookup.fingerprints.weights[lookup.fingerprints.index_of(
                query.campaign_id)]
        else:
            weights = score.fold_in(lookup.model, query.keywords).weights
        assert got["fingerprint"] == [round(float(w), 5) for w in weights]
        assert got["top_topics"] == score.top_topics(weights, lookup.topic_names)
        assert got == answers.fingerprint_many(lookup, [query])[0]


def test_cache_hits_and_invalidation_on_promotion(served):
    key = keys.create("cache").key
    with client() as (c, gateway):
        first = post(c, "suggest", {"keywords": ["emergency plumber", "boiler  repair"]}, key)
        again = post(c, "suggest", {"keywords": ["boiler repair", "emergency plumber"]}, key)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        assert metric(c, "topiclab_cache_hits_total") == 1
        assert len(gateway.cache) == 1

        deploy.promote(served["candidate"], "production")      # as the app or CLI would
        assert gateway.holder.refresh()
        assert len(gateway.cache) == 0
        after = post(c, "suggest", {"keywords": ["emergency plumber", "boiler repair"]}, key)
        assert after.headers["X-Model-Id"] == served["candidate"]
        assert len(after.json()["fingerprint"]) == SECOND_K   # the candidate's K
        assert metric(c, "topiclab_cache_hits_total") == 1    # computed anew, not cached
        assert metric(c, "topiclab_model_reloads_total") == 1

        # Naming a topic (Topics page, CLI) reaches the answers at the next poll.
        top = after.json()["top_topics"][0]["topic"]
        registry.set_topic_label(served["candidate"], top, "Plumbing emergencies")
        assert gateway.holder.refresh()
        assert len(gateway.cache) == 0
        renamed = post(c, "suggest", {"keywords": ["emergency plumber", "boiler repair"]}, key)
        assert renamed.json()["top_topics"][0]["name"] == "Plumbing emergencies"
        assert renamed.headers["X-Model-Id"] == served["candidate"]
        assert metric(c, "topiclab_model_reloads_total") == 1   # same model, new names
        assert not gateway.holder.refresh()                      # nothing changed since


def test_the_answer_cache_keeps_to_a_byte_budget(served):
    """Answers differ a hundredfold in size: 20,000 entries of 200 neighbours each held
    about 5 GB. The cache also keeps to `cache_bytes`, dropping the least recently used."""
    cache = ResponseCache(max_entries=10, max_bytes=100)
    for key, size in (("a", 40), ("b", 40), ("a", 30), ("c", 50)):
        cache.put(key, key.upper(), size=size)
    assert (cache.get("b"), cache.get("a"), cache.get("c"), cache.bytes) == (None, "A", "C", 80)
    cache.put("huge", "H", size=101)                 # larger than the budget: not kept
    assert cache.get("huge") is None and cache.bytes == 80
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0

    key = keys.create("big", rate_per_minute=10_000).key
    ids = [f"C{i:05d}" for i in range(1, 21)]
    with client(cache_bytes=1_000_000) as (c, gateway):
        for cid in ids:
            assert post(c, "neighbors", {"campaign_id": cid, "n": 200}, key).status_code == 200
        assert 0 < gateway.cache.bytes <= 1_000_000 and 1 < len(gateway.cache) < len(ids)
        assert metric(c, "topiclab_cache_bytes") == gateway.cache.bytes
        hits = metric(c, "topiclab_cache_hits_total")
        post(c, "neighbors", {"campaign_id": ids[-1], "n": 200}, key)      # kept
        post(c, "neighbors", {"campaign_id": ids[0], "n": 200}, key)       # dropped
        assert metric(c, "topiclab_cache_hits_total") == hits + 1


def test_poller_opens_the_store_only_when_what_it_serves_changed(served):
    holder = ModelHolder(full_check_s=3600)
    assert holder.refresh(force=False)                       # the first round loads
    reads = holder.reads
    assert not holder.refresh(force=False) and holder.reads == reads
    writer = request_log.StoreWriter()                       # the service's own writes
    writer.put(request_log.Entry("r1", "neighbors", 200, 3.0))
    assert writer.flush() == 1
    assert not holder.refresh(force=False) and holder.reads == reads   # not even opened
    canary.set_percent(30)                                   # marks a serving change
    assert holder.refresh(force=False) and holder.reads == reads + 1
    assert holder.state.canary_percent == 30
    # A change made some other way (plain SQL) is seen at the next full check.
    with store.transaction() as con:
        con.execute("UPDATE service_settings SET value = 40 WHERE name = 'canary_percent'")
    assert not holder.refresh(force=False)
    holder.full_check_s = 0
    assert holder.refresh(force=False) and holder.state.canary_percent == 40
    assert holder.state.model_ids == (served["production"], served["candidate"])


def test_canary_share_is_sticky_through_the_service(served):
    key = keys.create("canary", rate_per_minute=10_000).key
    canary.set_percent(50)
    ids = [f"C{i:05d}" for i in range(1, 61)]
    with client() as (c, gateway):
        served_by = {}
        for cid in ids:
            headers = post(c, "fingerprint", {"campaign_id": cid}, key).headers
            served_by[cid] = headers["X-Model-Id"]
            assert headers["X-Variant"] == ("candidate" if served_by[cid] == served["candidate"]
                                            else "production")
        assert set(served_by.values()) == {served["production"], served["candidate"]}
        for cid in ids[:10]:
            assert post(c, "neighbors", {"campaign_id": cid}, key).headers[
                "X-Model-Id"] == served_by[cid]
        assert metric(c, "topiclab_canary_percent") == 50
        measured = metric(c, "topiclab_canary_share_measured")
        assert 0.2 < measured < 0.8

        canary.set_percent(0)
        assert gateway.holder.refresh()
        assert {post(c, "fingerprint", {"campaign_id": cid}, key).headers["X-Model-Id"]
                for cid in ids[:20]} == {served["production"]}

        # The candidate alias cleared (as promoting it to production does) with the share
        # still stored: /readyz and `canary show` said 50, as if the canary were on.
        canary.set_percent(50)
        assert gateway.holder.refresh()
        ready = c.get("/readyz").json()
        assert (ready["canary_percent"], ready["canary_percent_set"]) == (50, 50)
        with store.transaction() as con:
            con.execute("DELETE FROM aliases WHERE alias = 'candidate'")
            store.mark_serving_change()
        assert gateway.holder.refresh()
        ready = c.get("/readyz").json()
        assert ready["candidate"] is None
        assert (ready["canary_percent"], ready["canary_percent_set"]) == (0, 50)
        assert {post(c, "fingerprint", {"campaign_id": cid}, key).headers["X-Variant"]
                for cid in ids[:20]} == {"production"}
    shown = json.loads(cli("canary", "show", home=served["home"]).stdout)
    assert (shown["canary_percent"], shown["canary_percent_set"]) == (0, 50)
    assert shown["candidate"] is None and shown["set_for"] == served["candidate"]
    assert "all traffic stays on production" in shown["note"]


def test_a_pipeline_moving_the_candidate_alias_turns_the_canary_off(served):
    """The canary share was the candidate alias's, whatever model it named: a pipeline
    whose model failed the gate moved the alias to it, and the service sent that model the
    share at once. The share now belongs to the model it was set for."""
    from core.ops import pipeline

    key = keys.create("canary", rate_per_minute=10_000).key
    assert canary.set_percent(50).set_for == served["candidate"]
    ids = [f"C{i:05d}" for i in range(1, 41)]
    with client() as (c, gateway):
        assert c.get("/readyz").json()["canary_percent"] == 50
        result = pipeline.run("demo", overrides={"params": {"iterations": 3}})
        assert result.decision == "candidate", result.reason
        assert registry.alias("candidate") == result.model_id
        assert canary.get_percent() == 0
        # said where the alias moved, not only by `canary show`
        stopped = [w for w in result.warnings if "canary" in w]
        assert len(stopped) == 1 and served["candidate"] in stopped[0], result.warnings
        assert f"the candidate is now {result.model_id}" in stopped[0]
        assert any(step["step"] == "candidate" and step.get("warning") == stopped[0]
                   for step in result.steps), result.steps
        assert gateway.holder.refresh()
        ready = c.get("/readyz").json()
        assert ready["candidate"] == result.model_id
        assert (ready["canary_percent"], ready["canary_percent_set"],
                ready["canary_set_for"]) == (0, 50, served["candidate"])
        assert {post(c, "fingerprint", {"campaign_id": cid}, key).headers["X-Variant"]
                for cid in ids} == {"production"}
        shown = canary.show()
        assert (shown["canary_percent"], shown["candidate"]) == (0, result.model_id)
        assert "canary set" in shown["note"] and served["candidate"] in shown["note"]
        assert canary.set_percent(50).set_for == result.model_id   # asked for again: on
        assert gateway.holder.refresh()
        assert c.get("/readyz").json()["canary_percent"] == 50


def test_the_canary_never_sends_a_campaign_to_a_candidate_that_has_not_scored_it(served):
    """A candidate trained on another version of the data lacks some of production's
    campaigns (here: their fingerprints removed). At 100 % canary those stay on
    production, answered and taking feedback (they were 404s); the others go to the
    candidate."""
    missing, kept = "C00005", "C00006"
    with store.transaction() as con:
        con.execute("DELETE FROM fingerprints WHERE model_id = ? AND campaign_id = ?",
                    [served["candidate"], missing])
    key = keys.create("canary", rate_per_minute=10_000).key
    canary.set_percent(100)
    with client() as (c, _):
        for endpoint in ("fingerprint", "neighbors", "suggest"):
            r = post(c, endpoint, {"campaign_id": missing}, key)
            assert r.status_code == 200, r.text
            assert r.headers["X-Variant"] == "production" == r.json()["variant"]
            assert r.headers["X-Model-Id"] == served["production"]
            assert post(c, endpoint, {"campaign_id": kept}, key).headers[
                "X-Model-Id"] == served["candidate"]
        r = post(c, "fingerprint", {"items": [{"campaign_id": missing},
                                              {"campaign_id": kept}]}, key)
        assert [(i["status"], i["variant"]) for i in r.json()["items"]] == [
            (200, "production"), (200, "candidate")]
        r = post(c, "feedback", {"campaign_id": missing, "neighbor_id": kept,
                                 "useful": True}, key)
        assert r.status_code == 202 and r.json()["model_id"] == served["production"]
        assert post(c, "fingerprint", {"campaign_id": "NOPE-9"}, key).status_code == 404


def test_a_campaign_only_the_candidate_has_scored_is_answered_by_the_candidate(served):
    """The other way round: a candidate trained on a newer version of the data has
    campaigns production lacks (here: production's fingerprint removed). Whatever their
    bucket, the candidate answers them while the canary is on (was: 404 when the hash
    picked production); at 0 % the canary is off and production's 404 stands."""
    only_new, both = "C00007", "C00008"
    assert canary.bucket(canary.sticky_key(only_new)) >= 100   # 1 % picks production
    with store.transaction() as con:
        con.execute("DELETE FROM fingerprints WHERE model_id = ? AND campaign_id = ?",
                    [served["production"], only_new])
    key = keys.create("canary", rate_per_minute=10_000).key
    canary.set_percent(1)
    with client() as (c, gateway):
        for endpoint in ("fingerprint", "neighbors", "suggest"):
            r = post(c, endpoint, {"campaign_id": only_new}, key)
            assert r.status_code == 200, r.text
            assert r.headers["X-Variant"] == "candidate" == r.json()["variant"]
            assert r.headers["X-Model-Id"] == served["candidate"]
            assert post(c, endpoint, {"campaign_id": both}, key).headers[
                "X-Model-Id"] == served["production"]
        r = post(c, "fingerprint", {"items": [{"campaign_id": only_new},
                                              {"campaign_id": both}]}, key)
        assert [(i["status"], i["variant"]) for i in r.json()["items"]] == [
            (200, "candidate"), (200, "production")]
        r = post(c, "feedback", {"campaign_id": only_new, "neighbor_id": both,
                                 "useful": True}, key)
        assert r.status_code == 202 and r.json()["model_id"] == served["candidate"]

        canary.set_percent(0)
        assert gateway.holder.refresh()
        r = post(c, "fingerprint", {"campaign_id": only_new}, key)
        assert r.status_code == 404 and r.headers["X-Variant"] == "production"


def test_variant_items_count_only_answers_given(served):
    """`topiclab_variant_items_total` and the measured share count answers given: a
    request or batch item that ends in a 404 (an unknown campaign) or 422 is not an
    answer of its variant (was: counted, so unknown ids raised production's figure)."""
    key = keys.create("canary", rate_per_minute=10_000).key
    canary.set_percent(50)
    with client() as (c, _):
        for cid in ("NOPE-1", "NOPE-2", "NOPE-3"):
            assert post(c, "fingerprint", {"campaign_id": cid}, key).status_code == 404
        assert post(c, "neighbors", {"keywords": ["zzqx"]}, key).status_code == 422
        assert metric(c, "topiclab_variant_items_total", '{variant="production"}') == 0
        assert metric(c, "topiclab_variant_items_total", '{variant="candidate"}') == 0
        given = {"production": 0, "candidate": 0}
        for cid in (CAMPAIGN, "C00004", "C00005", "C00006"):
            given[post(c, "neighbors", {"campaign_id": cid}, key).headers["X-Variant"]] += 1
        for endpoint in ("fingerprint", "neighbors"):
            r = post(c, endpoint, {"items": [{"campaign_id": "C00010"}, {"campaign_id": "NO"},
                                             {"campaign_id": "C00011"}, {"n": 0}]}, key)
            for item in r.json()["items"]:
                if item["status"] == 200:
                    given[item["variant"]] += 1
            assert r.json()["failed"] == 2
        for variant, n in given.items():
            assert metric(c, "topiclab_variant_items_total", f'{{variant="{variant}"}}') == n
        assert metric(c, "topiclab_canary_share_measured") == pytest.approx(
            given["candidate"] / sum(given.values()))


def _point_candidate_at(model_id: str) -> None:
    """Move the candidate alias with plain SQL (promote refuses production as candidate),
    telling running services, as every alias change does."""
    with store.transaction() as con:
        con.execute("UPDATE aliases SET model_id = ? WHERE alias = 'candidate'", [model_id])
        store.mark_serving_change()


def test_metrics_export_the_canary_share_in_effect(served):
    """`topiclab_canary_percent` was the stored share: 50 while the candidate alias named
    another model than the one `canary set` was run for, and production took everything.
    It is the share in effect now (/readyz's `canary_percent`), the stored one beside it."""
    canary.set_percent(50)
    with client() as (c, gateway):
        assert metric(c, "topiclab_canary_percent") == 50
        assert metric(c, "topiclab_canary_percent_set") == 50
        _point_candidate_at(served["production"])
        assert gateway.holder.refresh(force=False)
        assert c.get("/readyz").json()["canary_percent"] == 0
        assert metric(c, "topiclab_canary_percent") == 0
        assert metric(c, "topiclab_canary_percent_set") == 50
        text = c.get("/metrics").text
        assert "# HELP topiclab_canary_percent Share of traffic the candidate gets now" in text


def test_a_share_stored_with_plain_sql_that_is_no_percentage_turns_the_canary_off(served):
    """`canary set` refuses NaN and 150, but the column is a DOUBLE: a NaN written with
    plain SQL made every scoring request a 500 (the split cannot round it), 150 sent
    everything to the candidate. Both read as 0 now: production answers, said in
    /readyz, /metrics and `canary show`."""
    key = keys.create("sql", rate_per_minute=10_000).key
    canary.set_percent(50)
    with client() as (c, gateway):
        for value in ("nan", "150", "-5"):
            with store.transaction() as con:
                con.execute("UPDATE service_settings SET value = CAST(? AS DOUBLE) WHERE "
                            "name = 'canary_percent'", [value])
                store.mark_serving_change()
            gateway.holder.refresh(force=False)  # changed only the first time: all are 0
            for cid in ("C00001", "C00002", "C00003", "C00004", "C00005", "C00006"):
                r = post(c, "fingerprint", {"campaign_id": cid}, key)
                assert r.status_code == 200, (value, r.text)
                assert r.headers["X-Variant"] == "production", value
            ready = c.get("/readyz").json()
            assert (ready["canary_percent"], ready["canary_percent_set"]) == (0, 0), value
            assert metric(c, "topiclab_canary_percent") == 0
            assert canary.show()["canary_percent"] == 0


def test_a_candidate_that_cannot_load_leaves_production_serving_and_says_so(served):
    """A candidate whose folder was damaged after `canary set` (here a truncated
    counts.npz, which raises zipfile's own error) was: at start, no model loaded at all
    (every answer 503); while running, the old candidate kept answering as the candidate
    and no reload was applied after it (a new key stayed 401). Now production answers
    everything, /healthz, /readyz and /metrics name the model, and it is served once
    repaired."""
    production, candidate = served["production"], served["candidate"]
    canary.set_percent(100)          # before the damage: `canary set` refuses it after
    counts = registry.model_dir(candidate) / "counts.npz"
    saved = counts.read_bytes()
    counts.write_bytes(saved[:1000])
    key = keys.create("canary", rate_per_minute=10_000).key
    ids = [f"C{i:05d}" for i in range(1, 21)]

    def all_on_production(c: TestClient) -> None:
        for cid in ids:
            r = post(c, "fingerprint", {"campaign_id": cid}, key)
            assert r.status_code == 200, r.text
            assert (r.headers["X-Variant"], r.headers["X-Model-Id"]) == ("production",
                                                                          production)

    def says_so(c: TestClient) -> None:
        for path in ("/healthz", "/readyz"):
            problem = c.get(path).json()["problem"]
            assert f"candidate {candidate} cannot be loaded" in problem, problem
            assert "BadZipFile" in problem
        assert metric(c, "topiclab_model", f'{{alias="candidate",model_id="{candidate}"}}'
                      ) == 0
        assert metric(c, "topiclab_model", f'{{alias="production",model_id="{production}"}}'
                      ) == 1

    with client() as (c, gateway):                  # damaged before the service started
        assert c.get("/readyz").status_code == 200
        assert gateway.holder.state.candidate is None
        all_on_production(c)
        says_so(c)
        late = keys.create("late").key              # later changes are still applied
        assert gateway.holder.refresh(force=False)
        assert post(c, "fingerprint", {"campaign_id": ids[0]}, late).status_code == 200

    _point_candidate_at(production)
    with client() as (c, gateway):                  # damaged while another candidate served
        assert gateway.holder.state.candidate.model_id == production
        _point_candidate_at(candidate)
        assert gateway.holder.refresh(force=False)
        assert gateway.holder.state.candidate is None   # not the old one, as if the new
        all_on_production(c)
        says_so(c)

        counts.write_bytes(saved)                   # repaired: served at the next check
        assert gateway.holder.refresh()
        assert c.get("/readyz").json()["problem"] is None
        assert c.get("/healthz").json()["problem"] is None
        assert post(c, "fingerprint", {"campaign_id": ids[0]}, key).headers[
            "X-Model-Id"] == candidate
        assert metric(c, "topiclab_model", f'{{alias="candidate",model_id="{candidate}"}}'
                      ) == 1


def test_a_model_that_cannot_load_is_tried_again_with_back_off(served, caplog):
    """A candidate that cannot be loaded was read again (seconds of CPU at 100,000
    campaigns) and logged at every full check, every 10 s; now after 10 s, then twice as
    long each time up to 10 minutes, and at once when its folder changes."""
    candidate = served["candidate"]
    counts = registry.model_dir(candidate) / "counts.npz"
    saved = counts.read_bytes()
    counts.write_bytes(saved[:1000])
    now = [0.0]
    holder = ModelHolder(full_check_s=10.0, clock=lambda: now[0])
    caplog.set_level("WARNING", logger="core.serve.serving")

    def tries() -> int:
        return sum(f"candidate {candidate} cannot be loaded" in r.getMessage()
                   for r in caplog.records)

    assert holder.refresh()
    assert holder.state.candidate is None and tries() == 1
    for second in range(10, 1201, 10):              # 20 minutes of full checks
        now[0] = second
        holder.refresh(force=False)
    # tried at 0, 10, 30, 70, 150, 310, 630 and 1,230 s: not 121 times
    assert 6 <= tries() <= 8, tries()
    assert f"candidate {candidate} cannot be loaded" in holder.state.problem
    counts.write_bytes(saved)                       # repaired: tried at the next check
    now[0] += 10
    assert holder.refresh(force=False)
    assert holder.state.candidate.model_id == candidate and holder.state.problem is None


def test_request_log_and_feedback_wait_for_a_busy_store_without_slowing_requests(served):
    key = keys.create("logger", rate_per_minute=10_000).key
    with client() as (c, gateway):
        assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code == 200
        with store_locked():                   # another process holds the write lock
            latencies = []
            for i in range(10):
                started = time.perf_counter()
                r = post(c, "neighbors", {"campaign_id": f"C{i + 1:05d}"}, key)
                latencies.append(time.perf_counter() - started)
                assert r.status_code == 200
            r = post(c, "feedback", {"campaign_id": CAMPAIGN, "neighbor_id": "C00004",
                                     "useful": True}, key)
            assert r.status_code == 202        # queued, not yet written: it says so
            assert r.json()["queued"] is True and "recorded" not in r.json()
            assert max(latencies) < 2.0, latencies            # nobody waited on the lock
            assert gateway.writer.flush() == 0 and gateway.writer.backlog > 0
    # Leaving the client stopped the service, which wrote what was queued.
    logged = store.query("SELECT endpoint, status, model_id, variant, key_name "
                         "FROM request_log")
    assert len(logged) == 12
    assert set(logged["key_name"]) == {"logger"} and set(logged["variant"]) == {"production"}
    feedback = store.query("SELECT * FROM neighbor_feedback")
    assert feedback[["model_id", "campaign_id", "neighbor_id", "useful"]].values.tolist() == [
        [served["production"], CAMPAIGN, "C00004", True]]
    assert audit.entries(limit=1, action="feedback").iloc[0]["actor"] == "api-key:logger"
    traffic = request_log.traffic()
    row = traffic[traffic["variant"] == "production"].iloc[0]
    assert row["requests"] == 12 and row["errors"] == 0 and row["p95_ms"] >= row["p50_ms"]
    assert row["verdicts"] == 1 and row["acceptance_rate"] == 1.0


def test_a_flood_of_bad_keys_is_logged_at_a_bounded_rate_and_counted(served):
    """Every 401 was queued for the request log: a flood of bad keys filled the queue
    (entries of real requests dropped past its size) and then the log's row cap, whose
    pruning deleted the real traffic's history. Requests refused before a key is known
    are now logged at most `unkeyed_log_per_minute`, the rest counted in /metrics (and in
    `topiclab_requests_total`, as before); requests with a key are all logged."""
    key = keys.create("real", rate_per_minute=10_000).key
    with client(unkeyed_log_per_minute=5, log_queue=12) as (c, gateway):
        for i in range(30):
            r = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, f"tl_guess{i}" if i % 2
                     else None)
            assert r.status_code == 401, r.text
        for _ in range(3):
            assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code == 200
        assert metric(c, "topiclab_request_log_unlogged_total") == 25
        assert metric(c, "topiclab_request_log_dropped_total") == 0
        assert metric(c, "topiclab_requests_total",
                      '{endpoint="fingerprint",model="none",status="401"}') == 30
        gateway.writer.flush()
    logged = store.query("SELECT status, coalesce(key_name, '-') AS key_name, count(*) AS n "
                         "FROM request_log GROUP BY ALL ORDER BY status")
    assert logged.values.tolist() == [[200, "real", 3], [401, "-", 5]]


def test_a_batch_both_variants_answered_is_logged_per_variant(served):
    """A batch split by the canary is a request-log row per variant, with that variant's
    model, items and cache hits, so the A/B figures include batch items by variant (was:
    one `mixed` row of both models), and a row of no variant with the items not valid
    (they were on no row, so the rows did not add up to the batch); `totals` counts it
    once, and a `mixed` row stored before is still read."""
    key = keys.create("batcher", rate_per_minute=10_000).key
    canary.set_percent(50)
    ids = [f"C{i:05d}" for i in range(1, 21)]
    with client() as (c, _):
        singles = {"production": 0, "candidate": 0}
        for cid in ids[:4]:                                  # cached: hits in the batch
            r = post(c, "fingerprint", {"campaign_id": cid}, key)
            assert r.status_code == 200
            singles[r.headers["X-Variant"]] += 1
        r = post(c, "fingerprint", {"items": [{"campaign_id": cid} for cid in ids]
                                    + [{"campaign_id": "NOPE-1"}, {"campaign_id": 7},
                                       {"n": 3}]}, key)
        assert r.status_code == 200 and r.json()["failed"] == 3
        batch_id = r.headers["X-Request-Id"]
        # both variants in the headers, in the order they first answered (docs/service.md)
        first = {i["variant"]: i["model_id"] for i in reversed(r.json()["items"][:20])}
        order = sorted(first, key=[i["variant"] for i in r.json()["items"][:20]].index)
        assert r.headers["X-Variant"] == ", ".join(order) and len(order) == 2, r.headers
        assert r.headers["X-Model-Id"] == ", ".join(first[v] for v in order), r.headers
        items = r.json()["items"][:-2]                        # the two items not valid
    expected = {None: (None, 2, 0)}                          # no variant took them
    for item in items:
        variant = item.get("variant", "production")          # the 404 was production's
        model, n, hits = expected.get(variant, (item.get("model_id"), 0, 0))
        expected[variant] = (model or served[variant], n + 1,
                             hits + (item.get("campaign_id") in ids[:4]))
    assert set(expected) == {"production", "candidate", None}
    rows = store.query("SELECT variant, model_id, items, cache_hits, status, logged_at "
                       "FROM request_log WHERE request_id = ?", [batch_id])
    rows = rows.astype(object).where(rows.notna(), None)
    assert {v: (m, n, h) for v, m, n, h in rows[["variant", "model_id", "items",
                                                 "cache_hits"]].values.tolist()} == expected
    assert rows["items"].sum() == len(ids) + 3               # the rows add up to the batch
    assert set(rows["status"]) == {200} and rows["logged_at"].nunique() == 1
    assert request_log.totals() == {200: 5}                 # 4 single requests + the batch

    with store.transaction() as con:                         # a row logged before the fix
        con.execute("INSERT INTO request_log VALUES (?, 'old', 'fingerprint', 200, ?, "
                    "'mixed', 5.0, 'batcher', 7, 0)",
                    [audit.now(), f"{served['production']}, {served['candidate']}"])
    traffic = {row["variant"]: row for row in request_log.traffic().to_dict("records")}
    for variant in ("production", "candidate"):      # the A/B page: variants only
        model, n, hits = expected[variant]
        assert traffic[variant]["model_id"] == model
        assert traffic[variant]["requests"] == singles[variant] + 1
        assert int(traffic[variant]["items"]) == n + singles[variant]
        assert int(traffic[variant]["cache_hits"]) == hits
    assert int(traffic["mixed"]["items"]) == 7
    assert request_log.totals() == {200: 6}


# -- what reaches a running service, and what a request may not do -------------------------------
BRAND_ACCOUNT, LEAKY = "Atlas Partners Immigration Law", "C00124"   # "Green Cards - Dallas"


def _kinds(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["kind"] for a in response.json()["actions"]]


def test_a_brand_list_change_reaches_the_running_service(served):
    """`brands set` / `brands clear` mark a serving change: the poller reads the lists,
    rebuilds the served models' brand index and clears the cache, so /v1/suggest answers
    as the CLI does (this account has brand campaigns: "green card" in a non-brand one
    is a leak)."""
    key = keys.create("brands", rate_per_minute=10_000).key
    body = {"campaign_id": LEAKY}
    with client() as (c, gateway):
        assert "brand_leak" not in _kinds(post(c, "suggest", body, key))
        before = store.serving_generation()
        brand_lists.set_brand_list(BRAND_ACCOUNT, ["green card"])
        assert store.serving_generation() != before
        assert gateway.holder.refresh(force=False)
        assert "brand_leak" in _kinds(post(c, "suggest", body, key))
        assert "brand_leak" in [a.kind for a in Lookup(served["production"]).campaign(
            LEAKY).suggestions.actions]                      # what the CLI says
        brand_lists.clear_brand_list(BRAND_ACCOUNT)
        assert gateway.holder.refresh(force=False)
        assert "brand_leak" not in _kinds(post(c, "suggest", body, key))
        assert not gateway.holder.refresh(force=False)        # nothing changed since


def test_a_currency_change_reaches_the_running_service(served):
    """`set_currency` (Explore's currency setting) marks a serving change: the served
    models quote amounts in the new currency and the cache is cleared. /v1/suggest kept
    quoting the currency the model was loaded with (here none) until a restart."""
    from core.data import datasets

    key = keys.create("currency", rate_per_minute=10_000).key
    body = {"campaign_id": CAMPAIGN}

    def negatives(response: httpx.Response) -> str:
        assert response.status_code == 200, response.text
        return next(a["reason"] for a in response.json()["actions"]
                    if a["kind"] == "add_negatives")

    with client() as (c, gateway):
        assert re.search(r"spent \d+\.\d\d \(", negatives(post(c, "suggest", body, key)))
        dataset = gateway.holder.state.production.dataset
        datasets.set_currency(dataset, "JPY")
        assert gateway.holder.refresh(force=False)
        assert re.search(r"spent [\d,]+ JPY \(", negatives(post(c, "suggest", body, key)))
        datasets.set_currency(dataset, "EUR")
        assert gateway.holder.refresh(force=False)
        assert re.search(r"spent \d+\.\d\d EUR \(", negatives(post(c, "suggest", body, key)))
        assert not gateway.holder.refresh(force=False)        # nothing changed since


def test_an_answer_computed_on_a_replaced_snapshot_is_not_cached(served, monkeypatch):
    """A topic renamed while a request computes on the old snapshot: its answer (old names)
    is sent but not cached after the poller cleared the cache, so the next request gets the
    new name. The rename lands between the snapshot and the cache write, deterministically."""
    key = keys.create("renames", rate_per_minute=10_000).key
    real = answers.fingerprint_many
    with client() as (c, gateway):
        for cid, batch in (("C00004", False), ("C00005", True)):
            body = {"items": [{"campaign_id": cid}]} if batch else {"campaign_id": cid}
            top = post(c, "fingerprint", {"campaign_id": cid}, key).json()["top_topics"][0]
            gateway.cache.clear()
            name = f"Renamed in flight {cid}"

            def rename_meanwhile(lookup, queries, topic=top["topic"], name=name):
                answer = real(lookup, queries)         # on the request's (old) snapshot
                registry.set_topic_label(served["production"], topic, name)
                assert gateway.holder.refresh(force=False)
                return answer

            monkeypatch.setattr(answers, "fingerprint_many", rename_meanwhile)
            stale = post(c, "fingerprint", body, key).json()
            monkeypatch.setattr(answers, "fingerprint_many", real)
            again = post(c, "fingerprint", body, key).json()
            if batch:
                stale, again = stale["items"][0], again["items"][0]
            assert stale["top_topics"][0]["name"] == top["name"] != name   # the race
            assert again["top_topics"][0]["name"] == name


def test_suggest_never_reads_the_store_and_a_busy_store_is_503(served, monkeypatch):
    """The brand index is built by the loader, not by the first suggest: with the store's
    lock held by another process, suggest answers at once. Should a request still need the
    store, a busy store is 503 with Retry-After, not 500."""
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "1")
    key = keys.create("busy", rate_per_minute=10_000).key
    with client() as (c, gateway), store_locked():
        r = post(c, "suggest", {"campaign_id": CAMPAIGN}, key)   # reading the store: 503
        assert r.status_code == 200, r.text
        gateway.holder.state.production.forget_brands()   # as if it were never built
        r = post(c, "suggest", {"campaign_id": "C00004"}, key)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert "busy" in r.json()["error"]


def test_deeply_nested_json_is_422_and_refused_bodies_cost_one_token(served):
    """JSON nested deeper than the parsers go is a bad body (422), not a crash. A batch
    refused with 422, or `items` sent to feedback, counts as one request on the key's rate,
    and so does a body that is no JSON (its token is taken before the body is read);
    feedback says it takes one verdict (it listed every verdict field as missing)."""
    batcher = keys.create("nested", rate_per_minute=5).key
    am = keys.create("feedback-items", rate_per_minute=3).key
    many = [{"campaign_id": CAMPAIGN}] * 3
    with client() as (c, _):
        for depth in (1100, 5000):                                       # 5 -> 3 tokens
            r = c.post("/v1/fingerprint", content=b"[" * depth + b"]" * depth,
                       headers={"X-API-Key": batcher, "Content-Type": "application/json"})
            assert r.status_code == 422 and "not valid JSON" in r.json()["error"], r.text
        r = post(c, "fingerprint", {"items": many, "n": 5}, batcher)     # 3 -> 2 tokens
        assert r.status_code == 422 and "only `items`" in r.json()["error"]
        r = post(c, "feedback", {"items": many}, am)                       # 3 -> 2 tokens
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith("/v1/feedback takes one verdict per request, "
                                            '`{"campaign_id", "neighbor_id", "useful"}`, not '
                                            "a batch (`items`)"), r.text
        for key in (batcher, am):
            assert post(c, "fingerprint", {"items": many[:2]}, key).status_code == 200
            assert post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).status_code == 429


async def _asgi_post(app, key: str, parts: list[bytes], stall_s: float = 0.0,
                     endpoint: str = "fingerprint", hang_up_s: float = 3600.0,
                     cut: bool = False, sent: list[dict] | None = None) -> tuple[int, dict]:
    """POST /v1/`endpoint` straight to the ASGI app, the body in `parts`, the client
    stalling `stall_s` before its last part (as a client that hangs half-way), and
    hanging up `hang_up_s` after the start once it has sent it all; `cut`: its last part
    says more is coming, as a client that hangs up half-way through its body. `sent`
    gets the app's ASGI messages."""
    parts = list(parts)
    sent = [] if sent is None else sent
    hang_up_at = time.monotonic() + hang_up_s

    async def receive() -> dict:
        if len(parts) == 1 and stall_s:
            await asyncio.sleep(stall_s)
        if not parts:                       # nothing more: quiet until it hangs up
            if time.monotonic() < hang_up_at:   # (a check once it has, as uvicorn's,
                await asyncio.sleep(hang_up_at - time.monotonic())   # does not wait)
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts) or cut}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": f"/v1/{endpoint}",
             "raw_path": f"/v1/{endpoint}".encode(), "query_string": b"", "root_path": "",
             "headers": [(b"x-api-key", key.encode()), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_a_big_batch_answer_is_encoded_off_the_event_loop_and_written_in_blocks(
        served, monkeypatch):
    """A 1,000-item batch of 200 neighbours each (105 MB) was encoded by one call on the
    event loop and written at once: other clients' requests waited 0.35-1.3 s
    (bench/serve_big_answer.py). Now it is encoded in the batch's thread, item by item,
    and written block by block with its Content-Length; the bytes are the same."""
    from core.serve import service

    monkeypatch.setattr(service, "ANSWER_BLOCK", 20_000, raising=False)  # blocks here
    encoded_on = []
    encode = service.encode
    monkeypatch.setattr(service, "encode", lambda body: encoded_on.append(
        threading.current_thread()) or encode(body))
    key = keys.create("big", rate_per_minute=10_000).key
    app = create_app(Settings(poll_s=60.0))
    gateway = app.state.gateway
    gateway.start()
    ids = list(Lookup(served["production"]).index.ids_[:12])
    items = [{"campaign_id": cid, "n": 40} for cid in ids] + [{"campaign_id": "NOPE"}]
    sent: list[dict] = []
    try:
        assert gateway.holder.first_round.wait(120)
        status, answer = asyncio.run(_asgi_post(
            app, key, [json.dumps({"items": items}).encode()], endpoint="neighbors",
            sent=sent))
    finally:
        gateway.stop()
    assert status == 200 and (answer["count"], answer["failed"]) == (13, 1)
    assert [len(a.get("neighbors", [])) for a in answer["items"]] == [40] * 12 + [0]
    blocks = [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]
    whole = b"".join(blocks)
    assert len(blocks) > 5 and max(map(len, blocks)) < 2 * 20_000 + 10_000
    assert whole == encode(answer)                 # what one call over the answer wrote
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert dict(start["headers"])[b"content-length"] == str(len(whole)).encode()
    assert encoded_on and threading.main_thread() not in encoded_on   # the loop's thread


def test_a_big_body_is_decoded_off_the_event_loop(served, monkeypatch):
    """A 2.7 MB batch whose keywords hold colons is read a second time by the standard
    library (to refuse a repeated key): 160 ms on the event loop, which answered nobody
    else meanwhile. A body over 64 KB is decoded in a thread now, with the same answers
    and refusals; a small one still on the loop (a thread costs more than it)."""
    from core.serve import service

    decoded_on = []
    decode = service.decode_json
    monkeypatch.setattr(service, "decode_json", lambda body: decoded_on.append(
        (len(body), threading.current_thread())) or decode(body))
    key = keys.create("big-body", rate_per_minute=100_000).key
    app = create_app(Settings(poll_s=60.0))
    gateway = app.state.gateway
    gateway.start()
    pasted = {"keywords": [f"boiler repair {i}: emergency" for i in range(100)]}
    big = json.dumps({"items": [pasted] * 1001}).encode()
    repeated = big[:-1] + b', "items": []}'
    small = json.dumps({"campaign_id": CAMPAIGN}).encode()

    async def scenario() -> list[tuple[int, dict]]:
        return [await _asgi_post(app, key, [body]) for body in (big, repeated, small)]

    try:
        assert gateway.holder.first_round.wait(120)
        (status, answer), (twice, said), (ok, _) = asyncio.run(scenario())
    finally:
        gateway.stop()
    assert status == 422 and "not 1,001 items" in answer["error"], answer
    assert twice == 422 and "gives the key 'items' twice" in said["error"], said
    assert ok == 200
    assert [size for size, _ in decoded_on] == [len(big), len(repeated), len(small)]
    assert [thread is threading.main_thread() for _, thread in decoded_on] == [
        False, False, True]


def test_a_body_of_millions_of_json_objects_is_refused_unread(served, monkeypatch):
    """4 MB of `{"a":{}}` items took orjson 0.65-1.6 s holding the GIL, so the event loop
    answered nobody (not even /healthz) meanwhile, though no valid body holds more than
    2,002 objects and arrays: such a body is now counted (numpy, brackets inside strings
    left out) and refused unread. Keywords holding brackets and escaped quotes are no
    objects, however many."""
    from core.serve import service
    from core.serve.service import MAX_CONTAINERS, containers

    with monkeypatch.context() as scan_all:       # the scan itself, on a small body
        scan_all.setattr(service, "MAX_CONTAINERS", 0)
        assert containers(b'{"a": "[{", "b": [1, {"c": "\\"[{\\\\"}]}') == 3
        assert containers(b'["\\\\", {}, "\\\\\\"{["]') == 2
    key = keys.create("many", rate_per_minute=100_000).key
    hostile = b'{"items":[' + b",".join([b'{"a":{}}'] * 300_000) + b"]}"
    quoted_words = [f'say \\"[boiler {i}]\\" {{repair}}' for i in range(1000)]
    bracketed = json.dumps({"items": [{"keywords": quoted_words}] * 6}).encode()
    assert bracketed.count(b"[") + bracketed.count(b"{") > MAX_CONTAINERS
    with client() as (c, _):
        r = c.post("/v1/fingerprint", content=hostile, headers={"X-API-Key": key})
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith("The body holds 600,002 JSON objects and arrays; "
                                            "a valid one holds at most 2,002"), r.text
        r = c.post("/v1/fingerprint", content=bracketed, headers={"X-API-Key": key})
        assert r.status_code == 200 and r.json()["failed"] == 0, r.text


def test_a_body_that_stops_arriving_gives_up_its_slot_in_time(served):
    """A client that stops sending its body half-way is answered 408 after
    `body_timeout_s` and frees its in-flight slot (32 of them held every slot for as long
    as they stayed connected, the service answering everyone else 503)."""
    key = keys.create("trickle", rate_per_minute=10_000).key
    app = create_app(Settings(poll_s=60.0, max_in_flight=1, body_timeout_s=0.5))
    gateway = app.state.gateway
    gateway.start()
    whole = json.dumps({"campaign_id": CAMPAIGN}).encode()

    async def scenario() -> list[tuple[int, dict]]:
        stalled = asyncio.create_task(_asgi_post(app, key, [whole[:10], whole[10:]], 30))
        await asyncio.sleep(0.1)
        meanwhile = await _asgi_post(app, key, [whole])     # the one slot is taken
        started = time.monotonic()
        timed_out = await stalled
        assert time.monotonic() - started < 2
        return [meanwhile, timed_out, await _asgi_post(app, key, [whole])]

    try:
        assert gateway.holder.first_round.wait(120)
        (busy, _), (status, body), (after, answer) = asyncio.run(scenario())
    finally:
        gateway.stop()
    assert busy == 503
    assert status == 408 and "did not arrive within 0.5 s (10 bytes came)" in body["error"]
    assert after == 200 and answer["campaign_id"] == CAMPAIGN


def test_a_bad_key_is_told_so_while_every_slot_is_taken(served):
    """The key is checked before the request takes an in-flight slot: a wrong or missing
    key took one first, so while the slots were full it was told 503 "retry shortly" (and
    retried) rather than that its key is bad. A flood of them holds no slot (the check
    never awaits), and a good key still finds none while they are full."""
    good = keys.create("holder", rate_per_minute=10_000).key
    app = create_app(Settings(poll_s=60.0, max_in_flight=1))
    gateway = app.state.gateway
    gateway.start()
    whole = json.dumps({"campaign_id": CAMPAIGN}).encode()

    async def scenario() -> tuple:
        held = asyncio.create_task(_asgi_post(app, good, [whole[:5], whole[5:]], 1.5))
        await asyncio.sleep(0.2)
        assert gateway.limit.in_flight == 1          # the one slot, while its body trickles
        refused = await asyncio.gather(*(_asgi_post(app, bad, [whole])
                                         for bad in ("tl_wrong", "") * 20))
        taken = gateway.limit.in_flight
        busy = await _asgi_post(app, good, [whole])
        return refused, taken, busy, await held

    try:
        assert gateway.holder.first_round.wait(120)
        refused, taken, (busy, busy_body), (held, answer) = asyncio.run(scenario())
    finally:
        gateway.stop()
    assert [status for status, _ in refused] == [401] * 40, refused[:2]
    assert {body["error"].split(":")[0] for _, body in refused} == {
        "API key unknown or revoked", "API key missing"}
    assert all(body["request_id"] for _, body in refused)
    assert taken == 1                               # none of the 40 held a slot
    assert busy == 503 and busy_body["error"] == (
        "More than 1 request is in flight; retry shortly."), busy_body
    assert held == 200 and answer["campaign_id"] == CAMPAIGN


def test_a_key_over_its_rate_is_refused_before_its_body_is_read(served):
    """The key's first token is taken before the body is read: a key over its rate whose
    client sends its headers and then trickles its body is refused (429) at once, and
    holds no in-flight slot meanwhile. Its body was read first (30 s allowed), holding a
    slot, so with 32 such clients every other key got 503. Measured against a real
    uvicorn (TOPICLAB_SERVICE_MAX_IN_FLIGHT=1, headers then 5 bytes): another key's
    request got 503 `More than 1 requests are in flight` while it trickled."""
    over = keys.create("over", rate_per_minute=1).key
    other = keys.create("other", rate_per_minute=10_000).key
    app = create_app(Settings(poll_s=60.0, max_in_flight=1))
    gateway = app.state.gateway
    gateway.start()
    whole = json.dumps({"campaign_id": CAMPAIGN}).encode()

    async def scenario() -> tuple:
        spent = await _asgi_post(app, over, [whole])
        started = time.monotonic()
        trickled = asyncio.create_task(_asgi_post(app, over, [whole[:5], whole[5:]], 5))
        await asyncio.sleep(0.2)
        meanwhile = await _asgi_post(app, other, [whole])
        refused = await trickled
        return spent, refused, time.monotonic() - started, meanwhile

    try:
        assert gateway.holder.first_round.wait(120)
        (first, _), (status, body), seconds, (meanwhile, _) = asyncio.run(scenario())
    finally:
        gateway.stop()
    assert first == 200
    assert status == 429 and "over its rate of 1 request a minute; retry in" in body["error"], body
    assert seconds < 2                                    # not after its 5 s body
    assert meanwhile == 200                               # the one slot was free


def test_a_client_that_hangs_up_during_its_body_is_no_server_error(served, caplog):
    """A client that closed the connection half-way through its body was logged as an
    unhandled error with starlette's ClientDisconnect trace and counted as a 500 (the
    A/B page's server errors); now a 499, as a batch whose client hangs up."""
    key = keys.create("hang-up", rate_per_minute=10_000).key
    app = create_app(Settings(poll_s=60.0))
    gateway = app.state.gateway
    gateway.start()
    whole = json.dumps({"campaign_id": CAMPAIGN}).encode()
    try:
        assert gateway.holder.first_round.wait(120)
        status, body = asyncio.run(_asgi_post(app, key, [whole[:10]], hang_up_s=0.1, cut=True))
        after = asyncio.run(_asgi_post(app, key, [whole]))[0]
        assert gateway.limit.in_flight == 0
    finally:
        gateway.stop()
    assert status == 499, body
    assert body["error"] == ("The client closed the connection before its body arrived "
                             "whole (10 bytes came).")
    assert after == 200
    assert "Traceback" not in caplog.text and "failed (request" not in caplog.text
    logged = store.query("SELECT status FROM request_log ORDER BY logged_at")
    assert logged["status"].tolist() == [499, 200]


def test_a_batch_stops_when_its_client_hangs_up(served):
    """A client that hangs up (timed out, say) while its batch is computed: the batch
    stops at its next item and frees its slots, logged as 499 (was: computed to the end,
    ~80 ms an item for suggest on the demo, minutes for 1,000 items, and a client that
    retried started another). A client that waits gets every item."""
    key = keys.create("impatient", rate_per_minute=100_000).key
    app = create_app(Settings(poll_s=60.0, compute_slots=1))
    gateway = app.state.gateway
    gateway.start()
    ids = [f"C{i:05d}" for i in range(1, 301)]
    batch = json.dumps({"items": [{"campaign_id": c} for c in ids]}).encode()
    small = json.dumps({"items": [{"campaign_id": c} for c in ids[:3]]}).encode()
    try:
        assert gateway.holder.first_round.wait(120)
        started = time.monotonic()
        status, body = asyncio.run(_asgi_post(app, key, [batch], endpoint="suggest",
                                              hang_up_s=0.5))
        took = time.monotonic() - started
        computed = gateway.cache.misses
        assert gateway.limit.in_flight == 0
        waited = asyncio.run(_asgi_post(app, key, [small], endpoint="suggest"))
    finally:
        gateway.stop()
    assert status == 499 and "closed the connection" in body["error"], body
    assert 0 < computed < len(ids) / 2 and took < 5, (computed, took)
    assert waited[0] == 200 and [i["status"] for i in waited[1]["items"]] == [200] * 3
    logged = store.query("SELECT status, sum(items)::INT AS items, count(*) FILTER (WHERE "
                         "variant IS NULL) AS not_reached FROM request_log GROUP BY "
                         "request_id, status ORDER BY min(logged_at)")
    # the items not reached are on a row of no variant: the rows add up to the batch
    assert logged.values.tolist()[-2:] == [[499, len(ids), 1], [200, 3, 0]]


def test_request_log_keeps_30_days_and_a_row_cap_pruned_by_the_writer(home):
    old = audit.now() - timedelta(days=31)
    # At most 2 rows per pruning transaction and 2 transactions per round: the 6 rows to
    # go take two rounds, and the store is free between any two transactions.
    writer = request_log.StoreWriter(keep_days=30, keep_rows=5, prune_every_s=3600,
                                     prune_chunk=2, prune_chunks=2)
    for i in range(3):
        assert writer.put(request_log.Entry(f"old{i}", "neighbors", 200, 5.0, logged_at=old))
    for i in range(8):
        assert writer.put(request_log.Entry(f"new{i}", "neighbors", 200, 5.0,
                                            logged_at=audit.now() + timedelta(minutes=i)))
    assert store.query_one("SELECT count(*) FROM request_log")[0] == 0   # put never writes
    assert writer.flush() == 11
    assert writer.pruned == 4                               # 2 transactions of 2 rows
    kept = store.query("SELECT request_id FROM request_log ORDER BY logged_at")
    assert kept["request_id"].tolist() == ["new1", *[f"new{i}" for i in range(2, 8)]]
    assert writer.flush() == 0 and writer.pruned == 6       # the rest on the next round
    kept = store.query("SELECT request_id FROM request_log ORDER BY logged_at")
    assert kept["request_id"].tolist() == [f"new{i}" for i in range(3, 8)]  # newest 5
    # Done for this period: the next writes are only appended.
    for i in range(2):
        writer.put(request_log.Entry(f"later{i}", "suggest", 200, 5.0))
    assert writer.flush() == 2
    assert store.query_one("SELECT count(*) FROM request_log")[0] == 7
    assert writer.pruned == 6
    # No row cap (0): only the age limit applies.
    uncapped = request_log.StoreWriter(keep_days=30, keep_rows=0)
    uncapped.put(request_log.Entry("ancient", "suggest", 200, 5.0, logged_at=old))
    assert uncapped.flush() == 1
    assert store.query_one("SELECT count(*) FROM request_log")[0] == 7
    assert uncapped.pruned == 1
    # A busy store: pruning waits for the next round instead of holding anything up.
    busy = request_log.StoreWriter(keep_days=0, keep_rows=0, wait_s=0.1)
    holder = subprocess.Popen(                 # another process holds the store's lock
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]);"
         " print('locked', flush=True); sys.stdin.read()", str(store.config.db_path())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.perf_counter()
        assert busy.flush() == 0 and busy.pruned == 0
        assert time.perf_counter() - started < 2.0
    finally:
        holder.stdin.close()
        holder.wait(20)
    # All but the 5 stamped minutes ahead (seconds ahead went by on a loaded machine).
    assert busy.flush() == 0 and busy.pruned == 2
    assert store.query_one("SELECT count(*) FROM request_log")[0] == 5


def test_ab_page_shows_live_traffic_per_variant(served):
    from tests.conftest import app_test

    key = keys.create("page", rate_per_minute=10_000).key
    canary.set_percent(50)
    with client() as (c, _):
        for i in range(30):
            post(c, "fingerprint", {"campaign_id": f"C{i + 1:05d}"}, key)
    at = app_test()
    at.switch_page("app_pages/ab.py")  # opened directly, as a link to it is
    at.run()
    assert not at.exception and not at.error
    assert any("Live traffic" in s.value for s in at.subheader)
    [table] = [d.value for d in at.dataframe if "variant" in d.value.columns]
    assert set(table["variant"]) == {"production", "candidate"}
    assert table["requests"].sum() == 30


# -- the real server ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FRESH = {"Connection": "close"}                     # each request on a new connection


@contextmanager
def real_server(workers: int, home: Path, **env_vars: str) -> Iterator[tuple[str, dict]]:
    """`python -m core serve --workers N` of the store in `home` on a free loopback port,
    once every worker is ready (each answered /readyz); yields its base URL and a dict
    that gets its standard error once it stopped (written to a file meanwhile: a pipe
    nobody reads would stall a server that logs much). `env_vars`: more environment."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPICLAB_HOME": str(home), **env_vars}
    env.pop("TOPICLAB_SERVICE_POLL_S", None)                      # the default interval
    errors = home.parent / f"serve-{port}.stderr"
    with errors.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port",
                                   str(port), "--workers", str(workers)], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=sink, text=True)
    base, stopped = f"http://127.0.0.1:{port}", {"stderr": "", "stderr_file": errors}
    try:
        with httpx.Client(base_url=base, timeout=10, headers=FRESH) as http:
            ready: set[int] = set()
            deadline = time.monotonic() + 120
            while len(ready) < workers and time.monotonic() < deadline:
                try:
                    r = http.get("/readyz")
                    if r.status_code == 200:
                        ready.add(r.json()["worker"])
                except httpx.TransportError:
                    pass
                assert server.poll() is None, errors.read_text()
                time.sleep(0.05)
            assert len(ready) == workers, f"workers ready: {ready}"
        yield base, stopped
    finally:
        stop_process(server, 30)
        stopped["stderr"] = errors.read_text()


LIVE_KEYS = {"live": 100_000, "odd": 5, "slow": 1,   # name -> rate of `two_workers`'s keys
             "five": 5}


@pytest.fixture(scope="module")
def two_workers(service_template: dict, tmp_path_factory) -> Iterator[dict]:
    """One real `serve --workers 2` for the tests below (the workers' start, each loading
    the models, is most of their time), on a private copy of the store with the keys
    `LIVE_KEYS` made before it starts, and its temporary folders in `temp`. A test points
    TOPICLAB_HOME at `home` itself."""
    home = tmp_path_factory.mktemp("live") / "home"
    shutil.copytree(service_template["home"], home)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    mp.delenv("TOPICLAB_ROLE", raising=False)
    try:
        made = {name: keys.create(name, rate_per_minute=rate).key
                for name, rate in LIVE_KEYS.items()}
    finally:
        mp.undo()
    temp = home.parent / "tmp"
    temp.mkdir()
    with real_server(2, home, TMPDIR=str(temp)) as (base, stopped):
        yield {**service_template, "home": home, "base": base, "keys": made, "temp": temp,
               "stopped": stopped}
    assert "Traceback" not in stopped["stderr"]
    # the start is said as it goes: loading, then each worker's ready line (it said where
    # it listens, then nothing that said the service was ready)
    assert "(2 workers), loading its models: it answers 503" in stopped["stderr"]
    assert stopped["stderr"].count("scoring service: ready after") == 2, stopped["stderr"]


def test_two_workers_let_a_key_through_exactly_its_rate(two_workers):
    """`serve --workers 2`, requests on fresh connections (the kernel spreads them over
    both workers): a key gets exactly its rate, the rest 429 with Retry-After. Each
    worker held half of the rate: a key of 5 a minute got 4 (2 a worker), or 2 when one
    worker took its connections, and a key of 1 a minute got 2."""
    with httpx.Client(base_url=two_workers["base"], timeout=10, headers=FRESH) as http:
        for name in ("odd", "slow"):
            rate, key = LIVE_KEYS[name], two_workers["keys"][name]
            answers_ = [http.post("/v1/fingerprint", json={"campaign_id": CAMPAIGN},
                                  headers={"X-API-Key": key}) for _ in range(2 * rate + 5)]
            statuses = [r.status_code for r in answers_]
            assert statuses.count(200) == rate and statuses.count(429) == rate + 5, statuses
            waits = [int(r.headers["Retry-After"]) for r in answers_ if r.status_code == 429]
            assert all(1 <= w <= 60 // rate for w in waits), waits
        assert len({http.get("/healthz").json()["worker"] for _ in range(20)}) == 2


def test_real_server_with_two_workers_hot_reloads_a_promotion_within_5_s(
        two_workers, monkeypatch):
    """`serve --workers 2` (uvicorn, factory import string: each worker loads the models and
    polls the store), requests flowing on fresh connections (so both workers answer) while
    the candidate is promoted: no request fails, and no request sent 5 s or more after the
    promotion's commit is answered by the old model."""
    served = two_workers
    monkeypatch.setenv("TOPICLAB_HOME", str(served["home"]))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    monkeypatch.delenv("TOPICLAB_ROLE", raising=False)
    key, base, fresh = served["keys"]["live"], served["base"], FRESH
    results: list[tuple[float, int, str]] = []      # (sent at, status, X-Model-Id)
    stop = threading.Event()
    with httpx.Client(base_url=base, timeout=10, headers=fresh) as http:
        try:
            # Every worker answers what the app and the CLI show (fresh connections).
            from core.serve.answers import plain
            from core.serve.lookup import Lookup
            lookup = Lookup(served["production"])
            expected = plain(lookup.neighbor_records(lookup.find_neighbors(CAMPAIGN, 5)))
            for _ in range(6):
                r = http.post("/v1/neighbors", json={"campaign_id": CAMPAIGN, "n": 5},
                              headers={"X-API-Key": key})
                assert r.status_code == 200 and r.json()["neighbors"] == expected

            def traffic() -> None:
                with httpx.Client(base_url=base, timeout=10,
                                  headers={**fresh, "X-API-Key": key}) as caller:
                    ends = time.monotonic() + 120            # bounded in count and time
                    for i in range(3000):
                        if stop.is_set() or time.monotonic() > ends:
                            break
                        time.sleep(0.02)
                        sent = time.monotonic()
                        r = caller.post("/v1/neighbors",
                                        json={"campaign_id": f"C{i % 40 + 1:05d}", "n": 5})
                        results.append((sent, r.status_code, r.headers.get("X-Model-Id", "")))

            flows = [threading.Thread(target=traffic) for _ in range(2)]
            for flow in flows:
                flow.start()
            time.sleep(1.0)
            deploy.promote(served["candidate"])     # as the app, the CLI or the pipeline do
            done = time.monotonic()                 # just after its commit
            # Traffic goes on until 10 requests were sent 5 s or more after the commit.
            while (time.monotonic() - done < 90 and any(f.is_alive() for f in flows)
                   and sum(sent - done >= 5.0 for sent, _, _ in list(results)) < 10):
                time.sleep(0.1)
            stop.set()
            for flow in flows:
                flow.join(30)
            answers = {http.get("/readyz").json()["production"] for _ in range(10)}
            assert answers == {served["candidate"]}
        finally:
            stop.set()
    statuses = [s for _, s, _ in results]
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    old = [sent - done for sent, _, model in results if model == served["production"]]
    new = [sent - done for sent, _, model in results if model == served["candidate"]]
    assert old and new and len(old) + len(new) == len(results)
    assert max(old) < 5.0, f"the old model still answered {max(old):.1f} s after promotion"
    assert len([t for t in new if t >= 5.0]) >= 10     # all on the new model after


def test_worker_socket_gives_accepted_connections_tcp_nodelay():
    """`serve --workers N` binds its socket so that asyncio sets TCP_NODELAY on each
    connection it accepts (uvicorn's own binding left Nagle on: ~40 ms per keep-alive
    request); uvicorn's socket alone would fail this."""
    import asyncio
    import socket

    import uvicorn

    from core.serve.service import bind_tcp

    config = uvicorn.Config("core.serve.service:create_app", host="127.0.0.1", port=0)
    plain_sock, ours = config.bind_socket(), bind_tcp(uvicorn.Config(
        "core.serve.service:create_app", host="127.0.0.1", port=0))

    async def nodelay(listener: socket.socket) -> int:
        seen: list[int] = []

        def accepted(reader, writer) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return seen[0]

    assert asyncio.run(nodelay(ours)) == 1
    assert asyncio.run(nodelay(plain_sock)) == 0      # what uvicorn 0.54 alone gives


def test_a_content_length_that_is_no_whole_number_is_refused_before_the_service(
        two_workers):
    """A Content-Length that is negative, not a number, signed, hexadecimal, a list,
    beyond 64 bits, or given twice with two values never reaches the service: uvicorn's
    HTTP parser answers 400 `Invalid HTTP request received.` (plain text, without a
    request id) and closes the connection; the service answers on."""
    port = int(two_workers["base"].rsplit(":", 1)[1])
    key = two_workers["keys"]["live"].encode()
    body = json.dumps({"campaign_id": CAMPAIGN}).encode()
    for declared in (b"-5", b"abc", b"+25", b"0x19", b"25, 25", b"9" * 30,
                     b"25\r\nContent-Length: 26"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"POST /v1/fingerprint HTTP/1.1\r\nHost: t\r\nX-API-Key: " + key
                         + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + declared + b"\r\n\r\n" + body)
            answer = b""
            while chunk := conn.recv(4096):           # until uvicorn closes it
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (declared, answer)
        assert answer.endswith(b"\r\n\r\nInvalid HTTP request received."), answer
    with httpx.Client(base_url=two_workers["base"], timeout=10, headers=FRESH) as http:
        r = http.post("/v1/fingerprint", content=body, headers={"X-API-Key": key.decode()})
        assert r.status_code == 200, r.text


def test_two_workers_make_their_shared_buckets_again_when_the_folder_is_removed(
        two_workers):
    """`serve --workers 2` whose temporary folder of shared buckets a cleaner of /tmp
    removes: a worker that opened it after that answered every request 503 (`The rate
    limiter shared by the service's workers cannot be read`) until a restart, and one
    that had it open went on with its own unlinked copy. Now the folder is made again,
    said in the log, and a key still gets exactly its rate across both workers."""
    folder, = two_workers["temp"].glob("topiclab-serve-*")
    shutil.rmtree(folder)
    time.sleep(throttle.SharedRateLimiter.CHECK_EVERY_S + 0.2)  # each worker sees it gone
    with httpx.Client(base_url=two_workers["base"], timeout=10,
                      headers={**FRESH, "X-API-Key": two_workers["keys"]["five"]}) as http:
        statuses = [http.post("/v1/fingerprint", json={"campaign_id": CAMPAIGN}).status_code
                    for _ in range(12)]
    assert (statuses.count(200), statuses.count(429)) == (5, 7), statuses
    assert folder.is_dir() and (folder / "rates.sqlite").is_file()
    logged = two_workers["stopped"]["stderr_file"].read_text()
    assert "was removed while the service ran; made it again" in logged, logged


def test_cli_service_and_python_give_one_campaign_the_same_numbers(served):
    """The same campaign through the CLI, the service and the Python API: fingerprints to
    `score.WEIGHT_DECIMALS` everywhere, top topics' weights too (they had 4 decimals, the
    fingerprint beside them 5), neighbours' clicks and impressions whole numbers (the
    Python API's were floats, 580.0, where the CLI and the service said 580), their rates
    to `RATE_DECIMALS`."""
    from core.jsonable import RATE_DECIMALS
    from core.serve import score

    home, keywords = served["home"], ["emergency plumber", "boiler repair"]
    model = registry.campaign_model("production")
    stored = score.shown_weights(model.fingerprints_.loc[CAMPAIGN].to_numpy())
    pasted = score.shown_weights(model.fingerprint(keywords).weights)
    by_cli = ok_json(cli("fingerprint", CAMPAIGN, home=home))
    by_cli_text = ok_json(cli("fingerprint", "--text", ", ".join(keywords), home=home))
    by_lookup = Lookup(served["production"]).campaign(CAMPAIGN).to_dict(model.topic_names_)
    key = keys.create("numbers").key
    with client() as (c, _):
        by_service = post(c, "fingerprint", {"campaign_id": CAMPAIGN}, key).json()
        by_service_text = post(c, "fingerprint", {"keywords": keywords}, key).json()
        near_service = post(c, "neighbors", {"campaign_id": CAMPAIGN, "n": 5}, key).json()
    for answer, weights in ((by_cli, stored), (by_lookup, stored), (by_service, stored),
                            (by_cli_text, pasted), (by_service_text, pasted)):
        assert answer["fingerprint"] == weights
        assert [t["weight"] for t in answer["top_topics"]] == [
            weights[t["topic"]] for t in answer["top_topics"]], answer["top_topics"]

    python = model.neighbors(CAMPAIGN, 5)
    assert (python["clicks"].dtype, python["impressions"].dtype) == ("Int64", "Int64")
    near_cli = ok_json(cli("neighbors", CAMPAIGN, "-n", "5", home=home))[0]["neighbors"]
    for column in ("clicks", "impressions"):
        said = [[row[column] for row in rows] for rows in (near_cli, near_service["neighbors"],
                                                           by_lookup["neighbors"][:5])]
        assert said == [python[column].tolist()] * 3
        assert all(type(v) is int for values in said for v in values), said
    # rates in basis points everywhere (the CLI and the service gave 0.08161859664227292)
    for column in ("ctr", "conversion_rate"):
        said = [[row[column] for row in rows] for rows in (near_cli, near_service["neighbors"],
                                                           by_lookup["neighbors"][:5])]
        assert said == [python[column].tolist()] * 3
        assert all(0 < v == round(v, RATE_DECIMALS) for values in said for v in values), said


SIMILARITIES = ("similarity", "topic_similarity", "term_similarity", "vector_similarity")


def at_most_decimals(value: float, decimals: int) -> bool:
    """Whether `value`'s repr (what JSON prints) has at most `decimals` decimals."""
    return type(value) is float and len(repr(value).partition(".")[2]) <= decimals


def test_neighbour_similarities_are_one_number_through_cli_csv_service_and_python(served):
    """A campaign's neighbours' similarities and their parts through the CLI (JSON and
    CSV), Lookup's JSON, the service (one query and a batch) and the Python API: the same
    float64s to `jsonable.SIMILARITY_DECIMALS`, where the index's float32 printed as
    0.7185765504837036 (and the CSV had 3 decimals). A floor equal to a shown similarity
    keeps that neighbour and marks it similar enough."""
    import pandas as pd

    from core.jsonable import SIMILARITY_DECIMALS

    home, n = served["home"], 10
    python = registry.campaign_model("production").neighbors(CAMPAIGN, n)
    by_cli = ok_json(cli("neighbors", CAMPAIGN, "-n", str(n), home=home))[0]["neighbors"]
    csv = cli("neighbors", CAMPAIGN, "-n", str(n), "--format", "csv", home=home, text=False)
    by_csv = pd.read_csv(io.BytesIO(csv.stdout), encoding="utf-8-sig")
    by_lookup = Lookup(served["production"]).campaign(CAMPAIGN, n).to_dict(
        registry.campaign_model("production").topic_names_)["neighbors"]
    key = keys.create("similarities").key
    with client() as (c, _):
        by_service = post(c, "neighbors", {"campaign_id": CAMPAIGN, "n": n}, key).json()
        batch = post(c, "neighbors", {"items": [{"campaign_id": CAMPAIGN, "n": n}]}, key)
    for column in SIMILARITIES:
        values = python[column].tolist()
        assert python[column].dtype == "float64"
        assert all(at_most_decimals(v, SIMILARITY_DECIMALS) for v in values), values
        assert len(set(values)) > 1, values     # not one value rounded to all
        for rows in (by_cli, by_lookup, by_service["neighbors"],
                     batch.json()["items"][0]["neighbors"]):
            assert [row[column] for row in rows] == values
        assert by_csv[column].tolist() == values
    shown = python["similarity"].tolist()
    assert shown == sorted(shown, reverse=True)
    for floor in shown[2::3]:       # a floor of a number shown: that neighbour is kept
        kept = ok_json(cli("neighbors", CAMPAIGN, "-n", str(n), "--min-similarity",
                           repr(floor), home=home))[0]["neighbors"]
        assert [r["similarity"] for r in kept] == [s for s in shown if s >= floor]
        assert all(r["similar_enough"] for r in kept)


def test_whole_counts_are_nullable_integers_and_fractions_stay():
    """Clicks and impressions come out as Int64, a missing one <NA> (null in JSON); a
    column holding a fraction, and conversions, stay floats."""
    import pandas as pd

    from core.data.currencies import shown_sums
    from core.serve.answers import plain

    frame = shown_sums(pd.DataFrame({"clicks": [3.0, None, 1486.0000000000005],
                                     "impressions": [10.0, 20.5, 30.0],
                                     "conversions": [1.0, 2.0, 3.0]}), "EUR")
    assert frame["clicks"].dtype == "Int64" and frame["clicks"].isna().tolist() == [
        False, True, False]
    assert (frame["impressions"].dtype, frame["conversions"].dtype) == ("float64", "float64")
    assert plain(frame.to_dict(orient="records"))[1] == {
        "clicks": None, "impressions": 20.5, "conversions": 2.0}
    assert plain(frame.to_dict(orient="records"))[2]["clicks"] == 1486


def test_fingerprint_rounding_is_pythons_round_to_the_bit():
    """Fingerprints and similarities are rounded in numpy (`jsonable.rounded`): the same
    floats as Python's `round(w, 5)`, halves and their neighbours included, float32
    weights too, and float32 similarities to any decimals up to 12."""
    import numpy as np

    from core.jsonable import rounded
    from core.serve.score import WEIGHT_DECIMALS, shown_weights

    assert WEIGHT_DECIMALS == 5
    round5 = shown_weights

    rng = np.random.default_rng(0)
    halves = (rng.integers(0, 100_000, 20_000) + 0.5) / 1e5
    values = np.concatenate([halves, np.nextafter(halves, 0), np.nextafter(halves, 1),
                             halves.astype(np.float32), rng.random(20_000),
                             rng.dirichlet(np.full(50, 0.1), 200).astype(np.float32).ravel(),
                             [0.0, 1.0, 5e-6, 1.5e-5]])
    assert round5(values) == [round(float(v), 5) for v in values]

    assert rounded(np.float32([0.7185765504837036, 0.2999996]), 6) == [0.718577, 0.3]
    # float32 (neighbour similarities) takes no `round` at all: its product is exact
    singles = np.concatenate([rng.random(50_000), np.arange(1, 4096) / 4096,  # 1/128: x.5
                              halves, (np.arange(0, 10**6, 7) + 0.5) / 1e6]
                             ).astype(np.float32)
    for decimals in (3, 6, 9, 12):
        assert rounded(singles, decimals) == [round(float(v), decimals) for v in singles]


def test_plain_turns_database_decimals_into_json_numbers():
    """DuckDB hands sums and DECIMAL columns over as `Decimal`; answers carry them as
    numbers (they were sent as text), and a non-finite one as null."""
    from decimal import Decimal

    from core.serve.answers import plain

    assert plain({"clicks": Decimal("80"), "cost": Decimal("2.50"), "x": Decimal("NaN"),
                  "big": Decimal(2**70)}) == {"clicks": 80, "cost": 2.5, "x": None,
                                               "big": 2**70}
    assert type(plain(Decimal("80"))) is int


@pytest.mark.parametrize("name, raw", [("TOPICLAB_SERVICE_POLL_S", "0"),
                                       ("TOPICLAB_SERVICE_POLL_S", "abc"),
                                       ("TOPICLAB_SERVICE_MAX_IN_FLIGHT", "nan"),
                                       ("TOPICLAB_SERVICE_CACHE_ENTRIES", "-5"),
                                       ("TOPICLAB_SERVICE_LOG_KEEP_DAYS", "inf")])
def test_a_bad_service_number_in_the_environment_stops_serve_with_one_line(home, monkeypatch,
                                                                           name, raw):
    """As every TOPICLAB_* number (was: a ValueError traceback from inside uvicorn, or with
    POLL_S=0 a poller reading the store without pause)."""
    monkeypatch.setenv(name, raw)
    result = cli("serve", "--port", str(_free_port()), home=home)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{name}={raw!r} is not a" in result.stderr


def test_serve_on_an_address_it_cannot_listen_on_is_one_line(home):
    """A host that does not resolve, or a port another process holds, printed uvicorn's
    error, the poller's "now serving …" and a nanobind leak report, and exited 3."""
    import socket
    bad_host = cli("serve", "--host", "bad host", "--port", str(_free_port()), home=home)
    assert bad_host.returncode == 1, bad_host.stderr
    assert "error: --host 'bad host' is not an address this machine can listen on" \
        in bad_host.stderr and "now serving" not in bad_host.stderr
    assert "scoring service on" not in bad_host.stderr   # was announced, then refused
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        held = cli("serve", "--port", str(port), home=home)
    assert held.returncode == 1, held.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use (another process " \
        "listens there" in held.stderr and "Traceback" not in held.stderr
    assert held.stderr.count("\n") == 1, held.stderr      # the error line alone
    if socket.has_ipv6:                 # an IPv6 address is written as URLs write it
        with socket.socket(socket.AF_INET6) as holder:
            holder.bind(("::1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            held = cli("serve", "--host", "::1", "--port", str(port), home=home)
        assert f"cannot listen on [::1]:{port}: Address already in use" in held.stderr, \
            held.stderr
    from core.serve.service import host_port
    assert host_port("::1", 8000) == "[::1]:8000" and host_port("0.0.0.0", 80) == "0.0.0.0:80"


def test_service_numbers_where_zero_is_a_setting(monkeypatch):
    for name, raw in (("TOPICLAB_SERVICE_CACHE_ENTRIES", "0"),
                      ("TOPICLAB_SERVICE_LOG_KEEP_ROWS", "0"),
                      ("TOPICLAB_SERVICE_MAX_IN_FLIGHT", "3.0"),
                      ("TOPICLAB_SERVICE_POLL_S", " 9 ")):
        monkeypatch.setenv(name, raw)
    settings = Settings.from_env()
    assert (settings.cache_entries, settings.log_keep_rows) == (0, 0)   # no cache, no cap
    assert settings.max_in_flight == 3 and settings.poll_s == 2.0
    monkeypatch.setenv("TOPICLAB_SERVICE_MAX_IN_FLIGHT", "0")
    with pytest.raises(TopicLabError, match="MAX_IN_FLIGHT='0' is not a positive number"):
        Settings.from_env()


@pytest.mark.parametrize("raw, said", [(None, "4 MB"), ("0.3", "0.3 MB"), ("16", "16 MB"),
                                       ("2048", "2,048 MB")])
def test_the_413_names_the_body_limit_as_it_is_set(monkeypatch, raw, said):
    """The 413 says the limit in TOPICLAB_SERVICE_MAX_BODY_MB's unit, as docs/service.md
    does (the default said "larger than 4,096 KiB")."""
    from core.serve.service import body_too_large

    if raw is not None:
        monkeypatch.setenv("TOPICLAB_SERVICE_MAX_BODY_MB", raw)
    refusal = body_too_large(Settings.from_env().max_body_bytes)
    assert (refusal.status, str(refusal)) == (
        413, f"The body is larger than the service's limit of {said}; send fewer items per "
             "batch."), str(refusal)
    if raw is None:     # the service's reference quotes the default's message
        assert f"limit of {said};" in (REPO / "docs" / "service.md").read_text()


@pytest.mark.parametrize("name, raw, kind", [
    ("TOPICLAB_SERVICE_MAX_IN_FLIGHT", "0.5", "a whole number of 1 or more"),
    ("TOPICLAB_SERVICE_COMPUTE_SLOTS", "2.5", "a whole number of 1 or more"),
    ("TOPICLAB_SERVICE_CACHE_ENTRIES", "0.4", "a whole number of 0 (no cache) or more"),
    ("TOPICLAB_SERVICE_LOG_KEEP_ROWS", "1e3", None)])
def test_a_count_setting_is_refused_unless_whole(monkeypatch, name, raw, kind):
    """A count is refused naming the variable when it is a fraction (was:
    MAX_IN_FLIGHT=0.5 rounded up to 1, CACHE_ENTRIES=0.4 down to 0: no cache)."""
    monkeypatch.setenv(name, raw)
    if kind is None:    # 1e3 is a whole number
        assert Settings.from_env().log_keep_rows == 1000
        return
    with pytest.raises(TopicLabError, match=re.escape(f"{name}={raw!r} is not {kind}")):
        Settings.from_env()


def test_the_sql_counts_are_refused_unless_whole(monkeypatch):
    from core import config

    monkeypatch.setenv("TOPICLAB_SQL_ROW_CAP", "0.5")    # was: a cap of 0 rows
    with pytest.raises(TopicLabError, match=r"TOPICLAB_SQL_ROW_CAP='0\.5' is not a whole"):
        config.sql_row_cap()
    monkeypatch.setenv("TOPICLAB_SQL_THREADS", "2")
    assert config.sql_threads() == 2


def test_a_stopped_service_exits_without_a_leak_report(trained_home):
    """The poller freezes the heap once its models are loaded (`_freeze_heap`); Python
    does not collect frozen objects as it exits, so every Ctrl-C of `serve` ended with
    a page of DuckDB's "nanobind: leaked 27 instances! …". Stopping unfreezes it."""
    code = ("from core.serve.serving import ModelHolder\n"
            "holder = ModelHolder()\nholder.refresh()\n"
            "print(holder.state.model_ids[0])\nholder.stop()\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "TOPICLAB_HOME": str(trained_home)})
    assert run.returncode == 0 and run.stdout.startswith("tomotopy-"), run.stderr
    assert "leaked" not in run.stderr, run.stderr[:300]
