"""Training and calibration examples for the support model: (claim, passage, label).

The passage is a chunk of the article cut exactly as the index cuts it
(``rag.chunk.chunk_document``, 900 characters, one sentence of overlap) and, with ``window``
(support-3 on), the claim's window of that chunk that the checker reads live
(``rag.verify.claim_windows``: the sentence sharing most words with the claim and its
neighbours), so the model learns on the inputs it meets live. Per article of the split, in a
seeded order:

- ``faithful``: sentences of the faithful summary, each with the chunk that covers it best
  (lexical alignment with the word-overlap scorer; a sentence that no single chunk covers
  well is skipped, since its support spans chunks) - supported, and they paraphrase;
- ``hallucinated``: the falsified summary is rewritten throughout, so many of its
  sentences are true; only its least supported sentence (by the word-overlap scorer over all
  chunks) is taken as unsupported, with the chunk that matches it best - a multiple-instance
  choice: the summary is false because of *some* sentence. A falsified-summary sentence the
  overlap scorer finds fully supported is kept as a supported example now and then, so that
  the rewritten style of those summaries is no cue for "unsupported";
- ``synthetic:<kind>``: a faithful-summary sentence or an article sentence altered by one of
  ``rag.train.perturb.NEGATIVE_KINDS`` (number, name swap, negation, antonym, roles reversed,
  invented detail, invented cause) against the same chunk - unsupported;
- ``verbatim`` and ``synthetic:<positive kind>``: an article sentence as it stands, or with a
  clause dropped / a phrase moved / speech reported differently - supported;
- ``mismatch``: a faithful sentence against a chunk of the same article that shares few of
  its words - unsupported (the wrong-passage citation).

``contrast_examples`` (``contrast_share`` of the articles; once a second training stage)
makes contrastive pairs: an article
sentence as it stands or reworded (supported) beside the same sentence with a swapped name,
reversed roles, an antonym, a changed number or a negation (unsupported), all against the
same chunk, so that the model must look at the changed words; invented clauses there come
from other articles' sentences, not from templates.

It leaves out any check that a synthetic negative is really false (a number changed to one
that the chunk states elsewhere, say); such noise is rare and the calibration split measures
the result.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..chunk import chunk_document
from ..lexical import LexicalScorer
from ..types import Document
from ..verify import claim_windows
from .news import DEFAULT_DATA, Article, read_articles
from .perturb import NEGATIVE_KINDS, POSITIVE_KINDS, names_in

__all__ = ["Example", "article_examples", "build_examples", "contrast_examples", "describe",
           "iter_jsonl", "window_of"]

CHUNK_SIZE, CHUNK_OVERLAP = 900, 1  # as the index (rag.settings.Settings)
ALIGN_MIN_COVERAGE = 0.6  # share of a summary sentence's content words its chunk must hold
MISMATCH_MAX_COVERAGE = 0.3  # ... and at most this share for a "wrong passage" chunk
HALLUCINATED_MAX_SCORE = 0.5  # a falsified sentence is taken as unsupported below this score
STYLE_POSITIVE_MIN_SCORE = 0.95  # ... and as supported (sometimes) above this one
FAITHFUL_PER_ARTICLE = 3
ARTICLE_SENTENCES_PER_ARTICLE = 1


@dataclass(frozen=True)
class Example:
    claim: str
    passage: str
    label: int  # 1 supported, 0 unsupported
    source: str  # faithful, hallucinated, synthetic:<kind>, verbatim, mismatch, ...
    article_id: str = ""


def _negative(
    sentence: str, rng: random.Random, names: list[str], donors: list[str]
) -> tuple[str, str] | None:
    kinds = list(NEGATIVE_KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        fn = NEGATIVE_KINDS[kind]
        if kind in ("name_swap", "role_reversal"):
            out = fn(sentence, rng, names)
        elif kind.startswith("invented"):
            out = fn(sentence, rng, names, donors)
        else:
            out = fn(sentence, rng)
        if out and out != sentence:
            return kind, out
    return None


def _positive(sentence: str, rng: random.Random) -> tuple[str, str] | None:
    kinds = list(POSITIVE_KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        out = POSITIVE_KINDS[kind](sentence, rng)
        if out and out != sentence:
            return kind, out
    return None


def window_of(claim: str, passage: str, window: int | None) -> str:
    """What the model reads of ``passage`` for ``claim``: the whole passage (``window`` None,
    chunk-window models), else the claim's best window of at most ``window`` characters, as
    the checker picks it live (``rag.verify.claim_windows`` with k=1)."""
    if window is None:
        return passage
    (a, b), *_ = claim_windows(claim, passage, k=1, max_chars=window)
    return passage[a:b]


def _adder(out: list[Example], article: Article, window: int | None
           ) -> Callable[[str, str, int, str], None]:
    """``add(claim, passage, label, source)``: an example of ``article`` appended to ``out``,
    its passage cut to the claim's window (``window_of``)."""

    def add(claim: str, passage: str, label: int, source: str) -> None:
        out.append(Example(claim, window_of(claim, passage, window), label, source, article.id))

    return add


