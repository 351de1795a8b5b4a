"""The DSPy program equivalent to each spec the round trip covers: the same
signatures (docstring, field names, order and descriptions) and one module
attribute per step, named as the step, as docs/optimizer.md tells users to
write them.

`SPECS` maps a spec (relative to the repository) to its program class; the
round trip fails for a spec it finds without one here.
"""

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
    "tests/dspy/oneline.simba": Oneline,
}

# Modules saved on their own rather than as an attribute (DSPy keys a bare
# Predict's state `self`, a bare ChainOfThought's `predict`): the reverse
# round trip saves these for one-step specs, to cover those keys too.
BARE = {
    "examples/quickstart/quickstart.simba": lambda: dspy.Predict(QuickstartAnswer),
    "examples/qa/qa.simba": lambda: dspy.ChainOfThought(QaAnswer),
}
