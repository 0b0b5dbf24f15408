"""Shared components used from many threads at once give the single-threaded results.

Each test computes the reference results in one thread, then makes the component afresh (or
clears its caches), so that ``THREADS`` threads load its models and fill its caches
concurrently: they start together at a barrier, switch often (``sys.setswitchinterval``),
each go through every input in its own shuffled order, and every result is compared with
the reference for the same input. Caches are made small where they evict, so eviction races
are exercised too.

Covered: the text helpers (``rag.text``), the word-overlap scorer and its caches
(``rag.lexical``), the store's one SQLite connection and FAISS index (``rag.store``), lazy
creation of shared components (``get_embedder``, ``QA.embedder`` / ``QA.scorer``, the ranked
composer's models, the sentence-transformers model, ``Library.qa_for``), the support checker
and the answer ranker on onnxruntime (``rag.verify``, ``rag.ranker``, ``rag.crossencoder``:
a logit must not depend on the pairs batched beside it), both composers and their
sentence-vector cache (``rag.compose``, ``rag.compose_ranked``), the whole ``QA.ask``; and
the library around re-indexing (``rag.library``): an answer in flight across re-indexes, a
failed build, the models and caches kept from one generation to the next.

Races are probabilistic: the tests of lazy creation give up the GIL at every call of a
``rag`` function (a profile hook), so that the unfixed code failed in every trial; the
others repeat enough that it failed with near certainty (each says how). Not shown by a test:
the fast tokenizer of the sentence-transformers model set up by a thread while another
encodes ("Already borrowed"; now done once while loading, under the lock). The ONNX embedder
(``rag.embed_onnx``) is left out: its export takes a minute; its lazy load is the same
double-checked lock as the cross-encoder's, and its tokenizer is set up before it is shared.
"""

from __future__ import annotations

import fcntl
import json
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from conftest import CORPUS, ROOT

import rag
from rag import compose, embed, text
from rag.chain import QA
from rag.chunk import chunk_document
from rag.compose import ExtractiveComposer
from rag.compose_ranked import RankedComposer
from rag.embed import SentenceTransformerEmbedder, get_embedder
from rag.errors import RagError
from rag.lexical import LexicalScorer, negated
from rag.library import Library
from rag.ranker import AnswerRanker
from rag.settings import Settings
from rag.store import Store
from rag.types import Answer, Document
from rag.verify import SupportScorer

THREADS = 8
In = TypeVar("In", bound=Hashable)


