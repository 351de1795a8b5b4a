"""simba-run <-> DSPy 3.4.1 round trip, for every example but `local` and
tests/dspy/oneline.simba (signatures without docstrings).

simba-run to DSPy: each spec is optimized on the sim model. `program.json`
and every `candidates/NN.program.json` are loaded into the equivalent DSPy
program (tests/dspy/programs.py); instructions and demos must come back
exactly as simba-run wrote them (and as candidates.json lists them), DSPy
must save the loaded program byte for byte as ours (the same state), the
baseline must equal what DSPy saves for the fresh program (default
instructions, field prefixes), and running a loaded program on
`dspy.utils.DummyLM` must show its demos in the prompt.

DSPy to simba-run: instructions and demos set by hand on the DSPy program
and saved with `save()` are evaluated by `simba-run eval --program` against
a local OpenAI-compatible stub, whose recorded prompts must carry them. A
saved `lm` and a demo label outside its enum must each raise a warning.

    python roundtrip.py --bin target/debug/simba-run --work /tmp/roundtrip
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin

import dspy
from dspy.utils.dummies import DummyLM

from programs import BARE, SPECS
from stub_server import StubServer

REPO = Path(__file__).resolve().parents[2]
# Examples that do not run on the sim model.
SKIPPED_EXAMPLES = {"local"}


class Checks:
    """Collects failed checks, so one run reports all of them."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, ok, message):
        if ok:
            self.passed += 1
        else:
            self.failures.append(message)
            print(f"FAIL: {message}", file=sys.stderr)


def specs_to_cover():
    examples = sorted(
        p.relative_to(REPO).as_posix()
        for p in (REPO / "examples").glob("*/*.simba")
        if p.parent.name not in SKIPPED_EXAMPLES
    )
    return examples + ["tests/dspy/oneline.simba"]


def normalized(text):
    """Whitespace collapsed: DSPy indents instructions in its prompt."""
    return " ".join(text.split())


def read_state(path):
    """A saved program's predictor states and its metadata."""
    data = json.loads(path.read_text())
    metadata = data.pop("metadata")
    return data, metadata


def demo_dicts(demos):
    return [d.toDict() if isinstance(d, dspy.Example) else dict(d) for d in demos]


def spec_rows(spec):
    """The first rows of the spec's trainset (inputs and labels)."""
    text = (REPO / spec).read_text()
    train = re.search(r'train\s*=\s*jsonl\("([^"]+)"\)', text).group(1)
    lines = ((REPO / spec).parent / train).read_text().splitlines()
    return [json.loads(line) for line in lines[:2]]


def spec_inputs(spec):
    text = (REPO / spec).read_text()
    names = re.search(r"inputs\s*=\s*\[([^\]]*)\]", text).group(1)
    return [n.strip() for n in names.split(",") if n.strip()]


# --- simba-run -> DSPy ---------------------------------------------------------


def check_loads_exactly(checks, program_class, path):
    """Loads `path` into a fresh DSPy program; instructions, demos and the
    whole state must come back as saved."""
    state, _ = read_state(path)
    module = program_class()
    module.load(str(path))
    names = [name for name, _ in module.named_predictors()]
    checks.check(names == list(state), f"{path}: keys {list(state)}, DSPy predictors {names}")
    for name, predictor in module.named_predictors():
        saved = state.get(name, {})
        checks.check(
            predictor.signature.instructions == saved.get("signature", {}).get("instructions"),
            f"{path}: `{name}` instructions not restored exactly",
        )
        checks.check(
            demo_dicts(predictor.demos) == saved.get("demos"),
            f"{path}: `{name}` demos not restored exactly",
        )
    checks.check(module.dump_state() == state, f"{path}: DSPy saves the loaded program differently")
    return module


def check_listed_in_candidates(checks, out, candidates):
    """Each candidate file holds what candidates.json lists for it, and
    candidate_programs ranks them as DSPy ranks candidate_programs."""
    entries = candidates["candidates"]
    for position, entry in enumerate(entries):
        path = out / f"candidates/{position:02}.program.json"
        if not path.is_file():
            checks.check(False, f"{path} is missing")
            continue
        state, metadata = read_state(path)
        for key, step in metadata["simba_run"]["steps"].items():
            ours = entry["predictors"][step]
            demos = [{"augmented": True, **d["fields"]} if d["augmented"] else d["fields"] for d in ours["demos"]]
            checks.check(
                state[key]["signature"]["instructions"] == ours["instructions"] and state[key]["demos"] == demos,
                f"{path}: `{key}` differs from candidates.json's candidate {position}",
            )
    ranked = candidates["candidate_programs"]
    checks.check(
        sorted(r["candidate"] for r in ranked) == list(range(len(entries))),
        f"{out}: candidate_programs does not list every candidate once",
    )
    scores = [r["score"] for r in ranked]
    expected = sorted(range(len(entries)), key=lambda c: entries[c]["train_score"], reverse=True)
    checks.check(
        [r["candidate"] for r in ranked] == expected and scores == sorted(scores, reverse=True),
        f"{out}: candidate_programs is not in DSPy's order (score, highest first, stable)",
    )
    checks.check(ranked[0]["candidate"] == candidates["best"], f"{out}: the first ranked is not the best")
    for r in ranked:
        checks.check((out / r["program"]).is_file(), f"{out}: {r['program']} is missing")
    best = (out / ranked[0]["program"]).read_bytes()
    checks.check(best == (out / "program.json").read_bytes(), f"{out}: program.json is not the best candidate's file")


