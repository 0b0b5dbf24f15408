"""Load test: concurrent clients ask the real app over loopback HTTP while the library changes.

``.venv/bin/python -m bench.load --clients 8 --asks 200`` starts ``app.py`` on a free port of
127.0.0.1 with a temporary copy of ``corpus/`` and a fresh index (the real embedding model and
support checker, as a first run builds them), then runs:

- ``--clients`` client threads, each with its own ``gradio_client.Client``, asking ``--asks``
  questions each: through ``/ask``, every fourth through ``/ask_stream`` (every snapshot is
  checked), every tenth a follow-up that passes the previous question and answer as history;
- one library thread that keeps changing the library through the endpoints the UI uses, with
  ``--pause`` seconds between changes, in a cycle: ``/upload`` a news article
  (``evals/news``), ``/upload`` it again changed (a paragraph added at the top, so every
  offset moves; "replace existing"), write another article into the corpus folder by hand
  and ``/reindex``, ``/delete`` both; after each change ``/documents`` must list exactly the
  documents expected.

The questions are the eval questions (``evals/cases.jsonl`` about the demo corpus,
``evals/news_cases.jsonl`` about the news articles, which are answerable only while one is in
the library), each sent in one of several wordings (as written, lower-cased, with a
prefix such as "Tell me: " or "Quick question -"), so that a client rarely repeats a
question string another just sent.

A failed ask is any error (a RagError message from the app is one: every question is valid)
or an answer that no single state of the library accounts for. The thread that changes the
library records each state (document id -> document text, as ``rag.ingest.load_document``
reads the file) with when it may have been live: from when the change that made it was sent
until the change that replaced it had returned. An answer, sent at t0 and received at t1,
must have every passage's and citation's text at its offsets in the text of its document in
one state live at some moment of [t0, t1], and its ``[n]`` markers must be its citations:
answers during a re-index come from the old index or the new one, never a mix. Answers are
checked when the run is over: a change still under way when an answer arrives may already
have served it, and is known for certain only once its own request has returned.

Prints the figures (asks, failures, latency p50 / p95, asks/s, uploads / replaces / deletes /
re-indexes done) and, with ``--out FILE``, writes them as JSON. ``run_load`` is what
``tests/test_load.py`` runs, bounded. Nothing leaves the machine: the app binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT / "evals" / "news"
STARTUP_TIMEOUT = 300.0  # index build + model load on a busy 2-core machine
WORDINGS: tuple[Callable[[str], str], ...] = (
    lambda q: q,
    lambda q: q[:1].lower() + q[1:],
    lambda q: "Tell me: " + q,
    lambda q: "Quick question - " + q,
    lambda q: "According to the articles, " + q[:1].lower() + q[1:],
    lambda q: q.rstrip("?") + "?  ",
)
# The news articles the library thread adds and removes, in turn (two per cycle).
NEWS_ARTICLES = (
    "news-bali-nine-notice.md", "news-yemen-peace-talks.md",
    "news-boston-warren.md", "news-china-feminists-charges.md",
)


# --------------------------------------------------------------------------------------------
# The app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """Start ``app.py`` on 127.0.0.1 with a copy of ``corpus/`` in ``workdir`` (and
    ``extra_env`` in its environment); yield (url, corpus dir) once it answers; stop it
    afterwards. The UI tests start their app with it too (``tests/conftest_ui.py``)."""
    corpus = workdir / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           **(extra_env or {})}
    with open(workdir / "app.log", "w+b") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
             "--corpus", str(corpus), "--index", str(workdir / "index")],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"app exited with {proc.returncode}:\n"
                                       f"{log.read().decode(errors='replace')}")
                try:
                    with urllib.request.urlopen(url + "/config", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"app did not start in {STARTUP_TIMEOUT:.0f} s:\n"
                                       f"{log.read().decode(errors='replace')}")
                time.sleep(0.5)
            yield url, corpus
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------------------------
# Library states over time


@dataclass
class State:
    """The documents of the library (id -> text) and when they may have been live."""

    docs: dict[str, str]
    since: float = -math.inf  # the change that made this state was sent
    until: float = math.inf  # the change that replaced it had returned


class Timeline:
    """The library states in order; which of them may have served an ask."""

    def __init__(self, docs: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self.states = [State(dict(docs))]

    @property
    def current(self) -> dict[str, str]:
        with self._lock:
            return dict(self.states[-1].docs)

    def changed(self, sent: float, returned: float, docs: dict[str, str]) -> None:
        with self._lock:
            self.states[-1].until = returned
            self.states.append(State(dict(docs), since=sent))

    def live(self, t0: float, t1: float) -> list[State]:
        with self._lock:
            return [s for s in self.states if s.since <= t1 and s.until >= t0]


def document_texts(corpus: Path) -> dict[str, str]:
    """What the index holds for each file of ``corpus``: id -> cleaned text."""
    from rag.ingest import iter_corpus, load_document

    docs = {}
    for path in iter_corpus(corpus):
        doc = load_document(path, corpus)
        docs[doc.doc_id] = doc.text
    return docs


def check_answer(r: Any, live: list[State]) -> str | None:
    """None when ``r`` is an answer that one live state accounts for, else what is wrong."""
    if not isinstance(r, dict) or not isinstance(r.get("answer"), str):
        return f"not an answer: {str(r)[:200]}"
    cites = r.get("citations") or []
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", r["answer"])}
    if markers != {c["n"] for c in cites}:
        return f"markers {sorted(markers)} but citations {sorted(c['n'] for c in cites)}"
    if not r.get("abstained") and not cites:
        return "an answer that neither abstains nor cites"
    pieces = [(p["doc_id"], p["start"], p["end"], p["text"]) for p in r.get("passages") or []]
    pieces += [(c["doc_id"], c["start"], c["end"], c["quote"]) for c in cites]
    for state in live:
        if all(d in state.docs and state.docs[d][s:e] == t for d, s, e, t in pieces):
            return None
    wrong = sorted({d for d, s, e, t in pieces
                    if not any(st.docs.get(d, "")[s:e] == t for st in live)})
    return (f"no single library state holds all its passages and citations (documents "
            f"{sorted({d for d, *_ in pieces})}; quoted in no live state: {wrong}; "
            f"{len(live)} states live)")


# --------------------------------------------------------------------------------------------
# Questions


def eval_questions() -> list[str]:
    out = []
    for name in ("cases.jsonl", "news_cases.jsonl"):
        for line in (ROOT / "evals" / name).read_text().splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Results:
    asks: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    abstained: int = 0
    streamed: int = 0
    followups: int = 0
    snapshots: int = 0
    # (label, sent, received, snapshots) of each answer: checked once the run is over, when
    # the timeline is complete (a change still under way when an answer arrived may already
    # have served it, but is recorded only when its request returns).
    answers: list[tuple[str, float, float, list[Any]]] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    ops_during: dict[str, int] = field(default_factory=dict)  # finished while asks ran
    op_seconds: list[float] = field(default_factory=list)
    op_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when the library thread has finished one whole cycle of changes. Each client waits
    # for it before its last ask, so every kind of change falls while asks still run (with
    # fast answers, 8 x 20 asks could end before the first delete).
    cycled: threading.Event = field(default_factory=threading.Event)


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False)


def ask_loop(k: int, url: str, questions: list[str], asks: int, timeline: Timeline,
             res: Results, start: threading.Barrier) -> None:
    try:
        client = _client(url)
    except Exception as exc:
        with res.lock:
            res.failures.append(f"client {k} could not connect: {type(exc).__name__}: {exc}")
        start.abort()
        return
    rng = random.Random(k)
    prev: tuple[str, str] | None = None
    start.wait()
    for i in range(asks):
        if i == asks - 1:
            res.cycled.wait(timeout=600)
        q = rng.choice(WORDINGS)(rng.choice(questions))
        history = [list(prev)] if prev is not None and i % 10 == 9 else None
        stream = i % 4 == 3
        t0 = time.monotonic()
        problem = None
        snaps: list[Any] = []
        try:
            if stream:
                job = client.submit(q, history, api_name="/ask_stream")
                snaps = list(job)
                final = job.result()
                if not snaps or snaps[-1] != final:
                    snaps.append(final)
            else:
                snaps = [client.predict(q, history, api_name="/ask")]
        except Exception as exc:  # an error is a failed ask, whatever it is
            problem = f"{type(exc).__name__}: {exc}"
        t1 = time.monotonic()
        with res.lock:
            res.asks += 1
            res.latencies.append(t1 - t0)
            res.streamed += stream
            res.followups += history is not None
            res.snapshots += len(snaps)
            if problem is not None:
                res.failures.append(f"client {k} ask {i} {q!r}: {problem}")
            else:  # checked at the end, against the whole timeline
                res.answers.append((f"client {k} ask {i} {q!r}", t0, t1, snaps))
        if problem is None:
            prev = (q, snaps[-1]["answer"])


def library_loop(url: str, corpus: Path, timeline: Timeline, res: Results,
                 stop: threading.Event, pause: float, min_ops: int, workdir: Path) -> None:
    """Change the library in a cycle (see the module docstring) until ``stop`` is set and at
    least ``min_ops`` changes are done."""
    from gradio_client import handle_file

    client = _client(url)
    files = workdir / "uploads"
    files.mkdir()
    done = 0
    cycle = 0

    def change(kind: str, call: Callable[[], Any], docs: dict[str, str]) -> None:
        nonlocal done
        sent = time.monotonic()
        try:
            call()
        except Exception as exc:
            with res.lock:
                res.op_failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            return
        returned = time.monotonic()
        during = not stop.is_set()
        timeline.changed(sent, returned, docs)
        listed = sorted(d["doc_id"] for d in client.predict(api_name="/documents"))
        with res.lock:
            res.ops[kind] = res.ops.get(kind, 0) + 1
            if during:
                res.ops_during[kind] = res.ops_during.get(kind, 0) + 1
            res.op_seconds.append(returned - sent)
            if listed != sorted(docs):
                res.op_failures.append(f"{kind}: /documents lists {listed}, expected "
                                       f"{sorted(docs)}")
        done += 1
        time.sleep(pause)

    def upload(name: str, data: bytes, replace: bool) -> None:
        from rag.ingest import load_document

        folder = files / f"{len(list(files.iterdir()))}"
        folder.mkdir()
        (folder / name).write_bytes(data)
        docs = timeline.current
        docs[name] = load_document(corpus / name, corpus, data).text
        change("replace" if replace else "upload",
               lambda: client.predict([handle_file(str(folder / name))], replace,
                                      api_name="/upload"), docs)

    while not (stop.is_set() and done >= min_ops):
        a, b = NEWS_ARTICLES[(2 * cycle) % len(NEWS_ARTICLES)], \
            NEWS_ARTICLES[(2 * cycle + 1) % len(NEWS_ARTICLES)]
        cycle += 1
        original = (NEWS / a).read_bytes()
        upload(a, original, replace=False)
        head, _, body = original.decode().partition("\n---\n")  # after the front matter
        changed = (f"{head}\n---\n\nA note added for the load test, cycle {cycle}: this "
                   f"paragraph moves every offset below it.\n{body}").encode()
        upload(a, changed, replace=True)
        by_hand = timeline.current
        tmp = corpus / f".{b}.tmp"
        tmp.write_bytes((NEWS / b).read_bytes())
        os.replace(tmp, corpus / b)
        by_hand[b] = document_texts(corpus)[b]
        change("reindex", lambda: client.predict(api_name="/reindex"), by_hand)
        for name in (a, b):
            docs = timeline.current
            docs.pop(name, None)
            change("delete", partial(client.predict, name, api_name="/delete"), docs)
        res.cycled.set()


def run_load(clients: int, asks: int, workdir: Path, pause: float = 1.0, min_ops: int = 5,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the app in ``workdir`` and run the load (see the module docstring); the figures."""
    t_start = time.monotonic()
    with serve(workdir) as (url, corpus):
        started = time.monotonic() - t_start
        log(f"app up at {url} in {started:.1f} s; {clients} clients x {asks} asks")
        timeline = Timeline(document_texts(corpus))
        res = Results()
        questions = eval_questions()
        barrier = threading.Barrier(clients + 1)
        stop = threading.Event()
        askers = [threading.Thread(target=ask_loop, daemon=True,
                                   args=(k, url, questions, asks, timeline, res, barrier))
                  for k in range(clients)]
        lib = threading.Thread(target=library_loop, daemon=True,
                               args=(url, corpus, timeline, res, stop, pause, min_ops, workdir))
        for t in askers:
            t.start()
        barrier.wait(timeout=300)  # every client connected
        t0 = time.monotonic()
        lib.start()
        last = t0
        while any(t.is_alive() for t in askers):
            for t in askers:
                t.join(timeout=1.0)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                with res.lock:
                    log(f"  {res.asks} asks, {len(res.failures)} errors so far, "
                        f"library changes {res.ops}")
        wall = time.monotonic() - t0
        stop.set()
        lib.join(timeout=600)
        for label, sent, received, snaps in res.answers:
            live = timeline.live(sent, received)
            problem = next((p for p in (check_answer(s, live) for s in snaps) if p), None)
            if problem is not None:
                res.failures.append(f"{label}: {problem}")
            elif snaps[-1].get("abstained"):
                res.abstained += 1
        lat = sorted(res.latencies)
    return {
        "clients": clients,
        "asks_per_client": asks,
        "asks": res.asks,
        "failures": len(res.failures),
        "failure_examples": res.failures[:10],
        "abstained": res.abstained,
        "streamed": res.streamed,
        "snapshots_checked": res.snapshots,
        "followups": res.followups,
        "latency_p50_s": round(statistics.median(lat), 3) if lat else None,
        "latency_p95_s": round(lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)], 3)
        if lat else None,
        "latency_max_s": round(lat[-1], 3) if lat else None,
        "asks_per_s": round(res.asks / wall, 2) if wall else None,
        "wall_s": round(wall, 1),
        "startup_s": round(started, 1),
        "uploads": res.ops.get("upload", 0),
        "replaces": res.ops.get("replace", 0),
        "deletes": res.ops.get("delete", 0),
        "reindexes": res.ops.get("reindex", 0),
        "changes_during_asks": dict(res.ops_during),
        "library_change_p50_s": round(statistics.median(res.op_seconds), 2)
        if res.op_seconds else None,
        "library_failures": res.op_failures[:10],
        "library_states": len(timeline.states),
    }


