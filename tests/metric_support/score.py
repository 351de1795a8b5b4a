"""A command metric for the tests: exact match of `answer`, with feedback.

Behaviour switches on argv[1]: `ok` answers every line; `crash` exits with
status 3 on its 2nd request; `crash_once` does so on its 3rd request unless
`crashed.flag` exists in its folder (it creates it), so one run crashes once;
`hang` sleeps on its 2nd request; `garbage` answers its 1st request with a
line that is not JSON; `huge` scores a match 1e308 (finite, but beyond the
accepted range); `fork` starts a grandchild sleeping 60 s on its 1st
request, writing its pid to `grandchild.pid` (in the working folder);
`twice` answers each request with two lines in one write; `twice_late`
answers its 1st request, then once `go` exists in the working folder writes
a second line and creates `extra.done`; `fork_exit` on its 2nd request
forks a child that sleeps holding stdout open and exits with status 4;
`noflush` answers without flushing (PYTHONUNBUFFERED makes that work);
`chatty` writes `scoring N` to stderr for each request.
"""
import json
import os
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
seen = 0
for line in sys.stdin:
    seen += 1
    if mode == "crash" and seen == 2:
        print("giving up on request 2", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "crash_once" and seen == 3 and not os.path.exists("crashed.flag"):
        open("crashed.flag", "w").close()
        sys.exit(3)
    if mode == "hang" and seen == 2:
        time.sleep(30)
    if mode == "fork" and seen == 1:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        with open("grandchild.pid", "w") as f:
            f.write(str(pid))
    if mode == "fork_exit" and seen == 2:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        os._exit(4)
    if mode == "chatty":
        print(f"scoring {seen}", file=sys.stderr, flush=True)
    if mode == "garbage" and seen == 1:
        print("not json at all", flush=True)
        continue
    req = json.loads(line)
    pred = str(req["pred"].get("answer", "")).strip().lower()
    gold = str(req["gold"].get("answer", "")).strip().lower()
    score = 1.0 if pred == gold else 0.0
    if mode == "huge" and score:
        score = 1e308
    feedback = None if score else f"expected {gold}, got {pred}"
    answer = json.dumps({"score": score, "feedback": feedback})
    if mode == "twice":
        sys.stdout.write(answer + "\n" + answer + "\n")
        sys.stdout.flush()
    elif mode == "noflush":
        print(answer)
    else:
        print(answer, flush=True)
    if mode == "twice_late" and seen == 1:
        while not os.path.exists("go"):
            time.sleep(0.01)
        print(answer, flush=True)
        open("extra.done", "w").close()
