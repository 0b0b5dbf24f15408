"""Tests for ``rag.verify.SupportScorer``, the trained support checker (the real committed ONNX
model: CI runs these): kinds of error it must catch, paraphrases it must keep, passage choice,
long passages, caching, threads, the file checks, and no torch on the way."""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from passages import OTHER_PASSAGES, PASSAGE, quote

import rag.verify
from rag.crossencoder import CrossEncoder, ModelFileError, model_dir
from rag.verify import Decision, SupportScorer, claim_windows

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news-cnn-dm-10k.jsonl.gz"

@pytest.fixture(scope="module")
def checker() -> SupportScorer:
    return SupportScorer()


def test_module_docstring_examples() -> None:
    result = doctest.testmod(rag.verify)
    assert result.attempted > 0 and result.failed == 0


def test_verbatim_sentence_is_supported_with_its_span(checker: SupportScorer) -> None:
    sentence = "Russia condemned the strike and suspended a military hotline with Washington."
    s = checker.score(sentence, PASSAGE)
    assert s.supported, s.reasons
    assert checker.threshold <= s.score <= 1.0
    assert quote(PASSAGE, s) == sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "On April 7, the US launched 59 Tomahawk missiles against the Shayrat base in Syria.",
        "After the strike, Russia cut its military hotline with Washington.",
        "Tillerson and Putin talked for two hours on the day after his arrival in Moscow.",
    ],
)
def test_paraphrases_are_supported(checker: SupportScorer, sentence: str) -> None:
    s = checker.score(sentence, PASSAGE)
    assert s.supported, (sentence, s)


# Misses of the shipped model (support-3), recorded rather than hidden: the model card and
# the claim set's per-kind figures say the same. A retrained model that catches one turns its
# xfail into an XPASS, and the mark should go. (support-1 missed the changed numbers and the
# swapped air base, which support-3 catches, and caught the antonym and the invented cause,
# which support-3 misses.)
_MISS = pytest.mark.xfail(reason="support-3 misses this kind (see rag/models/support/"
                                 "MODEL_CARD.md, Limits)", strict=False)


@pytest.mark.parametrize(
    "kind, sentence",
    [
        ("number", "The United States fired 95 Tomahawk cruise missiles at the Shayrat air "
                   "base."),
        ("number", "Tillerson and Putin spoke for five hours the next day."),
        ("name", "The United States fired 59 Tomahawk missiles at the Khmeimim air base."),
        ("negation", "Russia did not condemn the strike."),
        pytest.param("negation", "Rex Tillerson met Vladimir Putin on his first day in Moscow.",
                     marks=_MISS),
        pytest.param("antonym", "Russia praised the strike and restored a military hotline "
                     "with Washington.", marks=_MISS),
        pytest.param("roles", "Russia fired 59 Tomahawk cruise missiles at a US air base.",
                     marks=_MISS),
        pytest.param("cause", "Russia suspended the hotline because Washington had refused "
                     "to share intelligence.", marks=_MISS),
        ("detail", "Russia condemned the strike and expelled three American diplomats."),
        ("unrelated", "China announced new tariffs on steel imports."),
    ],
)
def test_altered_claims_are_not_supported(checker: SupportScorer, kind: str, sentence: str
                                          ) -> None:
    s = checker.score(sentence, PASSAGE)
    assert not s.supported, (kind, sentence, s)
    assert s.reasons and s.reasons[-1].startswith("support score"), s.reasons


@pytest.mark.parametrize("sentence", ["The answer is:", "Yes.", "The facilities it keeps are:"])
def test_a_sentence_that_states_nothing_is_not_supported(checker: SupportScorer, sentence: str
                                                         ) -> None:
    s = checker.score(sentence, PASSAGE)
    assert not s.supported and s.reasons == ("the sentence states nothing that can be checked",)


def test_a_tiny_passage_needs_the_words_to_agree(checker: SupportScorer) -> None:
    s = checker.score("The capital of Australia is Canberra.", "Ania Viver")
    assert not s.supported
    assert checker.score("Ania Viver wrote the article.", "By Ania Viver, who wrote the "
                         "article.").supported


def test_best_picks_the_supporting_passage(checker: SupportScorer) -> None:
    passages = [*OTHER_PASSAGES, PASSAGE]
    i, s = checker.best("Russia suspended a military hotline with Washington.", passages)
    assert i == 2 and s.supported
    i, s = checker.best("The council approved 40 new electric buses.", [PASSAGE, *OTHER_PASSAGES])
    assert i == 2 and s.supported
    i, s = checker.best("Oil prices fell after OPEC ended production cuts.", [PASSAGE])
    assert i == 0 and not s.supported
    assert checker.best("Anything.", [])[0] == -1