@contextmanager
def fast_switching(interval: float = 1e-6) -> Iterator[None]:
    """Switch threads every ``interval`` seconds, so interleavings that a race needs happen."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@contextmanager
def yielding_calls(pause: float = 0.0) -> Iterator[None]:
    """In threads started meanwhile, sleep ``pause`` seconds (giving up the GIL) at every call
    of a function of ``rag``, so that a check-then-set spread over a few calls is interleaved
    in most runs, not one in 100. (Not in ``threading``: threads would leave the barrier one
    by one.)"""
    package = str(Path(rag.__file__).parent)

    def pause_at_calls(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(package):
            time.sleep(pause)

    threading.setprofile(pause_at_calls)
    try:
        yield
    finally:
        threading.setprofile(None)


def hammer(
    fn: Callable[[In], Any], inputs: Sequence[In], rounds: int = 1, threads: int = THREADS
) -> list[tuple[In, Any]]:
    """Call ``fn`` on every input ``rounds`` times in each of ``threads`` threads (each in its
    own shuffled order, all starting at one barrier); the (input, result) pairs. The first
    exception a thread raised is raised here."""
    barrier = threading.Barrier(threads)
    results: list[list[tuple[In, Any]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        order = [x for _ in range(rounds) for x in inputs]
        random.Random(k).shuffle(order)
        try:
            barrier.wait()
            for x in order:
                results[k].append((x, fn(x)))
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    out = [r for rs in results for r in rs]
    assert len(out) == threads * rounds * len(inputs)
    return out


def corpus_text() -> str:
    return "\n\n".join(p.read_text() for p in sorted(CORPUS.glob("*.md")))


def corpus_sentences(n: int, min_len: int = 40) -> list[str]:
    t = corpus_text()
    sents = [t[s:e] for s, e in text.split_sentences(t) if e - s >= min_len]
    return sents[:: max(1, len(sents) // n)][:n]


def corpus_passages(n: int) -> list[str]:
    chunks = chunk_document(Document("corpus", corpus_text(), ""), 900, 1)
    return [c.text for c in chunks][:: max(1, len(chunks) // n)][:n]


def eval_questions(n: int, file: str = "cases.jsonl") -> list[str]:
    cases = [json.loads(line) for line in (ROOT / "evals" / file).read_text().splitlines()
             if line.strip()]
    picked = cases[:: max(1, len(cases) // n)][:n]
    return [c["question"] for c in picked]


# --------------------------------------------------------------------------------------------
# Pure-Python helpers and caches (fast)


def test_text_helpers_match_one_thread() -> None:
    sents = corpus_sentences(60, min_len=1)

    def helpers(s: str) -> tuple[Any, ...]:
        return (text.words(s), text.content_words(s), text.content_stems(s),
                text.split_sentences(s), sorted(text.numbers(s)), negated(s),
                compose.key_names(s), compose.question_type(s))

    expected = {s: helpers(s) for s in sents}
    caches = (text.stem, text._content_stems, compose._passage_names)
    for cache in caches:  # the threads stem every word themselves
        cache.cache_clear()
    with fast_switching():
        results = hammer(helpers, sents, rounds=2)
    for cache in caches:
        cache.cache_clear()
    assert all(got == expected[s] for s, got in results)


def test_lexical_scorer_shared_by_threads() -> None:
    """One scorer, caches of 4 passages / 64 sentences: threads analyse, evict and reuse."""
    sents, passages = corpus_sentences(12), corpus_passages(6)
    pairs = [(s, p) for s in sents for p in passages]
    expected = {pair: LexicalScorer().score(*pair) for pair in pairs}
    shared = LexicalScorer(cache_size=4)
    with fast_switching():
        results = hammer(lambda pair: shared.score(*pair), pairs)
    assert all(got == expected[pair] for pair, got in results)


def test_store_shared_by_threads(hash_index: Path) -> None:
    """One Store (a connection per question in flight, ``Store.reader``) and one FAISS index
    serve every thread."""
    store = Store.open(hash_index)
    emb = get_embedder("hash")
    questions = eval_questions(24)
    vectors = {q: emb.embed_query(q) for q in questions}

    def lookups(q: str) -> tuple[Any, ...]:
        bm25 = store.search_bm25(text.content_words(q), 30)
        dense = store.search_vectors(vectors[q], 30)
        found = store.passages([i for i, _ in bm25 + dense])
        prev = [store.previous_chunk(p.doc_id, p.start) for p in found.values()]
        return (bm25, dense, sorted(found.items()), prev, store.documents(),
                store.document_text(next(iter(found.values())).doc_id), store.chunk_count())

    expected = {q: lookups(q) for q in questions}
    with fast_switching():
        results = hammer(lookups, questions, rounds=2)
    assert all(got == expected[q] for q, got in results)


def test_get_embedder_gives_every_thread_one_instance() -> None:
    """On a cold cache ``functools.lru_cache`` runs the function in every thread that missed,
    so threads got embedders of their own (and each loaded the model); before
    ``get_embedder`` took a lock this failed in every trial."""
    trials = 50
    split = 0
    with yielding_calls():
        for _ in range(trials):
            embed._get_embedder.cache_clear()
            got = hammer(lambda _: id(get_embedder("hash-17")), [0])
            split += len({i for _, i in got}) > 1
    embed._get_embedder.cache_clear()
    assert split == 0, f"threads got different embedders in {split} of {trials} trials"


def test_lazy_components_are_made_once(hash_index: Path) -> None:
    """``QA.scorer`` / ``QA.embedder`` and the ranked composer's ranker and checker are made
    on first use; threads that found them unset each made (and loaded) their own. Before the
    locks each was made more than once in every trial."""
    trials = 30
    split: dict[str, int] = {}
    store = Store.open(hash_index)
    with yielding_calls():
        for _ in range(trials):
            embed._get_embedder.cache_clear()
            qa = QA(store, Settings(embedding_model="hash"))
            composer = RankedComposer()
            for obj, attr in ((qa, "scorer"), (qa, "embedder"), (composer, "ranker"),
                              (composer, "checker")):
                ids = {id(x) for _, x in hammer(attrgetter(attr), [obj])}
                name = f"{type(obj).__name__}.{attr}"
                split[name] = split.get(name, 0) + (len(ids) > 1)
    assert not any(split.values()), f"made more than once (trials of {trials}): {split}"


# --------------------------------------------------------------------------------------------
# The library: answers in flight while the corpus changes (fast, hash embedder)


def _library(tmp_path: Path) -> Library:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    lib = Library(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index",
                           embedding_model="hash"))
    lib.start()
    return lib


def _add_article(corpus: Path, k: int) -> None:
    (corpus / f"extra-{k}.md").write_text(
        f"# Extra {k}\n\nMoscow keeps a naval base in Tartus, report {k} said on Monday.\n")


def test_store_gives_each_question_in_flight_its_own_connection(hash_index: Path) -> None:
    """``READERS`` threads hold a connection each at once, all different; one more thread
    waits until a connection is given back, then gets one of the same."""
    from rag.store import READERS

    store = Store.open(hash_index)
    barrier = threading.Barrier(READERS + 1)
    held: list[int] = []
    release = threading.Event()

    def hold() -> None:
        with store.reader() as conn:
            held.append(id(conn))
            assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] > 0
            barrier.wait()
            release.wait(10)

    pool = [threading.Thread(target=hold) for _ in range(READERS)]
    for t in pool:
        t.start()
    barrier.wait()  # every connection is in use now
    assert len(set(held)) == READERS and id(store.conn) not in held
    late: list[int] = []

    def one_more() -> None:
        with store.reader() as conn:
            late.append(id(conn))

    extra = threading.Thread(target=one_more)
    extra.start()
    extra.join(0.3)
    assert extra.is_alive() and not late  # waiting for a free connection
    release.set()
    extra.join(10)
    for t in pool:
        t.join()
    assert late and late[0] in held


def test_an_answer_started_before_two_reindexes_completes(tmp_path: Path) -> None:
    """A request takes ``library.qa`` and has not searched yet when two re-indexes finish:
    the clean-up after the second removed its generation, and the FAISS file, read on the
    first search, was gone (RuntimeError). The Store now opens both files at once."""
    lib = _library(tmp_path)
    _add_article(lib.corpus_dir, 1)
    lib.reindex()
    in_flight = lib.qa  # a fresh QA, not searched yet
    for k in (2, 3):
        _add_article(lib.corpus_dir, k)
        lib.reindex()
    assert not in_flight.store.gen.exists()  # removed by the clean-up
    answer = in_flight.ask("Where does Moscow keep a naval base?")
    assert answer.citations and not answer.abstained
    assert {c.doc_id for c in answer.citations} <= {d.doc_id for d in in_flight.documents()}


def test_a_failed_build_leaves_the_corpus_as_the_index(tmp_path: Path) -> None:
    """When the re-index of an upload or delete fails (here: another process holds the build
    lock), the corpus is put back as it was, as the error message says. Before, the uploaded
    file stayed in the corpus (indexed by the next re-index) and a deleted one stayed gone
    from the corpus but not from the index."""
    lib = _library(tmp_path)
    before = sorted(p.name for p in lib.corpus_dir.iterdir())
    old = (lib.corpus_dir / before[0]).read_bytes()
    with open(lib.index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build is running
        new = b"# New\n\nMoscow keeps a naval base in Tartus on the Syrian coast.\n"
        with pytest.raises(RagError, match="another build"):
            lib.add_files([("new.md", new)], replace_existing=False)
        with pytest.raises(RagError, match="another build"):
            lib.add_files([(before[0], new)], replace_existing=True)
        with pytest.raises(RagError, match="another build"):
            lib.delete(before[0])
    assert sorted(p.name for p in lib.corpus_dir.iterdir()) == before
    assert (lib.corpus_dir / before[0]).read_bytes() == old
    assert lib.delete(before[0]).removed == 1  # the lock is free again: it works


def test_qa_for_makes_one_qa_per_generator(tmp_path: Path) -> None:
    """Threads asking for the same generator's QA at once each made one (and would each load
    its model: a GGUF file for llamacpp); before ``qa_for`` took a lock this happened in
    every trial."""
    lib = _library(tmp_path)
    trials = 20
    split = 0
    with yielding_calls():
        for _ in range(trials):
            lib._by_generator.pop("ranked", None)
            split += len({id(q) for _, q in hammer(lambda _: lib.qa_for("ranked"), [0])}) > 1
    assert split == 0, f"threads got different QAs in {split} of {trials} trials"


def test_a_reindex_keeps_the_models_and_caches(tmp_path: Path) -> None:
    """The QA of a new generation keeps the support checker, the generator (its composer's
    sentence vectors) and the other generators' QAs: a QA made afresh at every re-index
    reloaded the support model and answered ~15x slower until its caches were warm again,
    which under a load of asks and library changes was most of the time."""
    lib = _library(tmp_path)
    old = lib.qa
    question = "Where does Moscow keep a naval base?"
    old.ask(question)
    ranked = lib.qa_for("ranked")
    assert ranked.scorer is old.scorer
    _add_article(lib.corpus_dir, 1)
    lib.reindex()
    new = lib.qa
    assert new.store is not old.store and new.store.gen != old.store.gen
    assert new.scorer is old.scorer and new.generator is old.generator
    assert lib.qa_for("ranked").generator is ranked.generator
    assert lib.qa_for("ranked").store is new.store
    fresh = rag.load(lib.index_dir, lib.settings)
    assert new.ask(question).to_dict() == fresh.ask(question).to_dict()


# --------------------------------------------------------------------------------------------
# The real models


@pytest.mark.model
def test_sentence_transformer_loads_once_for_all_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold embedder asked by 8 threads at once loaded the model 8 times (every trial)."""

    import sentence_transformers

    loads = []

    class Counting(sentence_transformers.SentenceTransformer):  # the real model, counted
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            loads.append(1)
            super().__init__(*args, **kwargs)

    sents = corpus_sentences(16)
    expected = get_embedder("all-MiniLM-L6-v2").embed(sents)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Counting)
    fresh = SentenceTransformerEmbedder()
    with fast_switching(1e-5):
        results = hammer(lambda i: fresh.embed([sents[i], sents[(i + 5) % 16]]), range(16))
    assert len(loads) == 1
    for i, got in results:
        np.testing.assert_allclose(got, expected[[i, (i + 5) % 16]], atol=1e-5)


