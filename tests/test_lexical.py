"""Tests for ``rag.lexical.LexicalScorer``, the word-overlap scorer behind the hard checks
(numbers, names, dates, negation) and the independent second opinion of the eval suite: the
checks one by one, passage choice, embedding caching."""

from __future__ import annotations

import doctest
from collections.abc import Sequence

import numpy as np
import pytest
from passages import OTHER_PASSAGES, PASSAGE, quote

import rag.lexical
from rag.embed import HashEmbedder
from rag.lexical import FEATURES, default_params, load_params
from rag.lexical import LexicalScorer as SupportScorer


@pytest.fixture(scope="module")
def scorer() -> SupportScorer:
    return SupportScorer()


def test_module_docstring_examples() -> None:
    result = doctest.testmod(rag.lexical)
    assert result.attempted > 0 and result.failed == 0


def test_verbatim_sentence_is_supported(scorer: SupportScorer) -> None:
    sentence = "Russia condemned the strike and suspended a military hotline with Washington."
    s = scorer.score(sentence, PASSAGE)
    assert s.supported, s.reasons
    assert s.score >= scorer.threshold and 0.0 <= s.score <= 1.0
    assert quote(PASSAGE, s) == sentence
    assert s.reasons == ()


def test_changed_number_is_not_supported_and_says_why(scorer: SupportScorer) -> None:
    s = scorer.score("The United States fired 95 Tomahawk cruise missiles at Shayrat.", PASSAGE)
    assert not s.supported
    assert "number 95 not in passage" in s.reasons
    # number words count as numbers too: the passage says "two hours", not three
    s = scorer.score("Tillerson and Putin spoke for three hours the next day.", PASSAGE)
    assert not s.supported
    assert "number 3 not in passage" in s.reasons


def test_changed_name_or_date_is_not_supported_and_says_why(scorer: SupportScorer) -> None:
    s = scorer.score("The United States fired 59 missiles at the Khmeimim air base.", PASSAGE)
    assert not s.supported
    assert any("Khmeimim" in r and "not in passage" in r for r in s.reasons), s.reasons
    s = scorer.score("Secretary of State Mike Pompeo did not meet Putin in Moscow.", PASSAGE)
    assert not s.supported
    assert any("Mike Pompeo" in r for r in s.reasons), s.reasons
    s = scorer.score("The United States fired 59 Tomahawk missiles at Shayrat on May 7.", PASSAGE)
    assert not s.supported
    assert "date 'May' not in passage" in s.reasons


def test_negated_claim_is_flagged(scorer: SupportScorer) -> None:
    s = scorer.score("Russia did not condemn the strike.", PASSAGE)
    assert not s.supported
    assert any(r.startswith("negation mismatch") and "condemn" in r for r in s.reasons)
    # the other way round: the passage negates what the sentence asserts ("met" -> "meet")
    s = scorer.score("Rex Tillerson met Vladimir Putin on his first day in Moscow.", PASSAGE)
    assert not s.supported
    assert any(r.startswith("negation mismatch") for r in s.reasons), s.reasons
    # the same negation on both sides is fine
    s = scorer.score("Tillerson did not meet Putin on his first day in Moscow.", PASSAGE)
    assert s.supported, s.reasons


@pytest.mark.parametrize(
    "sentence",
    [
        "On April 7, the US launched 59 Tomahawk missiles against the Shayrat base in Syria.",
        "After the strike, Russia suspended its military hotline with Washington and "
        "condemned the attack.",
        "The day after arriving in Moscow, Tillerson spoke with Putin for two hours.",
    ],
)
def test_paraphrase_with_same_content_is_supported(scorer: SupportScorer, sentence: str) -> None:
    s = scorer.score(sentence, PASSAGE)
    assert s.supported, s.reasons


