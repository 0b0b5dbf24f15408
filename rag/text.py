"""Text utilities shared by chunking, composing and verifying: sentences with offsets, words.

``split_sentences`` returns exact character spans, so every quote we cite can be checked
with ``text[start:end]``. Paragraph breaks (newlines) always end a sentence, so headlines
and bylines never merge into the next sentence. The only cleaning here is
``clean_code_points`` (text that is not valid Unicode); the rest is in ``ingest``.

>>> text = "Mr. Smith went to Washington. He met the U.S. envoy.\\nA headline"
>>> [text[s:e] for s, e in split_sentences(text)]
['Mr. Smith went to Washington.', 'He met the U.S. envoy.', 'A headline']
>>> content_words("Why won't Russia drop Assad?")
['russia', 'drop', 'assad']
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

# Small English stop list: function words and question words carry no topic.
STOPWORDS = frozenset(
    """
        a about above after again against all also am an and any are aren't as at be because
        been before being below between both but by can can't cannot could couldn't did
        didn't do does doesn't doing don't down during each either few for from further had
        hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
        herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's
        its itself just let's like many me more most much must mustn't my myself neither no
        nor not now of off on once only or other ought our ours ourselves out over own per
        same shan't she she'd she'll she's should shouldn't so some such than that that's
        the their theirs them themselves then there there's these they they'd they'll
        they're they've this those though through to too under until up upon us very was
        wasn't we we'd we'll we're we've were weren't what what's when when's where where's
        whether which while who who's whom whose why why's will with within without won't
        would wouldn't yet you you'd you'll you're you've your yours yourself yourselves
        said says say tell told according one ones may might also still even ever yet really
    """.split()
)

NEGATIONS = frozenset(
    """
        not no never none nobody nothing neither nor cannot can't won't don't doesn't didn't
        isn't aren't wasn't weren't hasn't haven't hadn't shouldn't wouldn't couldn't
        without refuse refused refuses rejected denied deny denies
    """.split()
)


# Never to reach the tokenizer (a lone surrogate is a TypeError there) or SQLite (which
# cannot encode it, and whose substr() stops at a NUL): lone surrogates, from text decoded
# with surrogateescape, an HTML entity like &#xD800; or a YAML "\uD800", and noncharacters
# become U+FFFD; control characters go, but tab and the line breaks; the other line breaks
# (vertical tab, form feed, NEL, U+2028/U+2029...) become newlines.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe-\U0010ffff]"  # astral: only U+nFFFE and U+nFFFF are noncharacters
)
_LINE_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _clean_one(m: re.Match[str]) -> str:
    c = m.group()
    o = ord(c)
    if c in _LINE_BREAKS:
        return "\n"
    if o < 0xA0:
        return ""  # a control character
    if 0xD800 <= o <= 0xDFFF or 0xFDD0 <= o <= 0xFDEF or o & 0xFFFE == 0xFFFE:
        return "\ufffd"
    return c


def clean_code_points(text: str) -> str:
    """``text`` as valid Unicode that can be encoded, tokenized and stored (see above).

    >>> clean_code_points("a\\ud800b\\x00c\\x0cd\\ufffe\\U0010ffff\\U00020000")
    'a\\ufffdbc\\nd\\ufffd\\ufffd\\U00020000'
    """
    return _SUSPECT.sub(_clean_one, text)


def normalize_quotes(text: str) -> str:
    """Curly quotes and apostrophes to straight ones (same length, offsets unchanged)."""
    return text.translate(_QUOTES)


_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(s, e)`` of ``text[start:end]``, in document offsets, whitespace trimmed.

    Uses BlingFire's compiled sentence breaker (abbreviations, initials, quotes), about 40x
    faster than pure-Python splitters, inside each line.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text[start:end]):
        p_text = para.group()
        if not p_text.strip():
            continue
        p_start = start + para.start()
        for s, e in _sentence_offsets(p_text):
            piece = p_text[s:e]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece.rstrip())
            if trail > lead:
                spans.append((p_start + s + lead, p_start + s + trail))
    return spans


def _sentence_offsets(text: str) -> list[tuple[int, int]]:
    """BlingFire's sentence spans of ``text`` in character offsets, as
    ``blingfire.text_to_sentences_and_offsets`` gives them, without its Python loop over
    every byte (which mapped byte offsets to characters one byte at a time: most of the cost
    of splitting). ASCII text needs no mapping; other text maps through a running count of the
    bytes that start a character. Same spans (``tests/test_text.py`` compares both on the
    shared news data and on hostile text).

    >>> text = "Le café coûte 3 €. Il est bon."
    >>> [text[s:e] for s, e in _sentence_offsets(text)]
    ['Le café coûte 3 €.', 'Il est bon.']
    """
    from ctypes import byref, c_char_p, c_int, c_int32, create_string_buffer

    import blingfire
    import numpy as np

    data = text.encode("utf-8")
    size = len(data)
    out = create_string_buffer(size * 2)
    starts = (c_int32 * len(out))()
    ends = (c_int32 * len(out))()
    n = blingfire.blingfire.TextToSentencesWithOffsets(
        c_char_p(data), c_int(size), byref(out), byref(starts), byref(ends), c_int(len(out)))
    if n == -1 or n > len(out):
        return []
    count = out.value.count(b"\n") + 1
    spans = [(starts[i], ends[i] + 1) for i in range(count)]  # bytes, end exclusive
    ordered = all(0 <= a < b <= c for (a, b), (c, _) in zip(spans, spans[1:], strict=False))
    if out.value and ordered and 0 <= spans[-1][0] < spans[-1][1] <= size:
        if size == len(text):  # ASCII: a byte is a character
            return spans
        first = (np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80  # bytes starting a char
        bounds = np.append(first, True)  # offsets that fall between two characters
        if all(bounds[a] and bounds[b] for a, b in spans):
            chars_before = np.concatenate(([0], np.cumsum(first)))  # characters in data[:j]
            return [(int(chars_before[a]), int(chars_before[b])) for a, b in spans]
    # nothing kept (zero-width text), offsets out of order or inside a character: the
    # library's own mapping
    return list(blingfire.text_to_sentences_and_offsets(text)[1])


_CONTRACTED_NEGATIONS = (
    (re.compile(r"\b([Ww])on[’']t\b"), r"\1ill not"),
    (re.compile(r"\b([Cc])an[’']t\b"), r"\1annot"),
    (re.compile(r"\b([Ss])han[’']t\b"), r"\1hall not"),
    (re.compile(r"\b([A-Za-z]+)n[’']t\b"), r"\1 not"),
)


def expand_negations(text: str) -> str:
    """Contracted negations written out, so that "doesn't" and "does not" read the same.

    >>> expand_negations("He doesn’t see it; Moscow won't act and can't wait.")
    'He does not see it; Moscow will not act and cannot wait.'
    """
    for pattern, repl in _CONTRACTED_NEGATIONS:
        text = pattern.sub(repl, text)
    return text


def words(text: str) -> list[str]:
    """Lower-cased word tokens, quotes normalised. ``words("U.S.-Russian ties")``."""
    return list(_words(text))


WORDS_CACHE = 8192  # texts whose tokens are kept: the same passages are read by every question


@lru_cache(maxsize=WORDS_CACHE)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip("'-").lower() for w in _WORD.findall(normalize_quotes(text))
                 if w.strip("'-"))


_local = threading.local()


def _stemmer() -> Any:
    """This thread's snowball stemmer: a stemmer keeps state during a call, so threads that
    shared one got wrong stems (kept for good by ``stem``'s cache) or an IndexError."""
    st = getattr(_local, "stemmer", None)
    if st is None:
        import snowballstemmer

        st = _local.stemmer = snowballstemmer.stemmer("english")
    return st


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (Porter2) stem, with demonyms folded to their country.

    >>> stem("confrontations") == stem("confrontation"), stem("Russian".lower()) == stem("russia")
    (True, True)
    """
    if len(word) >= 6 and word.endswith("ian"):
        word = word[:-1]  # russian -> russia, syrian -> syria
    return str(_stemmer().stemWord(word))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: not stop words, not single characters."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def content_stems(text: str) -> list[str]:
    """The stems of ``content_words`` (kept for ``STEMS_CACHE`` texts: every question reads
    the same passages and sentences again).

    >>> content_stems("Russian troops are staying in Syria")
    ['russia', 'troop', 'stay', 'syria']
    """
    return list(_content_stems(text))


STEMS_CACHE = 32768  # texts whose content stems are kept (a few MB)


@lru_cache(maxsize=STEMS_CACHE)
def _content_stems(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in content_words(text))


def numbers(text: str) -> set[str]:
    """Numbers written with digits, normalised (``1,000`` -> ``1000``)."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}