def test_long_passage_is_read_in_windows(checker: SupportScorer) -> None:
    filler = " ".join(f"Paragraph {i} talks about the weather in the region." for i in range(40))
    long_passage = filler + " " + PASSAGE
    assert len(checker.windows("Russia condemned the strike.", long_passage)) > 1
    s = checker.score("Russia condemned the strike.", long_passage)
    assert s.supported, s
    assert "Russia condemned the strike" in quote(long_passage, s)
    assert not checker.score("Russia did not condemn the strike.", long_passage).supported


def test_claim_windows_hold_the_best_matching_sentences() -> None:
    from rag.text import split_sentences

    filler = " ".join(f"Paragraph {i} talks about the weather in the region." for i in range(30))
    long_passage = filler + " " + PASSAGE + " " + filler
    claim = "Russia condemned the strike."
    windows = claim_windows(claim, long_passage, k=2, max_chars=450)
    assert 1 <= len(windows) <= 2
    assert all(b - a <= 450 for a, b in windows)
    assert windows == sorted(windows)
    assert any("Russia condemned the strike" in long_passage[a:b] for a, b in windows)
    # Every window is made of whole sentences of the passage.
    starts = {a for a, _ in split_sentences(long_passage)}
    ends = {b for _, b in split_sentences(long_passage)}
    assert all(a in starts and b in ends for a, b in windows)
    # Training reads the same window the checker reads first (rag.train.support_data).
    from rag.train.support_data import window_of

    a, b = claim_windows(claim, long_passage, k=1, max_chars=450)[0]
    assert window_of(claim, long_passage, 450) == long_passage[a:b]
    assert window_of(claim, long_passage, None) == long_passage
    with pytest.raises(ValueError, match="must be > 0"):
        claim_windows(claim, long_passage, k=0)


def test_the_model_reads_passages_as_it_was_trained(checker: SupportScorer) -> None:
    """meta.json says how the model reads a passage; a model without the record reads chunk
    windows (support-1), and an unknown mode is refused."""
    w = checker.window
    assert w["mode"] in ("claim", "chunk")
    filler = " ".join(f"Paragraph {i} talks about the weather in the region." for i in range(40))
    long_passage = filler + " " + PASSAGE
    spans = checker.windows("Russia condemned the strike.", long_passage)
    if w["mode"] == "claim":
        assert len(spans) <= w["k"] and all(b - a <= w["max_chars"] for a, b in spans)
    else:
        assert any(b - a > 450 for a, b in spans)


def test_unknown_window_mode_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "support"
    shutil.copytree(model_dir("support"), folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["window"] = {"mode": "paragraph"}
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="unknown window mode 'paragraph'"):
        SupportScorer(folder).windows("A claim.", "A passage. " * 100)


def test_contracted_negations_read_as_written_out(checker: SupportScorer) -> None:
    """The model reads "doesn't" as "does not" on both sides (rag.verify.model_input): a true
    paraphrase that only writes a negation out is no mismatch (support-3 as trained scored
    this pair at logit -4.9)."""
    passage = ("Putin's statements signal that he doesn't see dropping Assad as a viable option. "
               "Moscow froze the military hotline with the United States.")
    short, long = ("Putin doesn't see dropping Assad as a viable option.",
                   "Putin does not see dropping Assad as a viable option.")
    a, b = checker.logits([(short, passage), (long, passage)])
    assert a == pytest.approx(b, abs=1e-6)
    assert checker.score(long, passage).supported


def test_empty_passage(checker: SupportScorer) -> None:
    assert not checker.score("Russia condemned the strike.", "").supported
    assert checker.score("Russia condemned the strike.", "  \n").reasons == ("empty passage",)


class CountingEncoder(CrossEncoder):
    def __init__(self) -> None:
        super().__init__(model_dir("support"))
        self.calls: list[int] = []

    def logits(self, pairs):  # type: ignore[no-untyped-def]
        self.calls.append(len(pairs))
        return super().logits(pairs)


def test_scores_are_cached_and_batched() -> None:
    checker = SupportScorer()
    checker.encoder = CountingEncoder()
    sentences = ["Russia condemned the strike.", "Oil prices rose on Monday."]
    checker.warm(sentences, [PASSAGE, *OTHER_PASSAGES])
    assert checker.encoder.calls == [6]  # one batch for every pair
    for s in sentences:
        checker.best(s, [PASSAGE, *OTHER_PASSAGES])
    assert checker.encoder.calls == [6]  # all from the cache


