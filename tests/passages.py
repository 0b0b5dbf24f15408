"""Texts shared by the support tests (``test_verify.py``, ``test_lexical.py``)."""

from __future__ import annotations

from rag.lexical import Support

PASSAGE = (
    "The United States fired 59 Tomahawk cruise missiles at the Shayrat air base in Syria on "
    "April 7. Russia condemned the strike and suspended a military hotline with Washington. "
    "Secretary of State Rex Tillerson did not meet President Vladimir Putin on his first day "
    "in Moscow, but the two men spoke for two hours the next day."
)
OTHER_PASSAGES = [
    "Oil prices rose on Monday after OPEC members agreed to extend production cuts into 2018.",
    "The city council approved a budget that includes 40 new electric buses and a bike lane.",
]


def quote(passage: str, support: Support) -> str:
    """The part of ``passage`` that ``support.span`` points at."""
    return passage[support.span[0] : support.span[1]]
