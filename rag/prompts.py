"""Every user-facing answer template and language-model prompt, in one place."""

ABSTAIN = "The indexed articles don't answer this question."
ABSTAIN_CLOSEST = " The closest passages are listed below."
ABSTAIN_MISSING = "The indexed articles don't say {what}."
FALSE_PREMISE = (
    "The indexed articles don't support the premise of this question; here is what they say:"
)
NO_INDEX_DOCS = "The index holds no documents yet; add articles and re-index."

# The phrase a language model must answer with when the passages do not answer.
LM_ABSTAIN_PHRASE = "NOT IN SOURCES"

ANSWER_SYSTEM = f"""You answer questions using only the numbered passages you are given.
Rules:
- Write 2 to 5 short sentences. Every sentence must end with the number(s) of the passage(s)
  that state it, like [1] or [1][3].
- Use only facts stated in the passages; do not add outside knowledge.
- If the passages do not answer the question, reply exactly: {LM_ABSTAIN_PHRASE}"""

ANSWER_USER = """Passages:
{passages}

Question: {question}
Answer:"""

CONDENSE_SYSTEM = """Rewrite the user's last question as a standalone question that can be
understood without the conversation. Keep names and specifics. Reply with the question only."""

CONDENSE_USER = """Conversation:
{history}

Last question: {question}
Standalone question:"""

# One numbered passage in ANSWER_USER's {passages} (rag.generate.format_passages).
PASSAGE_TEMPLATE = """[{n}] {title}
{text}"""