def article_examples(
    article: Article, rng: random.Random, donors: list[str], scorer: LexicalScorer,
    window: int | None = None,
) -> list[Example]:
    """The examples of one article (see the module docstring)."""
    doc = Document(article.id, article.text, title="")
    chunks = [c for c in chunk_document(doc, CHUNK_SIZE, CHUNK_OVERLAP) if len(c.text) > 200]
    if len(chunks) < 2:
        return []
    texts = [c.text for c in chunks]
    names = list(dict.fromkeys(names_in(article.text)))
    out: list[Example] = []

    add = _adder(out, article, window)

    def align(sentence: str) -> list[tuple[float, float, int]]:
        """(coverage in best window, score, chunk index) per chunk, best first."""
        rows = []
        for i, t in enumerate(texts):
            feats, _ = scorer.analyse(sentence, t)
            rows.append((feats["cov_win"], scorer.probability(feats), i))
        return sorted(rows, reverse=True)

    faithful = [s for s in article.right if 5 <= len(s.split()) <= 60]
    rng.shuffle(faithful)
    for k, s in enumerate(faithful[:FAITHFUL_PER_ARTICLE]):
        rows = align(s)
        cov, _, best = rows[0]
        if cov < ALIGN_MIN_COVERAGE:
            continue
        add(s, texts[best], 1, "faithful")
        if k == 0:
            neg = _negative(s, rng, names, donors)
            if neg:
                add(neg[1], texts[best], 0, f"synthetic:{neg[0]}")
        low = [i for c, _, i in rows if c <= MISMATCH_MAX_COVERAGE]
        if low and rng.random() < 0.3:
            add(s, texts[rng.choice(low)], 0, "mismatch")

    scored = []
    for s in article.hallucinated:
        if len(s.split()) < 5:
            continue
        supports = [scorer.score(s, t) for t in texts]
        rows = sorted(((x.supported, x.score, i) for i, x in enumerate(supports)), reverse=True)
        scored.append((rows[0], s))
    if scored:
        (ok, score, best), s = min(scored, key=lambda r: (r[0][0], r[0][1]))
        if not ok and score < HALLUCINATED_MAX_SCORE:
            add(s, texts[best], 0, "hallucinated")
        style = [(r, s) for r, s in scored if r[0] and r[1] >= STYLE_POSITIVE_MIN_SCORE]
        if style and rng.random() < 0.5:
            (_, _, best), s = rng.choice(style)
            add(s, texts[best], 1, "hallucinated_supported")

    candidates = [
        (c, article.text[s:e])
        for c, chunk in enumerate(chunks)
        for s, e in chunk.sentences
        if 8 <= len(article.text[s:e].split()) <= 45
    ]
    rng.shuffle(candidates)
    for c, s in candidates[:ARTICLE_SENTENCES_PER_ARTICLE]:
        pos = _positive(s, rng)
        if pos:
            add(pos[1], texts[c], 1, f"synthetic:{pos[0]}")
        elif rng.random() < 0.5:
            add(s, texts[c], 1, "verbatim")
        neg = _negative(s, rng, names, donors)
        if neg:
            add(neg[1], texts[c], 0, f"synthetic:{neg[0]}")
    return out


