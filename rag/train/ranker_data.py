"""Training and calibration data for the answer ranker: does this sentence answer this question?

No question-answering data set that fits ships in a PyPI package (the lists in the tool
library's ``env/packages`` name loaders that download, not data), and HaluEval's QA and
dialogue sets and HotpotQA are kept for independent checks, so questions are generated here,
by template, from the shared news articles (``rag.train.news``; CNN/DailyMail via HaluEval's
*summarization* set). Each example is ``(question, candidate)`` where the candidate is an
article sentence followed by the sentence before it, for context::

    "How many people were killed on board?"  ->  "All 150 on board were killed. || Robin's..."

Questions come from two sources, each with a wh-word chosen by what the answer sentence holds
(a number -> "How many ...", a date -> "When ...", a name -> "Who ...", a place -> "Where ...",
a cause clause -> "Why ...", a quote -> "What did X say about ..."), and a few of the
sentence's content words, in order, so that questions are short and share only part of the
answer's wording:

- ``article``: the question is made from an article sentence, which is the positive;
- ``summary``: the question is made from a sentence of the faithful summary (reworded by the
  summary's writer), and the positive is the article sentence it aligns to, when that sentence
  holds the answer (the number, name or date) - paraphrased questions; the summary sentence
  itself, as a statement or as "Is it true that ...?", is a query too;
- ``explains``: "Why <words of a sentence>?" answered by the next sentence when that one
  explains it ("That is because ...", "It would ..."), read with the first as its context.

Negatives, per question: the same article's sentences that share most words with the
question but lack the answer (``hard``), a random sentence of the article (``same``), a
sentence of another article (``other``), and ``type``: a question whose wh-word asks for
what its source sentence does not hold ("How many ...?" of a sentence with no number), so
that the model learns to tell *answers* from *is about*.

Calibration questions (``calibration_questions``) come from the calibration split. Each is
answered against every sentence of its article, and again with the sentences that hold its
answer removed (unanswerable, as in SQuAD 2.0), which is what the abstention decision is
fitted on.

>>> qs = questions_for("All 150 people on board the plane were killed.", random.Random(0))
>>> [(q.qtype, q.answer) for q in qs]
[('number', '150')]
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ranker import candidate_text
from ..text import STOPWORDS, content_stems, split_sentences
from .news import DEFAULT_DATA, Article, read_articles, split_of
from .perturb import names_in

__all__ = ["Example", "Question", "questions_for", "build_examples",
           "calibration_questions", "describe", "written_examples"]

MIN_WORDS, MAX_WORDS = 6, 60  # article sentences outside this range are no candidates
KEYWORDS = (2, 4)  # content words a question keeps of its source (at least, at most)
QUESTIONS_PER_ARTICLE = 5  # from article sentences
SUMMARY_QUESTIONS_PER_ARTICLE = 4  # summary sentences used per article
SUMMARY_FORMS = 2  # questions made from one summary sentence at most
HARD_NEGATIVES = 2
TYPE_NEGATIVES_PER_ARTICLE = 2
ALIGN_MIN = 0.4  # share of a summary sentence's content stems its article sentence must hold

_NUM_WORDS = ("two three four five six seven eight nine ten eleven twelve twenty thirty forty "
              "fifty hundred hundreds thousand thousands million millions billion dozens dozen")
_NUMBER = re.compile(
    r"(?<![\w$£€])(\d[\d,.]*|(?:" + "|".join(_NUM_WORDS.split()) + r"))"
    r"(?:\s+(?:million|billion|thousand|hundred))?\s+([a-z][a-z-]{2,})\b", re.I)
_MONEY = re.compile(r"[$£€]\s?\d[\d,.]*(?:\s+(?:million|billion|bn|m))?|\b\d[\d,.]*\s+"
                    r"(?:dollars|pounds|euros|kroner|yen|rupees)\b", re.I)
_YEAR = re.compile(r"\b(?:in|since|by|until) ((?:19|20)\d\d)\b")
_MONTH = re.compile(r"\b(?:on |in |last |next )?((?:January|February|March|April|May|June|July|"
                    r"August|September|October|November|December)(?: \d{1,2})?(?:, \d{4})?|"
                    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))\b")
_PLACE = re.compile(r"\b(?:in|at|near) ((?:the )?[A-Z][a-z]+(?: [A-Z][a-z]+)?)")
_CAUSE = re.compile(r"\b(because(?: of)?|due to|after|since|as a result of|in order to|so that|"
                    r"to avoid|to protect|to help|for fear)\b", re.I)
_SAID = re.compile(r"\b(said|told|says|added|warned|claimed|insisted)\b")
_NOT_UNITS = {"per", "percent", "years", "year", "times", "and", "the", "of", "or", "to", "in",
              "a", "an", "on", "at", "for", "from", "by", "with"}


_NOT_PERSON = set("""University College School Day Department Street Court House Company Party
    Club Airport Center Centre Church Ministry Office Police Council Committee Festival Awards
    Hospital Park River Road Square Museum Bank Group Times News Post Force Army Navy Union
    Association Institute Foundation Service Agency Corporation Inc Ltd Airlines League Cup
    States Kingdom Republic Island Islands County City Valley Fortune Act Prize Games""".split())


def _person(name: str) -> bool:
    """A run of capitalised words that looks like a person's name ("Rex Tillerson")."""
    parts = name.split()
    return (2 <= len(parts) <= 3 and all(p[:1].isupper() and p.isalpha() for p in parts)
            and not _NOT_PERSON & set(parts) and not _MONTH.fullmatch(parts[0]))


