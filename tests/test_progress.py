"""Progress of long steps (issue 22, 7): plain start/end lines on stderr when it is not a
terminal (CI logs), rich's live display on one; stdout stays free for --json."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from pycontainers import progress


def test_plain_lines_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("PYCONTAINERS_PROGRESS", raising=False)
    with progress.step("downloading 3 packages (1.0 MiB)", total=3 * 2**20, unit="B") as c:
        c.advance(2**20)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "[pycontainers] downloading 3 packages (1.0 MiB)"
    assert lines[1].startswith("[pycontainers] downloading 3 packages (1.0 MiB): done in ") and lines[1].endswith("s")


def test_off_is_silent(capsys, monkeypatch):
    monkeypatch.setenv("PYCONTAINERS_PROGRESS", "off")
    with progress.step("x"):
        pass
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_the_live_display():
    """On a pseudo-terminal: rich draws (cursor control sequences) and ends with a check mark."""
    code = ("from pycontainers import progress\nimport time\n"
            "with progress.step('kernel and initramfs', total=4) as c:\n"
            "    for _ in range(4): time.sleep(0.05); c.advance()\n")
    main, sub = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "PYCONTAINERS_PROGRESS": ""}
    p = subprocess.Popen([sys.executable, "-c", code], stdin=sub, stdout=subprocess.DEVNULL, stderr=sub, env=env)
    os.close(sub)
    buf = io.BytesIO()
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        buf.write(data)
    assert p.wait() == 0
    text = buf.getvalue().decode(errors="replace")
    assert "\x1b[" in text and "✓" in text and "kernel and initramfs" in text, text
    assert "[pycontainers]" not in text