def test_unrelated_sentence_is_not_supported(scorer: SupportScorer) -> None:
    for sentence in ("The budget was cut.", "China announced new tariffs on steel imports."):
        s = scorer.score(sentence, PASSAGE)
        assert not s.supported
        assert any(r.startswith("only 0 of") for r in s.reasons), s.reasons
        assert any(r.startswith("content words not in passage") for r in s.reasons)
    # mostly off-topic, with one shared word
    s = scorer.score("Washington announced new tariffs on Chinese steel imports.", PASSAGE)
    assert not s.supported and s.score < scorer.threshold, s


def test_best_picks_the_supporting_passage(scorer: SupportScorer) -> None:
    passages = [*OTHER_PASSAGES, PASSAGE]
    i, s = scorer.best("Russia suspended a military hotline with Washington.", passages)
    assert i == 2 and s.supported
    assert quote(PASSAGE, s) == (
        "Russia condemned the strike and suspended a military hotline with Washington."
    )
    i, s = scorer.best("The council approved 40 new electric buses.", [PASSAGE, *OTHER_PASSAGES])
    assert i == 2 and s.supported
    i, s = scorer.best("Oil prices fell after OPEC ended production cuts.", [PASSAGE])
    assert i == 0 and not s.supported
    assert scorer.best("Anything.", [])[0] == -1


def test_window_spans_adjacent_sentences(scorer: SupportScorer) -> None:
    sentence = "The US fired 59 Tomahawk missiles at Shayrat, and Russia suspended a hotline."
    s = scorer.score(sentence, PASSAGE)
    assert s.supported, s.reasons
    cited = quote(PASSAGE, s)
    assert cited.startswith("The United States fired") and cited.endswith("with Washington.")


def test_empty_inputs(scorer: SupportScorer) -> None:
    assert not scorer.score("Russia condemned the strike.", "").supported
    assert not scorer.score("Russia condemned the strike.", "   \n").supported


def test_threshold_override_and_params() -> None:
    strict = SupportScorer(threshold=1.0)
    assert not strict.score("Russia condemned the strike.", PASSAGE).supported
    with pytest.raises(ValueError):
        SupportScorer(threshold=1.5)
    params = load_params()
    lexical = params["models"]["lexical"]
    assert len(lexical["weights"]) == len(lexical["features"])
    assert 0.0 < lexical["threshold"] < 1.0
    assert SupportScorer(params=default_params()).model_name == "lexical"


class CountingEmbedder(HashEmbedder):
    """A real (hashing) embedder that records every text it embeds."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.seen: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_batch(texts)


def test_embedding_feature_is_optional_and_cached() -> None:
    embedder = CountingEmbedder()
    # Without a model fitted for this embedder, the lexical model is used, and nothing embedded.
    plain = SupportScorer(embedder=embedder)
    assert plain.model_name == "lexical" and plain.embedder is None
    plain.score("Russia condemned the strike.", PASSAGE)
    assert embedder.seen == []

    base = default_params()
    lexical = base["models"]["lexical"]
    base["models"][embedder.name] = {
        **lexical,
        "features": list(FEATURES),
        "weights": [*lexical["weights"], 2.0],
    }
    scorer = SupportScorer(embedder=embedder, params=base)
    assert scorer.model_name == embedder.name
    s1 = scorer.score("Russia condemned the strike.", PASSAGE)
    n_first = len(embedder.seen)
    assert n_first >= 4  # the sentence and every passage sentence
    assert any(r.startswith("similarity") for r in s1.reasons)
    scorer.score("Russia suspended a military hotline.", PASSAGE)
    assert len(embedder.seen) == n_first + 1  # only the new sentence
    s3 = scorer.score("Russia condemned the strike.", PASSAGE)
    assert len(embedder.seen) == n_first + 1 and s3 == s1

    # warm() embeds everything a batch of checks needs at once
    fresh = SupportScorer(embedder=embedder, params=base)
    before = len(embedder.seen)
    sentences = ["Russia condemned the strike.", "Oil prices rose on Monday."]
    fresh.warm(sentences, [PASSAGE, *OTHER_PASSAGES])
    warmed = len(embedder.seen)
    assert warmed > before
    for sentence in sentences:
        fresh.best(sentence, [PASSAGE, *OTHER_PASSAGES])
    assert len(embedder.seen) == warmed