@dataclass(frozen=True)
class Question:
    text: str
    qtype: str  # number, money, date, person, place, why, quote
    answer: str  # the span that answers it (what a negative must not hold)


@dataclass(frozen=True)
class Example:
    question: str
    candidate: str
    label: int  # 1: the candidate answers the question
    source: str  # article, summary, hard, same, other, type
    qtype: str
    article_id: str = ""


def _keywords(text: str, rng: random.Random, drop: str = "") -> str:
    """Part of ``text`` without the words of ``drop``: half the time a run of 4-10 words as
    they stand, else a few content words in order (names keep their capitals)."""
    dropped = set(re.findall(r"[\w’'-]+", drop.lower()))
    toks = [t for t in re.findall(r"[A-Za-z][\w’'-]*|\d+(?:[,.]\d+)*", text)
            if t.lower() not in dropped]
    if rng.random() < 0.5 and len(toks) >= 4:
        n = rng.randint(4, min(10, len(toks)))
        start = min(rng.randint(0, max(0, len(toks) - n)), rng.randint(0, 3))
        run = toks[start : start + n]
        if len(content_stems(" ".join(run))) >= KEYWORDS[0]:
            return " ".join(t if t[:1].isupper() and (i > 0 or t.lower() not in STOPWORDS)
                            else t.lower() for i, t in enumerate(run))
    stems = set(content_stems(" ".join(toks)))
    keep = [t for t in toks if content_stems(t) and content_stems(t)[0] in stems]
    keep = list(dict.fromkeys(keep))
    if len(keep) < KEYWORDS[0]:
        return ""
    k = rng.randint(KEYWORDS[0], min(KEYWORDS[1], len(keep)))
    picked = sorted(rng.sample(range(len(keep)), k))
    return " ".join(t if t[:1].isupper() and t.lower() != t else t.lower()
                    for t in (keep[i] for i in picked))


