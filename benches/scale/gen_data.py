#!/usr/bin/env python3
"""Writes a deterministic trivia-like dataset for the scale bench.

    gen_data.py OUT_DIR [ROWS]

OUT_DIR/train.jsonl gets ROWS rows (default 10000), OUT_DIR/dev.jsonl 200.
Each row has a question, an answer and a topic (the sim model's oracle reads
all three); answers are unique per row so the sim model cannot guess them.
"""
import json
import os
import random
import sys

TOPICS = [
    "rivers", "planets", "painters", "composers", "capitals", "elements",
    "mountains", "novels", "inventors", "languages", "oceans", "deserts",
]


def rows(n, rng, start):
    out = []
    for i in range(start, start + n):
        topic = TOPICS[rng.randrange(len(TOPICS))]
        words = " ".join(rng.choice("abcdefghijklmnopqrstuvwxyz") * rng.randint(3, 8) for _ in range(3))
        out.append({
            "question": f"Item {i}: which of the {topic} is described by '{words}'?",
            "answer": f"{topic[:-1].title()} {i}",
            "topic": topic,
        })
    return out


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for r in data:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rng = random.Random(20261126)
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train.jsonl"), rows(n, rng, 0))
    write(os.path.join(out, "dev.jsonl"), rows(200, rng, n))


if __name__ == "__main__":
    main()