def dummy_value(field):
    if get_origin(field.annotation) is Literal:
        return get_args(field.annotation)[0]
    return "dummy"


def as_prompted(value):
    """A demo value as DSPy's prompt shows it: lists and objects as JSON
    (a `list[str]` field's passages), anything else as text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def check_demos_in_prompt(checks, module, inputs, where):
    """Runs the module on DummyLM; every demo must be in the prompt of its
    predictor's call. Returns how many demos were checked."""
    predictors = list(module.named_predictors())
    if not any(p.demos for _, p in predictors):
        return 0
    answers = [{n: dummy_value(f) for n, f in p.signature.output_fields.items()} for _, p in predictors]
    lm = DummyLM(answers)
    with dspy.context(lm=lm):
        module(**inputs)
    calls = [" ".join(normalized(m["content"]) for m in h["messages"]) for h in lm.history]
    checked = 0
    for name, predictor in predictors:
        instructions = normalized(predictor.signature.instructions)
        for demo in demo_dicts(predictor.demos):
            values = [normalized(as_prompted(v)) for k, v in demo.items() if k != "augmented"]
            shown = any(instructions in call and all(v in call for v in values) for call in calls)
            checks.check(shown, f"{where}: a demo of `{name}` is not in its DummyLM prompt: {demo}")
            checked += 1
    return checked


def simba_to_dspy(checks, binary, spec, work):
    program_class = SPECS[spec]
    out = work / "optimized" / Path(spec).stem
    subprocess.run([binary, str(REPO / spec), "--out", str(out), "--quiet"], check=True)
    candidates = json.loads((out / "candidates.json").read_text())
    files = [out / "program.json"] + sorted((out / "candidates").glob("*.program.json"))
    checks.check(len(files) == len(candidates["candidates"]) + 1, f"{out}: one file per final candidate")
    check_listed_in_candidates(checks, out, candidates)
    # The baseline (candidate 0) is what DSPy itself saves for the fresh program.
    baseline_file = out / "candidates/00.program.json"
    checks.check(
        candidates["candidates"][0]["winner_index"] == 0
        and baseline_file.is_file()
        and program_class().dump_state() == read_state(baseline_file)[0],
        f"{spec}: the baseline differs from DSPy's save() of the fresh program",
    )
    row = spec_rows(spec)[0]
    inputs = {k: row[k] for k in spec_inputs(spec)}
    demos = 0
    for path in files:
        module = check_loads_exactly(checks, program_class, path)
        demos += check_demos_in_prompt(checks, module, inputs, path)
    return demos


# --- DSPy -> simba-run ---------------------------------------------------------


def hand_value(field_name, field, row, i):
    """A demo value: a Literal output gets a label (demo 2 of a Literal gets
    one outside it, to provoke the warning); other fields a unique text."""
    if get_origin(field.annotation) is Literal:
        return get_args(field.annotation)[0] if i == 0 else "not-a-label"
    return f"demo{i} {field_name} {row.get(field_name, 'by hand')}"


def set_by_hand(module, rows):
    """Instructions and two demos per predictor; what the prompt must show."""
    expected = {}
    for name, predictor in module.named_predictors():
        instructions = f"Hand-set instructions of {name}: keep it short."
        predictor.signature = predictor.signature.with_instructions(instructions)
        fields = {**predictor.signature.input_fields, **predictor.signature.output_fields}
        demos = []
        for i, row in enumerate(rows[:2]):
            values = {n: hand_value(n, f, row, i) for n, f in fields.items()}
            # DSPy marks its own demos augmented (first key); hand demos are not.
            demos.append(dspy.Example(augmented=True, **values) if i == 0 else dspy.Example(**values))
        predictor.demos = demos
        expected[name] = (instructions, predictor.signature, demos)
    return expected