HARD_KINDS = ("name_swap", "role_reversal", "antonym", "number", "negation")
CONTRAST_SENTENCES = 3  # article sentences per article in the contrastive stage


def contrast_examples(
    article: Article, rng: random.Random, donors: list[str], scorer: LexicalScorer,
    window: int | None = None,
) -> list[Example]:
    """Contrastive pairs of one article for the second stage (see the module docstring)."""
    doc = Document(article.id, article.text, title="")
    chunks = [c for c in chunk_document(doc, CHUNK_SIZE, CHUNK_OVERLAP) if len(c.text) > 200]
    if not chunks:
        return []
    names = list(dict.fromkeys(names_in(article.text)))
    out: list[Example] = []

    add = _adder(out, article, window)

    candidates = [
        (chunk.text, article.text[s:e])
        for chunk in chunks
        for s, e in chunk.sentences
        if 8 <= len(article.text[s:e].split()) <= 45
    ]
    rng.shuffle(candidates)
    for passage, s in candidates[:CONTRAST_SENTENCES]:
        pos = _positive(s, rng)
        add(pos[1] if pos else s, passage, 1, f"synthetic:{pos[0]}" if pos else "verbatim")
        kinds = list(HARD_KINDS)
        rng.shuffle(kinds)
        made = 0
        for kind in kinds:
            fn = NEGATIVE_KINDS[kind]
            alt = fn(s, rng, names) if kind in ("name_swap", "role_reversal") else fn(s, rng)
            if alt and alt != s:
                add(alt, passage, 0, f"synthetic:{kind}")
                made += 1
            if made == 2:
                break
        if rng.random() < 0.3:
            kind = rng.choice(["invented_detail", "invented_cause"])
            alt = NEGATIVE_KINDS[kind](s, rng, names, donors, donor_share=0.9)
            if alt and alt != s:
                add(alt, passage, 0, f"synthetic:{kind}")
    return out


def build_examples(
    split: str,
    n_articles: int,
    seed: int = 0,
    path: str | Path = DEFAULT_DATA,
    progress: bool = True,
    contrast: bool = False,
    skip: int = 0,
    window: int | None = None,
    contrast_share: float = 0.0,
) -> list[Example]:
    """Examples from ``n_articles`` articles of ``split`` (file order, after the first
    ``skip``), shuffled; ``contrast`` makes the second stage's contrastive pairs only;
    ``contrast_share`` of the articles give contrastive pairs as well as their usual examples;
    ``window`` cuts every passage to the claim's window (see ``window_of``)."""
    rng = random.Random(seed)
    articles = list(read_articles(path, split, skip + n_articles))[skip:]
    # Donor sentences for invented clauses come from other articles of the same split.
    pool = [s for a in articles for s in a.right]
    scorer = LexicalScorer(cache_size=64)
    out: list[Example] = []
    it: Iterable[Article] = articles
    if progress:
        from tqdm import tqdm

        it = tqdm(articles, desc=f"support examples ({split})", unit="article")
    for a in it:
        donors = rng.sample(pool, min(20, len(pool)))
        donors = [d for d in donors if d not in a.right]
        make = contrast_examples if contrast else article_examples
        out.extend(make(a, rng, donors, scorer, window))
        if not contrast and contrast_share and rng.random() < contrast_share:
            out.extend(contrast_examples(a, rng, donors, scorer, window))
    rng.shuffle(out)
    return out


def describe(examples: list[Example]) -> dict[str, object]:
    """Counts by label and by source, for the model card."""
    by_source = Counter(e.source for e in examples)
    labels = Counter(e.label for e in examples)
    return {
        "n": len(examples),
        "supported": labels[1],
        "unsupported": labels[0],
        "articles": len({e.article_id for e in examples}),
        "by_source": dict(sorted(by_source.items())),
    }


def iter_jsonl(examples: list[Example]) -> Iterator[dict[str, object]]:
    for e in examples:
        yield {"claim": e.claim, "passage": e.passage, "label": e.label, "source": e.source,
               "article_id": e.article_id}