def questions_for(sentence: str, rng: random.Random, one: bool = True) -> list[Question]:
    """Questions ``sentence`` answers, by what it holds (at most one when ``one``)."""
    out: list[Question] = []
    m = _MONEY.search(sentence)
    if m:
        kw = _keywords(sentence, rng, m.group())
        form = rng.choice(["How much {kw}?", "How much money {kw}?", "What did {kw} cost?"])
        if kw:
            out.append(Question(form.format(kw=kw), "money", m.group()))
    m = _NUMBER.search(sentence)
    if m and m.group(2).lower() not in _NOT_UNITS and not out:
        noun = m.group(2).lower()
        kw = _keywords(sentence, rng, m.group())
        form = rng.choice(["How many {noun} {kw}?", "How many {noun} did {kw}?",
                           "What number of {noun} {kw}?"])
        if kw:
            out.append(Question(form.format(noun=noun, kw=kw), "number", m.group(1)))
    m = _MONTH.search(sentence) or _YEAR.search(sentence)
    if m:
        kw = _keywords(sentence, rng, m.group())
        form = rng.choice(["When {kw}?", "When did {kw}?", "On what date {kw}?"]
                          if not m.group(1).isdigit() else ["In what year {kw}?", "When {kw}?"])
        if kw:
            out.append(Question(form.format(kw=kw), "date", m.group(1)))
    names = [n for n in names_in(sentence) if _person(n)]
    if names and _SAID.search(sentence):
        name = names[0]
        kw = _keywords(sentence, rng, name + " said told says added")
        if kw:
            out.append(Question(f"What did {name} say about {kw}?", "quote", name))
    elif names:
        name = rng.choice(names)
        kw = _keywords(sentence, rng, name)
        form = rng.choice(["Who {kw}?", "Who was {kw}?", "Which person {kw}?"])
        if kw:
            out.append(Question(form.format(kw=kw), "person", name.split()[-1]))
    m = _PLACE.search(sentence)
    if m and not _MONTH.fullmatch(m.group(1)):
        kw = _keywords(sentence, rng, m.group())
        if kw:
            out.append(Question(rng.choice(["Where {kw}?", "Where did {kw}?"]).format(kw=kw),
                                "place", m.group(1)))
    m = _CAUSE.search(sentence)
    if m and m.start() > 15:
        kw = _keywords(sentence[: m.start()], rng)
        reason = sentence[m.end():]
        if kw and len(reason.split()) >= 3:
            out.append(Question(rng.choice(["Why {kw}?", "Why did {kw}?", "Why was {kw}?"])
                                .format(kw=kw), "why", reason.strip()[:40]))
    rng.shuffle(out)
    return out[:1] if one else out


def type_mismatch(sentence: str, rng: random.Random) -> Question | None:
    """A question asking for a number or a date that ``sentence`` does not hold."""
    if re.search(r"\d", sentence) or _MONTH.search(sentence):
        return None
    nouns = [w for w in re.findall(r"\b([a-z]{4,}s)\b", sentence) if w not in _NOT_UNITS]
    kw = _keywords(sentence, rng)
    if not kw:
        return None
    if nouns and rng.random() < 0.6:
        noun = rng.choice(nouns)
        kw = _keywords(sentence, rng, noun)
        return Question(f"How many {noun} {kw}?", "number", "") if kw else None
    return Question(rng.choice(["When {kw}?", "In what year {kw}?"]).format(kw=kw), "date", "")


def _sentences(article: Article) -> list[str]:
    return [article.text[s:e].strip() for s, e in split_sentences(article.text)]


def _holds(answer: str, text: str) -> bool:
    return bool(answer) and answer.lower() in text.lower()


def _overlap(a: set[str], text: str) -> float:
    b = set(content_stems(text))
    return len(a & b) / max(1, len(a))