def spec_on_stub(spec, base_url, path):
    """The spec with its `sim` model pointed at the stub and data paths (and
    a `command("python3 script")` metric's script) made absolute, written to
    `path`."""
    text = (REPO / spec).read_text()
    folder = (REPO / spec).parent
    block = f'model sim {{\n  provider = "openai"\n  base_url = "{base_url}"\n  model = "stub"\n}}'
    text, n = re.subn(r"model\s+sim\s*\{[^}]*\}", block, text)
    assert n == 1, f"{spec}: no `model sim` block"
    text = re.sub(r'jsonl\("([^"]+)"\)', lambda m: f'jsonl("{(folder / m.group(1)).resolve()}")', text)
    text = re.sub(
        r'command\("python3 ([^" ]+)"\)',
        lambda m: f'command("python3 {(folder / m.group(1)).resolve()}")',
        text,
    )
    path.write_text(text)


def demo_in_request(messages, signature, demo):
    """True when a user message carries the demo's inputs and the assistant
    message after it carries its outputs."""
    inputs = [str(demo[n]) for n in signature.input_fields]
    outputs = [str(demo[n]) for n in signature.output_fields]
    for user, assistant in zip(messages, messages[1:]):
        if user["role"] == "user" and assistant["role"] == "assistant":
            if all(v in user["content"] for v in inputs) and all(v in assistant["content"] for v in outputs):
                return True
    return False


def dspy_to_simba(checks, binary, spec, work):
    folder = work / "dspy-saved" / Path(spec).stem
    folder.mkdir(parents=True, exist_ok=True)
    bare = spec in BARE
    module = BARE[spec]() if bare else SPECS[spec]()
    expected = set_by_hand(module, spec_rows(spec))
    if bare:
        # A model set on the predictor is saved as its `lm`: simba-run ignores it, saying so.
        for _, predictor in module.named_predictors():
            predictor.lm = dspy.LM("openai/gpt-4o-mini")
    saved = folder / "program.json"
    module.save(str(saved))
    stub = StubServer()
    try:
        spec_copy = folder / "spec.simba"
        spec_on_stub(spec, stub.base_url, spec_copy)
        env = {**os.environ, "SIMBA_RETRY_BASE_MS": "10", "SIMBA_RETRY_MAX_MS": "50"}
        run = subprocess.run(
            [binary, "eval", str(spec_copy), "--program", str(saved), "--no-cache"],
            capture_output=True,
            text=True,
            env=env,
        )
    finally:
        stub.close()
    checks.check(run.returncode == 0, f"{spec}: eval of the DSPy-saved program failed:\n{run.stderr}")
    checks.check(len(stub.requests) > 0, f"{spec}: eval sent no request")
    for name, (instructions, signature, demos) in expected.items():
        requests = [m for m in stub.requests if m[0]["content"].rstrip().endswith(instructions)]
        checks.check(requests, f"{spec}: no prompt carries the instructions set on `{name}`")
        for demo in demos:
            shown = all(demo_in_request(m, signature, demo) for m in requests)
            checks.check(shown, f"{spec}: a demo set on `{name}` is not in its prompts: {demo.toDict()}")
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    literal = any(
        get_origin(f.annotation) is Literal
        for _, p in module.named_predictors()
        for f in p.signature.output_fields.values()
    )
    expect = (["saved `lm`"] if bare else []) + (["not one of its labels"] if literal else [])
    for phrase in expect:
        checks.check(any(phrase in w for w in warnings), f"{spec}: no warning about a {phrase!r}: {warnings}")
    checks.check(len(warnings) == len(expect), f"{spec}: unexpected warnings: {warnings}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the simba-run binary")
    parser.add_argument("--work", required=True, help="a scratch folder for outputs")
    args = parser.parse_args()
    binary = str(Path(args.bin).resolve())
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    specs = specs_to_cover()
    missing = [s for s in specs if s not in SPECS]
    checks.check(not missing, f"no DSPy equivalent in tests/dspy/programs.py for {missing}")
    demos = 0
    for spec in (s for s in specs if s in SPECS):
        demos += simba_to_dspy(checks, binary, spec, work)
        dspy_to_simba(checks, binary, spec, work)
        print(f"roundtrip: {spec} done")
    # Without a single optimized demo the prompt check would prove nothing.
    checks.check(demos > 0, "no optimized program had a demo to look for in a DummyLM prompt")
    if checks.failures:
        print(f"roundtrip: {len(checks.failures)} of {checks.passed + len(checks.failures)} checks failed", file=sys.stderr)
        return 1
    print(f"roundtrip: DSPy {dspy.__version__}, {len(specs)} specs, {checks.passed} checks, {demos} optimized demos seen in DummyLM prompts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
