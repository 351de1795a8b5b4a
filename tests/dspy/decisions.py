"""SIMBA's decision functions, run by DSPy 3.4.1 on the inputs of
tests/dspy/decisions.json and compared with the answers recorded there.

tests/dspy_decisions.rs checks simba-run's functions against the same
recorded answers, so together the two prove ours decide as DSPy's do:
percentiles, the skip rules of append_demo and append_rule (and which side
of an advice request is blanked), top_k_plus_baseline, the evenly spaced
final picks, the ranking of the final candidates and the bounds on the
number of demos dropped.

    python decisions.py          # check the recorded answers against DSPy
    python decisions.py --write  # record DSPy's answers for the inputs
"""

import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import dspy
import numpy as np
from dspy.teleprompt.simba_utils import append_a_demo, append_a_rule
from dspy.utils.dummies import DummyLM

import dspy_source

CASES = Path(__file__).with_name("decisions.json")


class OneStep(dspy.Module):
    """The program append_a_rule is shown (it reads the class's source)."""

    def __init__(self):
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question):
        return self.answer(question=question)


def percentile(case):
    return float(np.percentile(case["values"], case["p"]))


def _bucket(best, worst):
    """A two-run bucket as SIMBA builds it (best first)."""
    example = dspy.Example(question="q", answer="a").with_inputs("question")

    def run(score):
        return {
            "score": score,
            "trace": [],
            "prediction": dspy.Prediction(answer="x"),
            "example": example,
            "output_metadata": {},
        }

    return [run(best), run(worst)]


def demo_skip(case):
    strategy = append_a_demo(100_000)
    applied = strategy(
        _bucket(case["best"], case["best"]),
        OneStep(),
        predictor2name={},
        name2predictor={},
        batch_10p_score=case["p10"],
    )
    return not applied


def rule_skip(case):
    """Whether append_a_rule skips, and which side it blanks when it does not."""
    bucket = _bucket(case["best"], case["worst"])
    advice = DummyLM([{"discussion": "d", "module_advice": {"answer": "a"}}])
    applied = append_a_rule(
        bucket,
        OneStep(),
        predictor2name={},
        batch_10p_score=case["p10"],
        batch_90p_score=case["p90"],
        prompt_model=advice,
    )
    if not applied:
        return {"skips": True, "blanked": None}
    good, bad = bucket
    blanked = "better" if good["score"] == "N/A" else "worse" if bad["score"] == "N/A" else "neither"
    return {"skips": False, "blanked": blanked}


def top_k_plus_baseline(case):
    scores = case["scores"]
    namespace = {
        "programs": [SimpleNamespace(simba_idx=i) for i in range(len(scores))],
        "program_scores": dict(enumerate(scores)),
    }
    dspy_source.nested_function("calc_average_score", namespace)
    return dspy_source.nested_function("top_k_plus_baseline", namespace)(case["k"])


def final_indices(case):
    namespace = {
        "winning_programs": [None] * (case["m"] + 1),
        "self": SimpleNamespace(num_candidates=case["n"] - 1),
    }
    dspy_source.run_statements(
        [
            "M = len(winning_programs) - 1",
            "N = self.num_candidates + 1",
            "if M < 1:",
            "program_idxs = list(dict.fromkeys(program_idxs))",
        ],
        namespace,
    )
    return namespace["program_idxs"]


def ranking(case):
    """DSPy's candidate_programs order and best index for these final scores."""
    scores = case["scores"]
    namespace = {"scores": scores, "candidate_programs": list(range(len(scores)))}
    dspy_source.run_statements(
        [
            "candidate_data = [",
            "candidate_data.sort(",
            "best_idx = scores.index(max(scores)) if scores else 0",
        ],
        namespace,
    )
    return {
        "order": [c["program"] for c in namespace["candidate_data"]],
        "best": namespace["best_idx"],
    }


def demo_drop(case):
    """How many demos DSPy drops when its Poisson draw gives `drawn`."""

    class FixedPoisson:
        def poisson(self, lam):
            return case["drawn"]

    namespace = {
        "self": SimpleNamespace(max_demos=case["max_demos"]),
        "num_demos": case["d"],
        "rng_np": FixedPoisson(),
    }
    dspy_source.run_statements(
        [
            "max_demos_tmp = ",
            "num_demos_to_drop = max(",
            "num_demos_to_drop = min(",
        ],
        namespace,
    )
    return int(namespace["num_demos_to_drop"])


DECIDERS = {
    "percentile": percentile,
    "demo_skip": demo_skip,
    "rule_skip": rule_skip,
    "top_k_plus_baseline": top_k_plus_baseline,
    "final_indices": final_indices,
    "ranking": ranking,
    "demo_drop": demo_drop,
}


def main(write):
    logging.getLogger("dspy").setLevel(logging.ERROR)
    cases = json.loads(CASES.read_text())
    wrong = []
    for kind, decide in DECIDERS.items():
        for case in cases[kind]:
            got = decide(case["input"])
            if write:
                case["dspy"] = got
            elif got != case["dspy"]:
                wrong.append(f"{kind} {case['input']}: DSPy says {got}, recorded {case['dspy']}")
    if write:
        CASES.write_text(json.dumps(cases, indent=2) + "\n")
        print(f"decisions: recorded DSPy's answers in {CASES}")
        return 0
    for line in wrong:
        print(f"decisions: {line}", file=sys.stderr)
    count = sum(len(cases[k]) for k in DECIDERS)
    if wrong:
        return 1
    print(f"decisions: DSPy {dspy.__version__} agrees with all {count} recorded answers")
    return 0


if __name__ == "__main__":
    sys.exit(main("--write" in sys.argv[1:]))