def report(r: dict[str, Any]) -> str:
    return "\n".join([
        f"asks          {r['asks']} ({r['clients']} clients x {r['asks_per_client']}; "
        f"{r['streamed']} streamed, {r['snapshots_checked']} snapshots checked, "
        f"{r['followups']} follow-ups, {r['abstained']} abstained)",
        f"failures      {r['failures']}",
        *[f"  {f}" for f in r["failure_examples"]],
        f"latency       p50 {r['latency_p50_s']} s, p95 {r['latency_p95_s']} s, "
        f"max {r['latency_max_s']} s",
        f"throughput    {r['asks_per_s']} asks/s over {r['wall_s']} s "
        f"(app start-up {r['startup_s']} s)",
        f"library       {r['uploads']} uploads, {r['replaces']} replaces, {r['deletes']} "
        f"deletes, {r['reindexes']} re-indexes (p50 {r['library_change_p50_s']} s each; "
        f"done while asks ran: {r['changes_during_asks']}); "
        f"{len(r['library_failures'])} failed; {r['library_states']} states",
        *[f"  {f}" for f in r["library_failures"]],
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--asks", type=int, default=200, help="asks per client")
    p.add_argument("--pause", type=float, default=1.0,
                   help="seconds between library changes")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        r = run_load(args.clients, args.asks, Path(tmp), pause=args.pause)
    print(report(r))
    if args.out:
        args.out.write_text(json.dumps(r, indent=2) + "\n")
    return 1 if r["failures"] or r["library_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