def test_threads_agree_with_a_single_thread() -> None:
    sentences = ["Russia condemned the strike.", "Russia praised the strike.",
                 "The US fired 59 missiles.", "The US fired 95 missiles.",
                 "Oil prices rose on Monday.", "The council cut the bus budget."]
    passages = [PASSAGE, *OTHER_PASSAGES]
    expected = [SupportScorer().best(s, passages) for s in sentences]
    shared = SupportScorer(cache_size=3)  # tiny cache: evictions race with lookups
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [shared.best(s, passages) for s in sentences[k % 3 :] + sentences[: k % 3]]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, got in results.items():
        order = sentences[k % 3 :] + sentences[: k % 3]
        for s, (i, sup) in zip(order, got, strict=True):
            ei, esup = expected[sentences.index(s)]
            assert i == ei and sup.supported == esup.supported
            assert sup.score == pytest.approx(esup.score, abs=1e-4)


def test_pairs_scored_side_by_side_equal_each_pair_scored_alone() -> None:
    """``threads=2`` runs two pairs at once on one session: the logits are those of each pair
    run alone on one thread, to the last bit, in the order given, for both shipped models."""
    sentences = ["Russia condemned the strike.", "The US fired 59 missiles.",
                 "Oil prices rose on Monday.", "Moscow suspended the hotline with Washington."]
    pairs = [(s, p) for s in sentences for p in [PASSAGE, *OTHER_PASSAGES]]
    for name in ("support", "ranker"):
        alone = CrossEncoder(model_dir(name), threads=1)
        one_by_one = np.array([alone.logits([p])[0] for p in pairs], dtype=np.float32)
        together = CrossEncoder(model_dir(name), threads=2).logits(pairs)
        assert np.array_equal(together, one_by_one), (name, together - one_by_one)
        assert len(set(together.tolist())) > len(pairs) // 2  # real, varied scores
    with pytest.raises(ValueError, match="threads must be > 0, got 0"):
        CrossEncoder(model_dir("support"), threads=0)


def test_corrupt_or_foreign_model_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "support"
    shutil.copytree(model_dir("support"), folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its meta.json"):
        SupportScorer(folder).score("Russia condemned the strike.", PASSAGE)
    meta = json.loads((folder / "meta.json").read_text())
    meta["format"] = 99
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="format 99"):
        SupportScorer(folder).score("Russia condemned the strike.", PASSAGE)
    (folder / "meta.json").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        SupportScorer(folder).score("Russia condemned the strike.", PASSAGE)


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        SupportScorer(threshold=1.5)
    with pytest.raises(ValueError, match="cache_size"):
        SupportScorer(cache_size=0)
    with pytest.raises(ValueError, match="unknown decision features"):
        Decision(("logit", "shoe_size"), (1.0, 1.0))
    with pytest.raises(ValueError, match="weights"):
        Decision(("logit",), (1.0, 2.0))
    strict = SupportScorer(threshold=0.999999)
    assert not strict.score("Russia condemned the strike.", PASSAGE).supported


def test_decision_comes_from_the_committed_calibration() -> None:
    meta = json.loads((model_dir("support") / "meta.json").read_text())
    d = meta["decision"]
    assert d["features"][0] == "logit" and len(d["weights"]) == len(d["features"])
    assert 0 < d["threshold"] < 1
    assert SupportScorer().threshold == pytest.approx(d["threshold"])


def test_checking_needs_no_torch() -> None:
    code = (
        "import sys, rag.verify as v\n"
        "s = v.SupportScorer().score('Russia condemned the strike.', "
        "'Russia condemned the strike on Friday.')\n"
        "assert s.supported\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.skipif(not NEWS.exists(), reason="shared news data not found")
def test_balanced_accuracy_on_held_apart_news_pairs() -> None:
    from evals.scorer_report import scorer_balanced_accuracy

    out = scorer_balanced_accuracy(NEWS, n_pairs=40, split="report")
    assert out["n_pairs"] == 40 and out["split"] == "report"
    # The target is 0.85 on 300 pairs (the eval report shows the distance to it);
    # this floor is the shipped model's figure on these 40 pairs (support-3: 0.85; support-1
    # had 0.7625).
    assert out["balanced_accuracy"] >= 0.85, out