def _article_questions(
    article: Article, rng: random.Random
) -> tuple[list[str], list[tuple[Question, int, str]]]:
    """The article's sentences, and (question, index of its answer sentence, source)."""
    sents = _sentences(article)
    ok = [i for i, s in enumerate(sents) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
    rng.shuffle(ok)
    out: list[tuple[Question, int, str]] = []
    for i in ok:
        if sum(1 for _, _, src in out if src == "article") >= QUESTIONS_PER_ARTICLE:
            break
        for q in questions_for(sents[i], rng):
            out.append((q, i, "article"))
    stems = [set(content_stems(s)) for s in sents]
    for summ in list(article.right)[:SUMMARY_QUESTIONS_PER_ARTICLE]:
        s_stems = set(content_stems(summ))
        if len(s_stems) < 3:
            continue
        best = max(range(len(sents)), key=lambda j: len(s_stems & stems[j]))
        if len(s_stems & stems[best]) / len(s_stems) < ALIGN_MIN:
            continue
        made = [q for q in questions_for(summ, rng, one=False)
                if q.qtype == "why" or _holds(q.answer, sents[best])][: SUMMARY_FORMS - 1]
        made.append(Question(_statement_query(summ, rng), "other", ""))
        out += [(q, best, "summary") for q in made]
    for i in range(1, len(sents)):
        # "X happened. That is because Y." -> "Why did X happen?" is answered by the second.
        if _EXPLAINS.match(sents[i]) and MIN_WORDS <= len(sents[i - 1].split()) <= MAX_WORDS:
            kw = _keywords(sents[i - 1], rng)
            if kw:
                out.append((Question(f"Why {kw}?", "why", ""), i, "explains"))
    return sents, out


_EXPLAINS = re.compile(r"^(that|this|it)(’s|'s| is| was) (because|why|due)|^(because|the reason|"
                       r"that means|this means|that would|this would|it would)\b", re.I)


def _statement_query(summary_sentence: str, rng: random.Random) -> str:
    """A summary sentence (reworded by the summary's writer) asked as a yes/no question, or
    left as a statement: "Is it true that the plane crashed in the Alps?"."""
    s = summary_sentence.strip().rstrip(".!?")
    if rng.random() < 0.5:
        return s + "."
    first = s.split(" ", 1)[0]
    if first.lower() in STOPWORDS:
        s = s[:1].lower() + s[1:]
    return "Is it true that " + s + "?"


def article_examples(article: Article, rng: random.Random, donors: list[str]) -> list[Example]:
    sents, qs = _article_questions(article, rng)
    prev = ["", *sents[:-1]]
    cand = [candidate_text(s, p) for s, p in zip(sents, prev, strict=True)]
    out: list[Example] = []

    def add(q: Question, text: str, label: int, source: str) -> None:
        out.append(Example(q.text, text, label, source, q.qtype, article.id))

    usable = [j for j, s in enumerate(sents) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
    for q, i, src in qs:
        add(q, cand[i], 1, src)
        q_stems = set(content_stems(q.text))
        others = [j for j in usable if j != i and not _holds(q.answer, sents[j])
                  and _overlap(q_stems, sents[j]) < 0.8]
        others.sort(key=lambda j: -_overlap(q_stems, sents[j]))
        for j in others[:HARD_NEGATIVES]:
            add(q, cand[j], 0, "hard")
        rest = others[HARD_NEGATIVES:]
        if rest:
            add(q, cand[rng.choice(rest)], 0, "same")
        if donors:
            add(q, rng.choice(donors), 0, "other")
    rng.shuffle(usable)
    n = 0
    for j in usable:
        if n >= TYPE_NEGATIVES_PER_ARTICLE:
            break
        tq = type_mismatch(sents[j], rng)
        if tq is not None:
            add(tq, cand[j], 0, "type")
            n += 1
    return out


def build_examples(split: str, n_articles: int, seed: int = 0,
                   path: str | Path = DEFAULT_DATA, skip: int = 0) -> list[Example]:
    """Examples from ``n_articles`` articles of ``split`` (after the first ``skip``)."""
    rng = random.Random(seed)
    articles = list(read_articles(path, split=split, limit=skip + n_articles))[skip:]
    donors = []
    for a in articles[: min(200, len(articles))]:
        s = _sentences(a)
        donors += [candidate_text(x) for x in s if MIN_WORDS <= len(x.split()) <= MAX_WORDS][:5]
    out: list[Example] = []
    for a in articles:
        out += article_examples(a, rng, [d for d in rng.sample(donors, min(20, len(donors)))])
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class CalQuestion:
    question: str
    qtype: str
    candidates: tuple[str, ...]
    answerable: bool
    source: str  # article, summary, removed, type
    article_id: str


def calibration_questions(n_articles: int, seed: int = 1,
                          path: str | Path = DEFAULT_DATA) -> list[CalQuestion]:
    """Questions of the calibration split with every sentence of their article as candidates;
    each again with its answer removed (unanswerable), and type-mismatch questions."""
    rng = random.Random(seed)
    out: list[CalQuestion] = []
    for a in read_articles(path, split="calibration", limit=n_articles):
        sents, qs = _article_questions(a, rng)
        prev = ["", *sents[:-1]]
        cand = [candidate_text(s, p) for s, p in zip(sents, prev, strict=True)
                if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
        kept = [s for s in sents if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
        picked = ([x for x in qs if x[2] == "article"][:2]
                  + [x for x in qs if x[2] != "article"][:2])
        for q, i, src in picked:
            out.append(CalQuestion(q.text, q.qtype, tuple(cand), True, src, a.id))
            if q.qtype == "why":
                gone = [c for c, s in zip(cand, kept, strict=True) if s != sents[i]]
            else:
                gone = [c for c, s in zip(cand, kept, strict=True)
                        if s != sents[i] and not _holds(q.answer, s)]
            out.append(CalQuestion(q.text, q.qtype, tuple(gone), False, "removed", a.id))
        for s in rng.sample(kept, min(len(kept), 4)):
            tq = type_mismatch(s, rng)
            if tq is not None:
                j = kept.index(s)
                others = [c for c, k in zip(cand, kept, strict=True)
                          if k == s or not (re.search(r"\d", k) or _MONTH.search(k))]
                out.append(CalQuestion(tq.text, tq.qtype, tuple(others) or (cand[j],), False,
                                       "type", a.id))
                break
    return out


WRITTEN_QUESTIONS = Path(__file__).resolve().parent / "data" / "train_questions.jsonl"
WRITTEN_HARD = 6  # a written question's negatives: the sentences sharing most of its words ...
WRITTEN_SAME = 2  # ... random others of its article(s) ...
WRITTEN_OTHER = 1  # ... and sentences of other articles


def written_examples(path: str | Path = WRITTEN_QUESTIONS, data: str | Path = DEFAULT_DATA,
                     seed: int = 0) -> list[Example]:
    """Examples from questions written by hand about **train**-split articles (the way the
    eval sets are written: paraphrases, why-questions with several reasons, two-part facts,
    several articles, near-miss unanswerable questions, false premises).

    Every sentence of the question's article(s) that holds or is held by an evidence sentence
    is a positive; negatives are the ``WRITTEN_HARD`` sentences sharing most of the question's
    words, ``WRITTEN_SAME`` random ones and ``WRITTEN_OTHER`` of another article. A question
    the article does not answer (``unanswerable``, ``false_premise``) has only negatives, its
    nearest sentences first: these teach the model that *about the subject* is not *answers
    the question*. Source ``written`` for positives and hard negatives, ``same``/``other`` for
    the rest.
    """
    import json

    from evals.suite import norm as _norm

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    wanted = {a for r in rows for a in r["articles"]}
    articles = {a.id: a for a in read_articles(data, split=None) if a.id in wanted}
    bad = sorted(a for a in wanted if a not in articles or split_of(a) != "train")
    if bad:
        raise ValueError(f"{path}: articles missing or outside the train split: {bad[:5]}")
    rng = random.Random(seed)
    donors = [(a.id, candidate_text(x)) for a in list(articles.values())[:200]
              for x in _sentences(a) if MIN_WORDS <= len(x.split()) <= MAX_WORDS]
    out: list[Example] = []
    for r in rows:
        cands: list[tuple[str, str, str]] = []  # (sentence, candidate text, article id)
        for aid in r["articles"]:
            sents = _sentences(articles[aid])
            prev = ["", *sents[:-1]]
            cands += [(x, candidate_text(x, p), aid) for x, p in zip(sents, prev, strict=True)
                      if MIN_WORDS <= len(x.split()) <= MAX_WORDS]
        evidence = [_norm(e) for e in r["evidence"]]
        good = [c for c in cands if any(e in _norm(c[0]) or _norm(c[0]) in e for e in evidence)]
        q, qtype = r["question"], r["kind"]
        for c in good:
            out.append(Example(q, c[1], 1, "written", qtype, c[2]))
        q_stems = set(content_stems(q))
        rest = [c for c in cands if c not in good]
        rest.sort(key=lambda c: -_overlap(q_stems, c[0]))
        for c in rest[:WRITTEN_HARD]:
            out.append(Example(q, c[1], 0, "written", qtype, c[2]))
        others = rest[WRITTEN_HARD:]
        for c in rng.sample(others, min(WRITTEN_SAME, len(others))):
            out.append(Example(q, c[1], 0, "same", qtype, c[2]))
        elsewhere = [d for aid, d in donors if aid not in r["articles"]]
        for d in rng.sample(elsewhere, min(WRITTEN_OTHER, len(elsewhere))):
            out.append(Example(q, d, 0, "other", qtype, r["articles"][0]))
    rng.shuffle(out)
    return out


def describe(examples: Sequence[Example]) -> dict[str, object]:
    return {
        "examples": len(examples),
        "positives": sum(e.label for e in examples),
        "by_source": dict(Counter(e.source for e in examples)),
        "by_type": dict(Counter(e.qtype for e in examples if e.label)),
        "articles": len({e.article_id for e in examples}),
    }
