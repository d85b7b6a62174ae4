"""Run a command on a fresh pseudo-terminal and answer its prompts.

usage: pty_answer.py TRANSCRIPT PROMPT ANSWER [PROMPT ANSWER ...] -- CMD [ARG...]

The command's stdin, stdout and stderr are the terminal. Each time the next
PROMPT text appears on it, the terminal's echo flag is recorded and ANSWER
plus a newline is typed. Everything the terminal showed is written to
TRANSCRIPT; then one line per prompt, "echo-at-prompt N: on|off", and
"echo-after-exit: on|off". Exits with the command's exit code, or 124 when a
prompt does not appear within 20 seconds (the command is killed).
"""
import os
import select
import subprocess
import sys
import termios
import time


def main():
    sep = sys.argv.index("--")
    transcript_path, pairs, cmd = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
    if len(pairs) % 2 or not cmd:
        sys.exit(__doc__)
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    seen = b""
    notes = []

    def read_some(deadline):
        nonlocal seen
        left = deadline - time.monotonic()
        if left > 0 and select.select([master], [], [], min(left, 0.05))[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:  # EIO: no process has the terminal open
                time.sleep(0.01)

    rc = 0
    searched = 0
    for i in range(0, len(pairs), 2):
        prompt, answer = pairs[i].encode(), pairs[i + 1].encode()
        deadline = time.monotonic() + 20
        while seen.find(prompt, searched) < 0 and time.monotonic() < deadline:
            if proc.poll() is not None and not select.select([master], [], [], 0)[0]:
                break
            read_some(deadline)
        at = seen.find(prompt, searched)
        if at < 0:
            rc = 124
            break
        searched = at + len(prompt)
        echo = termios.tcgetattr(slave)[3] & termios.ECHO
        notes.append(f"echo-at-prompt {i // 2 + 1}: {'on' if echo else 'off'}")
        os.write(master, answer + b"\n")
    if rc:
        proc.kill()
        proc.wait()
    else:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            read_some(deadline)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            rc = 124
        else:
            rc = proc.returncode
    # Drain what is left on the terminal.
    while select.select([master], [], [], 0.05)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    echo = termios.tcgetattr(slave)[3] & termios.ECHO
    notes.append(f"echo-after-exit: {'on' if echo else 'off'}")
    with open(transcript_path, "wb") as out:
        out.write(seen)
        out.write(b"\n" + "\n".join(notes).encode() + b"\n")
    sys.exit(rc)


main()