def _overlapping_groups(sents: list[str], passages: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """Each sentence against every passage, and every sentence against each passage: every
    pair is in two groups, so threads reuse pairs another thread scored in another batch."""
    by_sentence = [tuple((s, p) for p in passages) for s in sents]
    by_passage = [tuple((s, p) for s in sents) for p in passages]
    return by_sentence + by_passage


@pytest.mark.model
def test_support_checker_shared_by_threads() -> None:
    """A cold checker (model loaded by the threads, a cache of 16 pairs that keeps evicting)
    gives each group of pairs the verdicts a lone thread gets. It failed before the
    cross-encoder ran each pair alone: the int8 model quantises activations with one scale
    per batch, so a pair's logit moved by up to 0.7 with the pairs batched beside it, and a
    verdict depended on which thread had scored the pair first."""
    groups = _overlapping_groups(corpus_sentences(6), corpus_passages(5))
    reference = SupportScorer()
    expected = {}
    for g in groups:
        reference._cache.clear()
        expected[g] = reference.score_many(g)
    shared = SupportScorer(cache_size=16)
    with fast_switching(1e-5):
        results = hammer(shared.score_many, groups)
    for g, got in results:
        assert [s.supported for s in got] == [s.supported for s in expected[g]]
        np.testing.assert_allclose([s.score for s in got], [s.score for s in expected[g]],
                                   atol=1e-6)
        assert [s.reasons for s in got] == [s.reasons for s in expected[g]]


@pytest.mark.model
def test_answer_ranker_shared_by_threads() -> None:
    """The answer ranker: the same question against overlapping candidate lists."""
    cands = corpus_sentences(24)
    lists = [tuple(cands[i : i + 8]) for i in range(0, 24, 4)]
    inputs = [(q, c) for q in eval_questions(3) for c in lists]
    reference = AnswerRanker()
    expected = {}
    for q, c in inputs:
        reference._cache.clear()
        expected[(q, c)] = reference.logits(q, c)
    shared = AnswerRanker()
    with fast_switching(1e-5):
        results = hammer(lambda x: shared.logits(*x), inputs)
    for x, got in results:
        np.testing.assert_allclose(got, expected[x], atol=1e-5)


def _composition(c: Any) -> tuple[Any, ...]:
    return (c.abstained, c.premise_conflict, c.reason,
            [(s.text, s.doc_id, s.start, s.end, s.passage) for s in c.sentences],
            [round(s.score, 5) for s in c.sentences])


@pytest.mark.model
def test_composers_shared_by_threads(model_qa: QA, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both composers, their sentence-vector cache cut to 64 vectors (of ~150) so threads
    evict each other's; the ranked one with its ranker and checker loaded by the threads."""
    questions = eval_questions(6)
    found = {q: model_qa.search(q, 8) for q in questions}

    def run(composer: Any, q: str) -> tuple[Any, ...]:
        r = found[q]
        return _composition(composer.run(q, r.passages, r.query_vector, r.context))

    emb = model_qa.embedder
    one = {"extractive": ExtractiveComposer(emb), "ranked": RankedComposer(emb)}
    expected = {(kind, q): run(c, q) for q in questions for kind, c in one.items()}
    monkeypatch.setattr(compose, "VECTOR_CACHE", 64)
    shared = {"extractive": ExtractiveComposer(emb), "ranked": RankedComposer(emb)}
    for cache in (text.stem, text._content_stems, compose._passage_names):
        cache.cache_clear()  # the threads fill the word caches themselves
    with fast_switching(1e-5):
        results = hammer(lambda x: run(shared[x[0]], x[1]),
                         [(kind, q) for kind in shared for q in questions])
    for x, got in results:
        assert got == expected[x], x


# Questions answered by the same sentences: their checks share (sentence, passage) pairs.
PARAPHRASES = [
    "Why won't Russia drop Assad?",
    "Why will Moscow not abandon Assad?",
    "What keeps Russia from dropping Bashar al-Assad?",
    "Why does Russia stand by Assad?",
    "What naval assets does Russia have in Syria?",
    "Which Russian military assets are in Syria?",
]


def _answer(a: Answer) -> tuple[Any, ...]:
    d = a.to_dict()
    for p in d["passages"]:
        p["score"] = round(p["score"], 9)
    return (d["answer"], d["citations"], d["passages"], d["abstained"], d["dropped"],
            [round(x.score, 6) for x in a.dropped])


@pytest.mark.model
def test_qa_ask_from_threads_matches_one_thread(model_index: Path) -> None:
    """The whole ``QA.ask``: a fresh QA (its checker, composer and caches filled by the
    threads) answers each question as a QA asked by one thread does: the same text,
    citations, passages (scores to 1e-9) and dropped sentences."""
    questions = eval_questions(8) + eval_questions(2, "news_cases.jsonl") + PARAPHRASES
    reference = rag.load(model_index)
    expected = {q: _answer(reference.ask(q)) for q in questions}
    fresh = rag.load(model_index)
    with fast_switching(1e-5):
        results = hammer(lambda q: _answer(fresh.ask(q)), questions)
    for q, got in results:
        assert got == expected[q], q
