"""Capture the console of ``make run`` from a real terminal (tmux) as an image for the docs.

Usage: ``.venv/bin/python scripts/console-screenshot.py [--seconds 20] [--out docs/images]``

Starts ``make run`` in a detached tmux session of 150 x 40 cells, lets it trade for
``--seconds``, captures the pane with its colours (``tmux capture-pane -e``), stops the
daemon with Ctrl-C and writes ``console.png`` (rich's terminal export, rendered by
chromium) or, without chromium, ``console.svg``. The state file ``make run``
writes goes to a temporary directory (``LIBRA__KERNEL__STATE_PATH``), so a second capture
starts from the same place.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

REPO = Path(__file__).resolve().parents[1]
SESSION = "libra-console-capture"
WIDTH, HEIGHT = 160, 36


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def capture(seconds: float, state_dir: Path) -> str:
    """Return the pane's text with its ANSI colours after ``seconds`` of ``make run``."""
    command = (f"cd {REPO} && LIBRA__KERNEL__STATE_PATH={state_dir}/libra.db "
               "LIBRA__LOGGING__HEARTBEAT_INTERVAL=5 make run")
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
    tmux("new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    try:
        time.sleep(seconds)
        return tmux("capture-pane", "-p", "-e", "-t", SESSION)
    finally:
        subprocess.run(["tmux", "send-keys", "-t", SESSION, "C-c"], check=False)
        time.sleep(2)
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True,
                       check=False)


def write_image(ansi: str, out: Path) -> Path:
    """Write the capture as ``console.png`` (rendered by chromium), else ``console.svg``."""
    console = Console(record=True, width=WIDTH, force_terminal=True, file=io.StringIO())
    console.print(Text.from_ansi(ansi.rstrip("\n")), soft_wrap=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        svg = out / "console.svg"
        console.save_svg(str(svg), title="make run")
        return svg
    png = out / "console.png"
    with tempfile.TemporaryDirectory() as scratch:
        svg = Path(scratch) / "console.svg"
        console.save_svg(str(svg), title="make run")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--screenshot={png}", "--window-size=2000,930",
                        svg.as_uri()], check=True, capture_output=True, timeout=60)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long make run trades before the capture (default 20)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images",
                        help="directory of the images (default docs/images)")
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        print("tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as state_dir:
        ansi = capture(args.seconds, Path(state_dir))
    print(f"wrote {write_image(ansi, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
