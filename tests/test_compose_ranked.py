"""The ranked composer (opt-in, ``rag.compose_ranked``): its rules with a scripted ranker,
then the trained ranker and checker on demo-corpus passages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag.compose_ranked import ComposeParams
from rag.compose_ranked import RankedComposer as ExtractiveComposer
from rag.lexical import Support
from rag.question import premise, question_type
from rag.types import Passage


class ScriptedRanker:
    """A working fake: the logit of a candidate is given by the first scripted phrase its
    sentence contains (else -5); ``answerable`` is sigmoid(logit), threshold 0.5."""

    threshold = 0.5

    def __init__(self, script: dict[str, float]) -> None:
        self.script = script
        self.seen: list[str] = []

    def logits(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        self.seen += list(candidates)
        out = []
        for c in candidates:
            sentence = c.split(" || ")[0]
            out.append(next((v for k, v in self.script.items() if k in sentence), -5.0))
        return np.asarray(out, dtype=np.float32)

    def answerable(self, question_type: str, best_logit: float) -> float:
        return float(1 / (1 + np.exp(-best_logit)))

    def cosine_weight(self, embedding_model: str | None) -> float | None:
        return None

    def neutral_cosine(self) -> float:
        return 0.0


class AlwaysSupported:
    """A working fake checker: every premise is supported."""

    supported = True

    def best(self, sentence: str, passages: Sequence[str]) -> tuple[int, Support]:
        return 0, Support(1.0 if self.supported else 0.0, self.supported, (), (0, 0))


class NeverSupported(AlwaysSupported):
    supported = False


def passage(doc: str, text: str, start: int = 0, rank: int = 0) -> Passage:
    from rag.text import split_sentences

    sents = tuple((s + start, e + start) for s, e in split_sentences(text))
    return Passage(f"{doc}:{rank}", doc, doc, text, 1.0, start, start + len(text), None, sents)


TEXT = ("The fleet sailed from Tartus in May. It carried 40 sailors to the base. "
        "Officials praised the crew. The base hosts Russian ships and planes.")


def compose(script: dict[str, float], question: str, passages: Sequence[Passage],
            checker: object = None, **params: object) -> tuple[list[str], bool, str]:
    comp = ExtractiveComposer(ranker=ScriptedRanker(script), checker=checker or AlwaysSupported(),
                              params=ComposeParams(**params))  # type: ignore[arg-type]
    out = comp.run(question, passages)
    return [s.text for s in out.sentences], out.abstained, out.reason


def test_the_best_sentence_answers_and_offsets_are_exact() -> None:
    p = passage("a.md", TEXT, start=100)
    texts, abstained, _ = compose({"Officials": 3.0}, "Who praised the crew?", [p])
    assert texts == ["Officials praised the crew."]
    assert not abstained
    sel = ExtractiveComposer(ranker=ScriptedRanker({"Officials": 3.0}),
                             checker=AlwaysSupported()).run("Who praised the crew?", [p])
    s = sel.sentences[0]
    assert TEXT[s.start - 100 : s.end - 100] == s.text


def test_it_abstains_when_no_sentence_answers() -> None:
    texts, abstained, reason = compose({}, "Who praised the crew?", [passage("a.md", TEXT)])
    assert abstained and texts == []
    assert "probability" in reason


def test_a_number_question_is_answered_only_by_a_sentence_with_a_number() -> None:
    # The ranker likes the planes sentence best, but it gives no number.
    texts, abstained, _ = compose({"planes": 6.0, "sailors": 2.0},
                                  "How many sailors were on board?", [passage("a.md", TEXT)])
    assert not abstained
    assert texts[-1] == "It carried 40 sailors to the base."
    assert not any("planes" in t for t in texts)
    _, abstained, reason = compose({"planes": 6.0}, "How much did the base cost?",
                                   [passage("a.md", TEXT)])
    assert abstained and "money" in reason


def test_a_bare_pronoun_subject_brings_its_antecedent() -> None:
    texts, _, _ = compose({"sailors": 4.0}, "How many sailors went?", [passage("a.md", TEXT)])
    assert texts == ["The fleet sailed from Tartus in May.", "It carried 40 sailors to the base."]


def test_a_pronoun_sentence_without_its_antecedent_is_passed_over() -> None:
    p = passage("a.md", "It carried 40 sailors to the base. Officials praised the crew.")
    texts, _, _ = compose({"sailors": 4.0, "Officials": 2.5}, "Who was on board?", [p])
    assert texts == ["Officials praised the crew."]


def test_further_sentences_need_to_answer_and_score_near_the_best() -> None:
    p = passage("a.md", TEXT)
    texts, _, _ = compose({"Officials": 5.0, "planes": 4.0, "Tartus": -1.0}, "What?", [p],
                          margin=2.0)
    assert texts == ["Officials praised the crew.", "The base hosts Russian ships and planes."]
    texts, _, _ = compose({"Officials": 5.0, "planes": 2.5}, "What?", [p], margin=2.0)
    assert texts == ["Officials praised the crew."]  # 2.5 below the best: outside the margin


def test_a_restatement_is_left_out() -> None:
    p = passage("a.md", "Officials praised the crew on Monday. On Monday officials praised the "
                "crew. The base hosts ships.")
    texts, _, _ = compose({"Officials praised": 5.0, "officials praised": 4.8}, "What?", [p])
    assert len(texts) == 1


def test_a_question_about_both_articles_quotes_both() -> None:
    a = passage("a.md", TEXT)
    b = passage("b.md", "Moscow sees the base as vital. Analysts doubt that view.", rank=1)
    texts, _, _ = compose({"Officials": 6.0, "planes": 5.5, "vital": 1.0},
                          "What do the two articles say about the base?", [a, b])
    assert "Moscow sees the base as vital." in texts


def test_an_unsupported_premise_is_corrected_not_answered() -> None:
    p = passage("a.md", TEXT)
    comp = ExtractiveComposer(ranker=ScriptedRanker({"Officials": 4.0}),
                              checker=NeverSupported())
    out = comp.run("Why did officials condemn the crew?", [p])
    assert out.abstained and out.premise_conflict
    assert [s.text for s in out.sentences] == ["Officials praised the crew."]


def test_the_ranker_reads_each_sentence_with_the_one_before() -> None:
    ranker = ScriptedRanker({"Officials": 3.0})
    ExtractiveComposer(ranker=ranker, checker=AlwaysSupported()).run(
        "Who praised the crew?", [passage("a.md", TEXT)])
    assert "Officials praised the crew. || It carried 40 sailors to the base." in ranker.seen


def test_the_shortlist_bounds_the_ranker_work() -> None:
    text = " ".join(f"Sentence number {i} talks about item {i}." for i in range(40))
    ranker = ScriptedRanker({})
    ExtractiveComposer(ranker=ranker, checker=AlwaysSupported(),
                       params=ComposeParams(rank_budget=8)).run("What about item 7?",
                                                                [passage("a.md", text)])
    assert len(ranker.seen) == 8
    assert any("item 7." in s for s in ranker.seen)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many missiles were fired?", "number"),
        ("How long has the war lasted?", "number"),
        ("How much does a Tomahawk missile cost?", "money"),
        ("On what date did the strike happen?", "date"),
        ("When did the strike happen?", "date"),
        ("Who wrote the piece?", "person"),
        ("Why won't Russia drop Assad?", "why"),
        ("How does Russia use Syria at home?", "how"),
        ("What did Mattis say?", "other"),
    ],
)
def test_question_types(question: str, kind: str) -> None:
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("question", "claim"),
    [
        ("Why did Putin agree to abandon Assad?", "Putin agree to abandon Assad."),
        ("Why is the US worried about Iran?", "The US is worried about Iran."),
        ("Why won't Russia drop Assad?", "Russia won't drop Assad."),
        # A subject longer than a determiner and a noun ends where the predicate starts.
        ("Why is the space station crew not in trouble?",
         "The space station crew is not in trouble."),
        ("Why have the talks with the opposition stalled?",
         "The talks with the opposition have stalled."),
        ("Why could Russia's role in Syria be more dangerous?",
         "Russia's role in Syria could be more dangerous."),
        ("How many missiles were fired?", None),
    ],
)
def test_premises(question: str, claim: str | None) -> None:
    assert premise(question) == claim


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="max_sentences must be > 0, got 0"):
        ComposeParams(max_sentences=0)
    with pytest.raises(ValueError, match="rank_budget must be > 0"):
        ComposeParams(rank_budget=0)
    with pytest.raises(ValueError, match="redundant must be in"):
        ComposeParams(redundant=1.5)


@pytest.mark.parametrize(
    ("kind", "text", "holds"),
    [
        ("number", "The ships fired 59 missiles.", True),
        ("number", "Two destroyers took part.", True),
        ("number", "The ships fired a volley of missiles.", False),
        ("money", "The corridor will cost 4.3 billion kroner.", True),
        ("money", "It cost $5 million.", True),
        ("money", "It will take 4.3 years.", False),
        ("date", "The strike came on April 7.", True),
        ("date", "The attack happened last week.", True),
        ("date", "The attack was condemned.", False),
    ],
)
def test_type_checks(kind: str, text: str, holds: bool) -> None:
    from rag.compose_ranked import TYPE_CHECKS

    assert TYPE_CHECKS[kind](text) is holds


@pytest.mark.parametrize(
    ("sentence", "bare"),
    [
        ("It would deprive Moscow of its only ally.", True),
        ("They have refused to budge.", True),
        ("This means the talks failed.", True),
        ("This week the talks failed.", False),
        ("Its navy keeps a base there.", False),
        ("Moscow keeps a base there.", False),
    ],
)
def test_bare_pronoun_subjects(sentence: str, bare: bool) -> None:
    from rag.compose_ranked import _PRONOUN_SUBJECT

    assert bool(_PRONOUN_SUBJECT.match(sentence)) is bare


# -- the trained ranker and checker on demo-corpus passages ----------------------------------
@pytest.fixture(scope="module")
def demo_passages(hash_index):  # noqa: ANN001, ANN201
    import rag

    qa = rag.load(hash_index, embedding_model="hash")
    return lambda q: qa.retrieve(q, top_k=8)


def test_the_trained_ranker_picks_the_sentence_with_the_number(demo_passages) -> None:  # noqa: ANN001
    q = "How many Tomahawk cruise missiles did the US warships launch?"
    out = ExtractiveComposer().run(q, demo_passages(q))
    assert not out.abstained
    assert "59" in out.sentences[0].text


def test_the_trained_ranker_abstains_off_topic(demo_passages) -> None:  # noqa: ANN001
    q = "What is the capital of Australia?"
    assert ExtractiveComposer().run(q, demo_passages(q)).abstained


def test_a_negated_premise_is_corrected() -> None:
    p = passage("a.md", "Putin’s intervention saved the Syrian government. Still, the Russian "
                "leader has made clear he will not abandon Assad. Talks in Moscow went badly.")
    out = ExtractiveComposer().run("Why did Putin agree to abandon Assad?", [p])
    assert out.abstained and out.premise_conflict
    assert any("will not abandon Assad" in s.text for s in out.sentences)
