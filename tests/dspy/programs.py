"""The DSPy program equivalent to each spec the round trip covers: the same
signatures (docstring, field names, order and descriptions) and one module
attribute per step, named as the step, as docs/optimizer.md tells users to
write them.

`SPECS` maps a spec (relative to the repository) to its program class; the
round trip fails for a spec it finds without one here.
"""

import json
from pathlib import Path
from typing import Literal

import dspy

# --- examples/quickstart/quickstart.simba ----------------------------------


class QuickstartAnswer(dspy.Signature):
    """Answer the trivia question with a short factoid."""

    question: str = dspy.InputField(desc="a trivia question")
    answer: str = dspy.OutputField(desc="a name, often between 1 and 4 words")


class Quickstart(dspy.Module):
    def __init__(self):
        super().__init__()
        self.answer = dspy.Predict(QuickstartAnswer)

    def forward(self, question):
        return self.answer(question=question)


# --- examples/qa/qa.simba ----------------------------------------------------


class QaAnswer(dspy.Signature):
    """Answer the trivia question with a short factoid."""

    question: str = dspy.InputField(desc="a trivia question")
    answer: str = dspy.OutputField(desc="often between 1 and 5 words")


class Qa(dspy.Module):
    def __init__(self):
        super().__init__()
        self.answer = dspy.ChainOfThought(QaAnswer)

    def forward(self, question):
        return self.answer(question=question)


# --- examples/classify/classify.simba ----------------------------------------


class Classify(dspy.Signature):
    """Classify the sentiment of a short product or service review."""

    text: str = dspy.InputField(desc="a one-sentence review")
    label: Literal["positive", "negative", "neutral"] = dspy.OutputField()


class Sentiment(dspy.Module):
    def __init__(self):
        super().__init__()
        self.sentiment = dspy.Predict(Classify)

    def forward(self, text):
        return self.sentiment(text=text)


# --- examples/pipeline/pipeline.simba ----------------------------------------


class WriteQuery(dspy.Signature):
    """Write a short web search query that would find the answer to the question."""

    question: str = dspy.InputField()
    query: str = dspy.OutputField(desc="a few keywords")


class AnswerWithQuery(dspy.Signature):
    """Answer the question with a short factoid, using the search query as a hint."""

    question: str = dspy.InputField()
    query: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="often between 1 and 5 words")


class Pipeline(dspy.Module):
    def __init__(self):
        super().__init__()
        self.search = dspy.Predict(WriteQuery)
        self.answer = dspy.ChainOfThought(AnswerWithQuery)

    def forward(self, question):
        query = self.search(question=question).query
        return self.answer(question=question, query=query)


# --- examples/multihop/multihop.simba ----------------------------------------

WIKI = Path(__file__).resolve().parents[2] / "examples/multihop/data/wiki.jsonl"


def search_wiki(query, k):
    """The `search(wiki, ..)` steps, as a plain function over the bundled
    corpus (word overlap, enough for DummyLM runs). Not a dspy.Retrieve: a
    retriever held as a module attribute would be saved as state, and
    simba-run's search steps hold none."""
    rows = [json.loads(line) for line in WIKI.read_text().splitlines() if line.strip()]
    words = set(query.lower().split())
    scored = sorted(
        ((len(words & set(f"{r['title']} {r['text']}".lower().split())), i) for i, r in enumerate(rows)),
        key=lambda s: (-s[0], s[1]),
    )
    return [f"{rows[i]['title']} | {rows[i]['text']}" for _, i in scored[:k]]


class MultihopWriteQuery(dspy.Signature):
    """Write a search query that finds a passage about what the question names."""

    question: str = dspy.InputField()
    query: str = dspy.OutputField(desc="a few keywords")


class FollowUp(dspy.Signature):
    """The passages name a person or place the question leads to. Write a search query for it."""

    question: str = dspy.InputField()
    passages: list[str] = dspy.InputField(desc="passages found for the question")
    query: str = dspy.OutputField(desc="a few keywords")


class MultihopAnswer(dspy.Signature):
    """Answer the question with a short factoid taken from the passages."""

    question: str = dspy.InputField()
    context: list[str] = dspy.InputField(desc="passages about what the question names")
    more: list[str] = dspy.InputField(desc="passages found by the follow-up query")
    answer: str = dspy.OutputField(desc="often between 1 and 3 words")


class Multihop(dspy.Module):
    def __init__(self):
        super().__init__()
        self.query1 = dspy.Predict(MultihopWriteQuery)
        self.query2 = dspy.Predict(FollowUp)
        self.answer = dspy.ChainOfThought(MultihopAnswer)

    def forward(self, question):
        hop1 = search_wiki(self.query1(question=question).query, k=3)
        hop2 = search_wiki(self.query2(question=question, passages=hop1).query, k=3)
        return self.answer(question=question, context=hop1, more=hop2)


# --- tests/dspy/oneline.simba ------------------------------------------------


class Oneline(dspy.Module):
    """String signatures: DSPy gives them its default instructions."""

    def __init__(self):
        super().__init__()
        self.hint = dspy.Predict("question -> hint2")
        self.answer = dspy.ChainOfThought("question, hint2 -> answer")

    def forward(self, question):
        hint2 = self.hint(question=question).hint2
        return self.answer(question=question, hint2=hint2)


SPECS = {
    "examples/quickstart/quickstart.simba": Quickstart,
    "examples/qa/qa.simba": Qa,
    "examples/classify/classify.simba": Sentiment,
    "examples/pipeline/pipeline.simba": Pipeline,
    "examples/multihop/multihop.simba": Multihop,
    "tests/dspy/oneline.simba": Oneline,
}

# Modules saved on their own rather than as an attribute (DSPy keys a bare
# Predict's state `self`, a bare ChainOfThought's `predict`): the reverse
# round trip saves these for one-step specs, to cover those keys too.
BARE = {
    "examples/quickstart/quickstart.simba": lambda: dspy.Predict(QuickstartAnswer),
    "examples/qa/qa.simba": lambda: dspy.ChainOfThought(QaAnswer),
}
