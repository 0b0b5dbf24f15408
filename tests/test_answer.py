"""The one answer builder (``rag.answer``): the rules every answer writer shares, with a
working fake checker (a sentence is supported where a passage contains it verbatim)."""

from __future__ import annotations

from collections.abc import Sequence

from rag import prompts
from rag.answer import AnswerBuilder, Claim
from rag.generate import ExtractiveGenerator
from rag.lexical import Support
from rag.types import Passage, Retrieval

A = "Moscow keeps a naval base in Tartus."
B = "The base hosts Russian ships."
P1 = Passage("c1", "a.md", "A", f"{A} {B}", 1.0, start=100, end=166,
             sentences=((100, 136), (137, 166)))
P2 = Passage("c2", "b.md", "B", "Putin will not abandon Assad.", 0.5, start=0, end=29,
             sentences=((0, 29),))


class Contains:
    """Supported where the passage contains the sentence; counts its batches."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, sentence: str, passage: str) -> Support:
        i = passage.find(sentence)
        if i < 0:
            return Support(0.1, False, ("not in passage",), (0, 0))
        return Support(0.9, True, (), (i, i + len(sentence)))

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        self.batches.append(len(pairs))
        return [self.score(s, p) for s, p in pairs]

    def best(self, sentence: str, passages: Sequence[str]) -> tuple[int, Support]:
        scored = [self.score(sentence, p) for p in passages]
        i = max(range(len(scored)), key=lambda k: scored[k].score)
        return i, scored[i]


def test_numbering_merging_and_repointing() -> None:
    b = AnswerBuilder("Q?", [P1, P2], Contains())
    assert b.add(Claim(A, (1,), (100, 136)))
    assert b.add(Claim("Putin will not abandon Assad.", (1,)))  # wrong number: re-pointed
    assert b.add(Claim(A, (2,)))  # the same quote again: the same number
    final = b.final()
    assert final.text == f"{A} [1] Putin will not abandon Assad. [2] {A} [1]"
    assert [(c.n, c.doc_id, c.start, c.end) for c in final.citations] == [
        (1, "a.md", 100, 136), (2, "b.md", 0, 29)]
    assert b.verified[1].repointed and not final.dropped and "verify" in final.timings


def test_a_quote_is_never_repointed_and_a_drop_says_why() -> None:
    b = AnswerBuilder("Q?", [P1, P2], Contains())
    assert not b.add(Claim("Putin will not abandon Assad.", (1,), (100, 129)))
    assert not b.add(Claim("Assad studied in London.", (2,)))
    final = b.final(reason="nothing relevant")
    assert final.abstained and not final.citations
    assert final.text == prompts.ABSTAIN + prompts.ABSTAIN_CLOSEST
    assert [d.reason for d in final.dropped][0] == "not in passage"
    assert "none of the 2 retrieved passages [1]-[2] supports it" in final.dropped[1].reason


def test_false_premise_preface_and_snapshots_in_one_batch() -> None:
    checker = Contains()
    b = AnswerBuilder("Why did Putin agree to abandon Assad?", [P1, P2], checker,
                      abstained=True, premise_conflict=True)
    snaps = list(b.extend([Claim("Putin will not abandon Assad.", (2,), (0, 29)),
                           Claim(B, (1,), (137, 166))]))
    assert checker.batches == [2]  # one call of the checker for all the claims
    assert [s.text for s in snaps] == [
        f"{prompts.FALSE_PREMISE} Putin will not abandon Assad. [1]",
        f"{prompts.FALSE_PREMISE} Putin will not abandon Assad. [1] {B} [2]",
    ]
    assert all(s.abstained and not s.timings for s in snaps)
    final = b.final()
    assert final.abstained and final.text == snaps[-1].text and final.timings


class OneSentence:
    """A working fake composer: the first sentence of the first passage."""

    def run(self, question: str, passages: Sequence[Passage], query_vector: object = None,
            context: Sequence[Passage] = (), stored: object = None):  # noqa: ANN201
        from rag.compose import Composition, Selected

        p = passages[-1]
        s, e = p.sentences[0]
        return Composition([Selected(p.text[s - p.start:e - p.start], p.doc_id, s, e,
                                     len(passages) - 1, 1.0)])


def test_the_extractive_generator_shows_top_k_and_what_it_cites() -> None:
    gen = ExtractiveGenerator(composer=OneSentence())
    retrieval = Retrieval("Q?", [P2, P1], timings={"retrieve": 0.01})
    final = list(gen.answer("Q?", retrieval, Contains(), top_k=1))[-1]
    assert [p.chunk_id for p in final.passages] == ["c2", "c1"]  # c1 is beyond top_k but cited
    assert final.text == f"{A} [1]" and final.citations[0].chunk_id == "c1"
    assert set(final.timings) == {"retrieve", "compose", "verify"}
