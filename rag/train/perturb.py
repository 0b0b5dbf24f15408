"""Synthetic claims for training the support model: true sentences altered the ways language
models get them wrong (negatives), and reworded without changing what they say (positives).

Every function takes a sentence and a seeded ``random.Random`` and returns the altered
sentence, or ``None`` when the sentence offers nothing to alter that way. ``names`` is the pool
of other names of the same article (for swaps), ``donors`` sentences of *other* articles (for
invented clauses). The positives exist so that no surface cue gives a label away: a negative
made by appending a clause is matched by positives made by dropping one, a word-order change
is as common among positives as among negatives.

>>> import random
>>> r = random.Random(0)
>>> change_number("The US fired 59 Tomahawk missiles on Friday.", r)
'The US fired 177 Tomahawk missiles on Friday.'
>>> negate("Putin will abandon Assad.", r)
'Putin will not abandon Assad.'
>>> negate("Putin will not abandon Assad.", r)
'Putin will abandon Assad.'
>>> antonym("Russia vetoed the resolution.", r)
'Russia supported the resolution.'
>>> swap_roles("Israel accused Iran of building weapons.", r, ["Israel", "Iran"])
'Iran accused Israel of building weapons.'
>>> drop_clause("The talks, held in Moscow on Wednesday, failed to narrow the gap.", r)
'The talks failed to narrow the gap.'
>>> front_to_back("On Monday, the council approved the budget.", r)
'The council approved the budget on Monday.'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from ..text import STOPWORDS

__all__ = [
    "NEGATIVE_KINDS",
    "POSITIVE_KINDS",
    "antonym",
    "append_cause",
    "append_detail",
    "change_number",
    "drop_clause",
    "front_to_back",
    "negate",
    "names_in",
    "reported_speech",
    "swap_name",
    "swap_roles",
]

_NUM = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w.]*\d)")
_NUMBER_WORDS = (
    "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
    "hundred dozen"
).split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = (
    "January February March April May June July August September October November December"
).split()

# Pairs of words that say the opposite (either direction is used).
_ANTONYMS = """
increased:decreased increase:decrease increases:decreases rose:fell rise:fall rising:falling
higher:lower more:fewer largest:smallest biggest:smallest most:least won:lost win:lose
wins:loses winning:losing accepted:rejected accept:reject approved:rejected approve:reject
supported:opposed support:oppose supports:opposes allowed:banned allow:ban agreed:refused
agree:refuse confirmed:denied confirm:deny confirms:denies vetoed:supported before:after
guilty:innocent arrested:released open:closed opened:closed first:last early:late
earlier:later success:failure successful:unsuccessful succeeded:failed strong:weak
stronger:weaker improved:worsened improve:worsen gained:lost ally:enemy allies:enemies
friends:rivals praised:criticised praised:criticized welcomed:condemned welcome:condemn
easy:difficult easier:harder cheap:expensive cheaper:costlier young:old younger:older
alive:dead survived:died entered:left joined:left hired:fired bought:sold buy:sell
acquitted:convicted legal:illegal public:private true:false full:empty inside:outside
north:south east:west northern:southern eastern:western men:women man:woman boys:girls
mother:father son:daughter husband:wife always:never all:none majority:minority
ended:began end:begin stopped:started stop:start expanded:reduced raise:cut raised:cut
boosted:cut withdrew:deployed withdraw:deploy peace:war lifted:imposed lift:impose
""".split()
_ANTONYM: dict[str, str] = {}
for _pair in _ANTONYMS:
    _a, _b = _pair.split(":")
    _ANTONYM.setdefault(_a, _b)
    _ANTONYM.setdefault(_b, _a)

# Auxiliaries a "not" can follow; and contracted negations with their positive form.
_AUX = re.compile(
    r"\b(is|was|are|were|has|have|had|will|would|can|could|should|must|did|does|do|may)\b"
    r"(?!\s+(?:not|n't|never)\b)"
)
_NEGATED = [
    (re.compile(r"\b(is|was|are|were|has|have|had|would|could|should|does|did|do)n[’']t\b"), r"\1"),
    (re.compile(r"\bwon[’']t\b"), "will"),
    (re.compile(r"\bcan[’']t\b"), "can"),
    (re.compile(r"\bcannot\b"), "can"),
    (re.compile(r"\b(is|was|are|were|has|have|had|will|would|can|could|should|must|did|does|do|may)"
                r"\s+not\s+"), r"\1 "),
    (re.compile(r"\bnever\s+"), ""),
]
_PAST_VERB = re.compile(r"\b([a-z]{3,}ed)\b")

_CAPWORD = r"[A-Z][a-zA-Z’'\-]+"
_NAME = re.compile(rf"(?<![\w’'])(?:{_CAPWORD})(?:\s+(?:{_CAPWORD}|of|al|bin|de|van|von))*")
_NOT_NAMES = frozenset(
    "The A An In On At But And Or If As It He She They We I This That These Those His Her Their "
    "Its Our After Before When While Although Though However Meanwhile Mr Mrs Ms Dr Some Many "
    "Most More Still Even Also Yet So For From By With Without Under Over About Why How What Who "
    "Where Which There Here Police Officials Authorities According".split()
)
_REPORT_VERBS = r"(?:said|says|told|added|argued|claimed|warned|stated|noted|explained)"

_DETAILS = (
    ", officials in {name} said",
    " last year",
    " for the second time in a month",
    " after months of secret talks",
    " despite a court order",
    " in a closed-door meeting",
    ", leaving dozens injured",
    " with the backing of {name}",
    " in front of hundreds of supporters",
    " at the request of {name}",
    " according to a leaked report",
    " under pressure from {name}",
)
_CAUSES = (
    " because {name} had demanded it",
    " because of a funding shortfall",
    " in order to avoid a public trial",
    " because of pressure from {name}",
    " as a result of the economic downturn",
    " to distract from the scandal",
    " because the deal had collapsed",
    " after {name} threatened legal action",
    " in retaliation for the sanctions",
    " because of safety concerns raised by {name}",
)


def _sentence_end(sentence: str) -> tuple[str, str]:
    """Split off the final punctuation (and closing quotes): ``("He left", ".")``."""
    m = re.search(r"[.!?]?[\"”’']*\s*$", sentence)
    assert m is not None
    return sentence[: m.start()], sentence[m.start() :]


def names_in(text: str) -> list[str]:
    """Runs of capitalised words that look like names, not at a sentence start.

    >>> names_in("Moscow said President Vladimir Putin met Rex Tillerson on Wednesday.")
    ['President Vladimir Putin', 'Rex Tillerson', 'Wednesday']
    """
    out = []
    for m in _NAME.finditer(text):
        start = m.start()
        before = text[:start].rstrip()
        if not before or before[-1] in ".!?\"“:":
            words = m.group().split()
            if len(words) == 1:
                continue
            rest = " ".join(words[1:])  # "Moscow said" -> a name run can start after word one
            if words[0] in _NOT_NAMES and rest[:1].isupper():
                out.append(rest)
            continue
        words = m.group().split()
        while words and (words[-1] in ("of", "al", "bin", "de", "van", "von")):
            words.pop()
        name = re.sub(r"[’']s$", "", " ".join(words))
        if name and name not in _NOT_NAMES:
            out.append(name)
    return out


# -- negatives ---------------------------------------------------------------------------------


def change_number(sentence: str, rng: random.Random) -> str | None:
    """A number, number word, weekday, month or year replaced by another."""
    options: list[tuple[int, int, str]] = []
    for m in _NUM.finditer(sentence):
        raw = m.group()
        value = float(raw.replace(",", ""))
        if 1900 <= value <= 2100 and "." not in raw and "," not in raw:
            new = str(int(value) + rng.choice([-3, -2, -1, 1, 2, 5]))
        else:
            factor = rng.choice([0.5, 0.6, 0.8, 1.25, 1.5, 2, 3, 10])
            v = value * factor
            if v == value:
                v = value + rng.randint(1, 9)
            new = f"{v:.1f}" if "." in raw else str(max(1, round(v)))
            if new == raw.replace(",", ""):
                new = str(int(value) + rng.randint(2, 9))
            if "," in raw:
                new = f"{int(float(new)):,}"
        options.append((m.start(), m.end(), new))
    for words, width in ((_NUMBER_WORDS, 0), (_WEEKDAYS, 1), (_MONTHS, 1)):
        for w in words:
            for m in re.finditer(rf"\b{w}\b", sentence, flags=0 if width else re.IGNORECASE):
                other = rng.choice([x for x in words if x != w])
                cased = other if width else (other.capitalize() if m.group()[0].isupper()
                                             else other)
                options.append((m.start(), m.end(), cased))
    if not options:
        return None
    s, e, new = rng.choice(options)
    return sentence[:s] + new + sentence[e:]


def swap_name(sentence: str, rng: random.Random, names: Sequence[str] = ()) -> str | None:
    """A name replaced by another name of the same article that the sentence lacks."""
    mine = names_in(sentence)
    if not mine:
        return None
    others = [n for n in dict.fromkeys(names) if n not in sentence and not any(
        n in m or m in n for m in mine)]
    if not others:
        return None
    target = rng.choice(mine)
    # Prefer a replacement of the same length in words (a person for a person).
    same = [n for n in others if len(n.split()) == len(target.split())]
    new = rng.choice(same or others)
    return sentence.replace(target, new, 1)


def negate(sentence: str, rng: random.Random) -> str | None:
    """Add a negation after the first auxiliary, or remove one that is there."""
    for pattern, repl in _NEGATED:
        if pattern.search(sentence):
            return pattern.sub(repl, sentence, count=1)
    m = _AUX.search(sentence)
    if m:
        return sentence[: m.end()] + " not" + sentence[m.end() :]
    m = _PAST_VERB.search(sentence)
    if m and m.start() > 0:
        verb = m.group(1)
        base = verb[:-1] if verb.endswith(("ated", "ised", "ized", "sed", "ved")) else verb[:-2]
        return sentence[: m.start()] + "did not " + base + sentence[m.end() :]
    return None


def antonym(sentence: str, rng: random.Random) -> str | None:
    """A word replaced by its opposite (vetoed -> supported, rose -> fell)."""
    hits = [
        m
        for m in re.finditer(r"[A-Za-z]+", sentence)
        if m.group().lower() in _ANTONYM and (m.start() == 0 or m.group()[0].islower())
    ]
    if not hits:
        return None
    m = rng.choice(hits)
    new = _ANTONYM[m.group().lower()]
    if m.group()[0].isupper():
        new = new.capitalize()
    return sentence[: m.start()] + new + sentence[m.end() :]


def _adjective(sentence: str, name: str) -> bool:
    """A one-word demonym used as an adjective: "Russian leader", "Syrian conflict"."""
    m = re.search(rf"\b{re.escape(name)}\s+([a-z]+)", sentence)
    if " " in name or not name.endswith(("an", "ese", "ish", "i")) or m is None:
        return False
    return m.group(1) not in STOPWORDS


def swap_roles(sentence: str, rng: random.Random, names: Sequence[str] = ()) -> str | None:
    """The first two different names trade places (X accused Y -> Y accused X). A name that
    opens the sentence counts when ``names`` (the article's names) holds it."""
    found: list[tuple[int, int, str]] = []
    first = re.match(_NAME, sentence)
    candidates = names_in(sentence)
    if first and first.group() in names and first.group() not in candidates:
        candidates.insert(0, first.group())
    for name in candidates:
        if _adjective(sentence, name):
            continue
        i = sentence.find(name, found[-1][1] if found else 0)
        if i >= 0 and all(name != f[2] for f in found):
            found.append((i, i + len(name), name))
        if len(found) == 2:
            break
    if len(found) < 2:
        return None
    (s1, e1, a), (s2, e2, b) = found
    return sentence[:s1] + b + sentence[e1:s2] + a + sentence[e2:]


def _clause_from(donors: Sequence[str], rng: random.Random) -> str | None:
    """A clause of another article's sentence: what follows "who", "which", "after", ..."""
    for _ in range(6):
        if not donors:
            return None
        d = rng.choice(donors)
        m = re.search(r",?\s+\b(who|which|after|while|as|when|amid|following)\b\s+([^,;.]{12,90})",
                      d)
        if m:
            return f" {m.group(1)} {m.group(2).strip()}"
    return None


def append_detail(
    sentence: str, rng: random.Random, names: Sequence[str] = (), donors: Sequence[str] = (),
    donor_share: float = 0.5,
) -> str | None:
    """An invented detail or clause appended before the final full stop: a clause of another
    article's sentence (``donor_share`` of the time, when one is found) or a template."""
    body, end = _sentence_end(sentence)
    if len(body) < 20:
        return None
    clause = _clause_from(donors, rng) if rng.random() < donor_share else None
    if clause is None:
        template = rng.choice(_DETAILS)
        others = [n for n in names if n not in sentence]
        if "{name}" in template and not others:
            template = " last year"
        clause = template.format(name=rng.choice(others) if others else "")
    return body.rstrip(",;:") + clause + (end or ".")


def append_cause(
    sentence: str, rng: random.Random, names: Sequence[str] = (), donors: Sequence[str] = (),
    donor_share: float = 0.4,
) -> str | None:
    """An invented reason appended: "... because <another article's sentence>" (about
    ``donor_share`` of the time) or a template ("... in order to ...")."""
    body, end = _sentence_end(sentence)
    if len(body) < 20 or re.search(r"\bbecause\b", body):
        return None
    if donors and rng.random() < donor_share:
        d = rng.choice(donors)
        d_body, _ = _sentence_end(d)
        words = d_body.split()
        if 5 <= len(words) <= 22 and words[0] not in ("I", "We", "You"):
            first = words[0] if words[0] in _NOT_NAMES or names_in(d_body)[:1] == [words[0]] \
                else words[0].lower()
            if words[0] in ("The", "A", "An", "It", "This", "That"):
                first = words[0].lower()
            return body.rstrip(",;:") + " because " + " ".join([first, *words[1:]]) + (end or ".")
    others = [n for n in names if n not in sentence]
    template = rng.choice(_CAUSES)
    if "{name}" in template and not others:
        template = " because of a funding shortfall"
    return body.rstrip(",;:") + template.format(name=rng.choice(others) if others else "") + (
        end or "."
    )


# -- positives (the meaning is kept) -------------------------------------------------------------


def drop_clause(sentence: str, rng: random.Random) -> str | None:
    """A parenthetical, trailing attribution or leading connective removed."""
    options = []
    m = re.search(r",\s+[^,]{3,80},\s+", sentence)  # "The talks, held in ..., failed"
    if m and not re.match(r",\s+(and|but|or)\b", m.group()):
        options.append(sentence[: m.start()] + " " + sentence[m.end() :])
    m = re.search(rf",\s+(?:[A-Z][^,]{{0,60}}\s+)?{_REPORT_VERBS}(?:\s+[^,]{{0,30}})?([.!?]?)\s*$",
                  sentence)
    if m:
        options.append(sentence[: m.start()] + (m.group(1) or "."))
    m = re.match(r"(But|And|However|Still|Meanwhile|Moreover|Also|So|Yet|Nonetheless),?\s+",
                 sentence)
    if m:
        rest = sentence[m.end() :]
        options.append(rest[:1].upper() + rest[1:])
    m = re.search(r"\s+\([^)]{2,60}\)", sentence)
    if m:
        options.append(sentence[: m.start()] + sentence[m.end() :])
    options = [o for o in options if len(o.split()) >= 5]
    return rng.choice(options) if options else None


def front_to_back(sentence: str, rng: random.Random) -> str | None:
    """A leading phrase moved to the end: "On Monday, X did Y." -> "X did Y on Monday."."""
    m = re.match(r"((?:On|In|At|After|Before|During|Last|This|Earlier|Later)\s[^,]{2,50}),\s+(.+)$",
                 sentence)
    if not m:
        return None
    lead, rest = m.group(1), m.group(2)
    body, end = _sentence_end(rest)
    lead = lead[0].lower() + lead[1:]
    return body[:1].upper() + body[1:] + " " + lead + (end or ".")


def reported_speech(sentence: str, rng: random.Random) -> str | None:
    """"X said Y." <-> "Y, X said." and "X said that Y" -> "According to X, Y"."""
    m = re.match(rf"(.{{3,60}}?)\s+{_REPORT_VERBS}\s+that\s+(.+)$", sentence)
    if m and not m.group(1).lower().startswith(("it ", "this ")):
        rest = m.group(2)
        return f"According to {m.group(1)}, {rest}"
    body, end = _sentence_end(sentence)
    m = re.match(rf"(.{{10,}}?),\s+([A-Z][^,]{{1,50}}?|he|she|they|officials)\s+({_REPORT_VERBS})$",
                 body)
    if m:
        speaker = m.group(2)
        speaker = speaker if speaker[0].isupper() else speaker.capitalize()
        claim = m.group(1).strip("\"“”")
        return f"{speaker} {m.group(3)} that {claim[0].lower() + claim[1:]}{end or '.'}"
    return None


NegativeFn = Callable[..., "str | None"]
NEGATIVE_KINDS: dict[str, NegativeFn] = {
    "number": change_number,
    "name_swap": swap_name,
    "negation": negate,
    "antonym": antonym,
    "role_reversal": swap_roles,
    "invented_detail": append_detail,
    "invented_cause": append_cause,
}
POSITIVE_KINDS: dict[str, NegativeFn] = {
    "drop_clause": drop_clause,
    "front_to_back": front_to_back,
    "reported_speech": reported_speech,
}
