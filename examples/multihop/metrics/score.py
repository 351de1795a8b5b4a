"""The multihop metric as a `command` metric: a DSPy-style metric function
wrapped in the JSON-lines loop simba-run speaks (docs/metrics-in-python.md).

simba-run starts this script once per worker (in the spec's folder) and
writes one request per line, {"pred": {...}, "gold": {...}}; the script
answers each with one line, {"score": 0.0-1.0, "feedback": "..."}.
Feedback is what SIMBA's strategies read about a wrong answer (DSPy's
"feedback" in a prediction's metric info).
"""
import json
import re
import string
import sys


def normalize(text):
    """SQuAD's answer normalisation: lower case, no punctuation, no articles."""
    text = str(text).lower()
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def metric(gold, pred):
    """What a DSPy user writes: the gold example and the prediction in,
    a score and a reason out."""
    expected, got = gold.get("answer", ""), pred.get("answer", "")
    if normalize(expected) == normalize(got):
        return 1.0, None
    if normalize(expected) in normalize(got):
        return 0.0, f"expected only {expected!r}, got {got!r}: answer with the name alone"
    return 0.0, f"expected {expected!r}, got {got!r}"


def main():
    for line in sys.stdin:
        request = json.loads(line)
        score, feedback = metric(request["gold"], request["pred"])
        print(json.dumps({"score": score, "feedback": feedback}), flush=True)


if __name__ == "__main__":
    main()
