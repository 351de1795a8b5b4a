"""Runs one command and prints "wall user sys rq_wait" in seconds.

user and sys come from the kernel's accounting of the finished process (as
/usr/bin/time reports them); rq_wait is how long its threads, all together,
stood runnable waiting for a CPU (from /proc/PID/task/*/schedstat, sampled
every 10 ms while it runs): on a machine shared with other work, how much the
others slowed the run down.

    python3 measure.py CMD [ARGS...]
"""

import os
import subprocess
import sys
import threading
import time


def main() -> None:
    started = time.monotonic()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    # The exit is waited for on a thread of its own, so the wall time is
    # exact while the sampling below stays sparse: polling /proc every few
    # milliseconds took a noticeable share of a 2-core machine from the run
    # it measured.
    ended: dict[str, object] = {}

    def wait() -> None:
        _, status, usage = os.wait4(child.pid, 0)
        ended.update(status=status, usage=usage, at=time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    tasks = f"/proc/{child.pid}/task"
    waits: dict[str, int] = {}
    while waiter.is_alive():
        try:
            names = os.listdir(tasks)
        except OSError:
            names = []  # the process has ended
        for name in names:
            try:
                with open(f"{tasks}/{name}/schedstat") as f:
                    waits[name] = int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass  # the thread ended between listing and reading
        waiter.join(0.01)
    status, usage = ended["status"], ended["usage"]
    wall = ended["at"] - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{sys.argv[1]} failed with {os.waitstatus_to_exitcode(status)}")
    wait_s = sum(waits.values()) / 1e9
    print(f"{wall:.3f} {usage.ru_utime:.3f} {usage.ru_stime:.3f} {wait_s:.3f}")


if __name__ == "__main__":
    main()
