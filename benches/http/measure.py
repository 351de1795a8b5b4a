"""Runs one command and prints "wall user sys rq_wait" in seconds.

user and sys come from the kernel's accounting of the finished process (as
/usr/bin/time reports them); rq_wait is how long its threads, all together,
stood runnable waiting for a CPU (from /proc/PID/task/*/schedstat, sampled
every 2 ms while it runs): on a machine shared with other work, how much the
others slowed the run down.

    python3 measure.py CMD [ARGS...]
"""

import glob
import os
import subprocess
import sys
import time


def main() -> None:
    started = time.monotonic()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    waits: dict[str, int] = {}
    while True:
        for path in glob.glob(f"/proc/{child.pid}/task/*/schedstat"):
            try:
                waits[path] = int(open(path).read().split()[1])
            except (OSError, IndexError, ValueError):
                pass  # the thread ended between listing and reading
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.002)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{sys.argv[1]} failed with {os.waitstatus_to_exitcode(status)}")
    wait = sum(waits.values()) / 1e9
    print(f"{wall:.3f} {usage.ru_utime:.3f} {usage.ru_stime:.3f} {wait:.3f}")


if __name__ == "__main__":
    main()
