"""Render a tmux `capture-pane -e` dump (text with ANSI colours) to SVG.

Uses rich's own ANSI parser and SVG exporter. Usage:
    ansi_to_svg.py INPUT.ansi OUTPUT.svg "title" WIDTH
"""
import sys

from rich.console import Console
from rich.text import Text

src, dst, title, width = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(src, encoding="utf-8", errors="replace") as f:
    lines = f.read().rstrip("\n").split("\n")
console = Console(record=True, width=width, force_terminal=True, color_system="truecolor", file=open("/dev/null", "w"))
for line in lines:
    console.print(Text.from_ansi(line), no_wrap=True, overflow="crop")
console.save_svg(dst, title=title)
