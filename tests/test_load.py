"""Load: 8 clients ask the real app over loopback HTTP while the library changes under them.

The bounded run of ``bench/load.py`` (``python -m bench.load --clients 8 --asks 200`` is the
full one): 8 clients x 20 asks through ``/ask`` and ``/ask_stream`` (with follow-ups) with the
real models, while uploads, a replace, a re-index and deletes run through the UI's endpoints.
No ask may fail (an error message is a failure: every question is valid) and every answer
must come from one state of the library live during the ask, never a mix of two; at least
one upload, delete and re-index must finish while the clients ask. 20-45 s on two cores
(app start-up included).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import Timeline, check_answer, report, run_load


@pytest.mark.ui
@pytest.mark.model
def test_eight_clients_ask_while_the_library_changes(tmp_path: Path) -> None:
    r = run_load(clients=8, asks=20, workdir=tmp_path, pause=0.2, log=lambda _: None)
    print(report(r))
    assert r["asks"] == 160
    assert r["failures"] == 0, r["failure_examples"]
    assert r["library_failures"] == []
    during = r["changes_during_asks"]
    assert during.get("upload", 0) >= 1 and during.get("delete", 0) >= 1, during
    assert during.get("reindex", 0) >= 1, during
    assert r["streamed"] == 40 and r["followups"] == 16
    assert 0 < r["abstained"] < r["asks"]  # news questions abstain until their article is in


def _answer(doc: str, text: str, passage: tuple[int, int], quote: tuple[int, int]) -> dict:
    return {
        "answer": f"{text[quote[0]:quote[1]]} [1]", "abstained": False,
        "citations": [{"n": 1, "doc_id": doc, "start": quote[0], "end": quote[1],
                       "quote": text[quote[0]:quote[1]]}],
        "passages": [{"doc_id": doc, "start": passage[0], "end": passage[1],
                      "text": text[passage[0]:passage[1]]}],
    }


def test_the_check_tells_one_state_from_a_mix() -> None:
    """What the load test counts as a failure: an answer whose passage quotes one version of
    a document and whose citation another, one from a state no longer live, bad markers."""
    v1 = "Moscow keeps a base in Tartus. It opened in 1971."
    v2 = "A note added on top. " + v1
    timeline = Timeline({"a.md": v1})
    timeline.changed(10.0, 12.0, {"a.md": v2})  # sent at 10 s, returned at 12 s
    old = _answer("a.md", v1, (0, len(v1)), (0, 30))
    new = _answer("a.md", v2, (0, len(v2)), (21, 51))
    assert new["citations"][0]["quote"] == old["citations"][0]["quote"]
    during = timeline.live(11.0, 11.5)
    assert len(during) == 2
    assert check_answer(old, during) is None and check_answer(new, during) is None
    mixed = {**new, "passages": old["passages"]}
    assert "no single library state" in str(check_answer(mixed, during))
    assert check_answer(new, timeline.live(13.0, 14.0)) is None
    assert "no single library state" in str(check_answer(old, timeline.live(13.0, 14.0)))
    assert "markers" in str(check_answer({**old, "answer": "Moscow. [2]"}, during))
    assert "not an answer" in str(check_answer("the index is not loaded yet", during))
