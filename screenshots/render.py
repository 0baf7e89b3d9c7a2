#!/usr/bin/env python3
"""Render a terminal capture (`tmux capture-pane -e -p`) to a PNG.

Understands the SGR escapes tmux emits: 16/256/true colours for foreground and background,
bold, dim, italic, underline, reverse, and resets. Every character cell is drawn on a fixed
grid with DejaVu Sans Mono, so box drawing lines up exactly as in the terminal.

Usage: render.py CAPTURE.ansi OUT.png [--cols N] [--rows N]
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
FONT_SIZE = 15
BG = (24, 26, 33)
FG = (216, 222, 233)

# xterm's 16 base colours, tuned to a dark terminal palette.
BASE16 = [
    (40, 42, 54), (224, 108, 117), (152, 195, 121), (229, 192, 123),
    (97, 175, 239), (198, 120, 221), (86, 182, 194), (171, 178, 191),
    (92, 99, 112), (240, 128, 128), (170, 220, 140), (240, 210, 140),
    (120, 190, 255), (220, 150, 240), (110, 210, 220), (240, 244, 250),
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = False
        self.dim = False
        self.italic = False
        self.underline = False
        self.reverse = False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 3:
                self.italic = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 23:
                self.italic = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = BASE16[c - 30]
            elif 90 <= c <= 97:
                self.fg = BASE16[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = BASE16[c - 40]
            elif 100 <= c <= 107:
                self.bg = BASE16[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    colour = xterm256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    colour = tuple(codes[i + 2:i + 5])
                    i += 4
                else:
                    colour = None
                if c == 38:
                    self.fg = colour
                else:
                    self.bg = colour
            i += 1

    def colours(self):
        fg = self.fg or FG
        bg = self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg


ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def parse(text, cols, rows):
    """Returns rows of cells (char, fg, bg, bold, italic, underline)."""
    grid = []
    pen = Pen()
    for line in text.split("\n")[:rows]:
        row = []
        pos = 0
        for m in ESCAPE.finditer(line):
            for ch in line[pos:m.start()]:
                row.append((ch, *pen.colours(), pen.bold, pen.italic, pen.underline))
            if m.group(2) == "m":
                pen.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            row.append((ch, *pen.colours(), pen.bold, pen.italic, pen.underline))
        fill = Pen().colours()
        while len(row) < cols:
            row.append((" ", *fill, False, False, False))
        grid.append(row[:cols])
    while len(grid) < rows:
        grid.append([(" ", FG, BG, False, False, False)] * cols)
    return grid


# Box-drawing characters are drawn as lines rather than glyphs so borders join without gaps
# between rows: each maps to the arms it has (left, right, up, down).
BOX_ARMS = {
    "─": "lr", "│": "ud", "┌": "rd", "┐": "ld", "└": "ru", "┘": "lu", "╭": "rd", "╮": "ld",
    "╰": "ru", "╯": "lu", "├": "udr", "┤": "udl", "┬": "lrd", "┴": "lru", "┼": "lrud",
}


def draw_box(draw, ch, left, top, w, h, fg):
    cx, cy = left + w // 2, top + h // 2
    arms = BOX_ARMS[ch]
    if "l" in arms:
        draw.line([left, cy, cx, cy], fill=fg)
    if "r" in arms:
        draw.line([cx, cy, left + w - 1, cy], fill=fg)
    if "u" in arms:
        draw.line([cx, top, cx, cy], fill=fg)
    if "d" in arms:
        draw.line([cx, cy, cx, top + h - 1], fill=fg)


def render(grid, out):
    fonts = {
        (False, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", FONT_SIZE),
        (True, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", FONT_SIZE),
        (False, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Oblique.ttf", FONT_SIZE),
        (True, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-BoldOblique.ttf", FONT_SIZE),
    }
    regular = fonts[(False, False)]
    cell_w = round(regular.getlength("M"))
    ascent, descent = regular.getmetrics()
    cell_h = ascent + descent + 2
    pad = 12
    cols = len(grid[0])
    img = Image.new("RGB", (cols * cell_w + 2 * pad, len(grid) * cell_h + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(grid):
        for x, (ch, fg, bg, bold, italic, underline) in enumerate(row):
            left, top = pad + x * cell_w, pad + y * cell_h
            if bg != BG:
                draw.rectangle([left, top, left + cell_w - 1, top + cell_h - 1], fill=bg)
            if ch in BOX_ARMS:
                draw_box(draw, ch, left, top, cell_w, cell_h, fg)
            elif ch.strip():
                draw.text((left, top + 1), ch, font=fonts[(bold, italic)], fill=fg)
            if underline:
                draw.line([left, top + cell_h - 2, left + cell_w - 1, top + cell_h - 2], fill=fg)
    img.save(out, optimize=True)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], encoding="utf-8", errors="replace") as f:
        text = f.read().rstrip("\n")
    lines = text.split("\n")
    cols = int(opts.get("cols", max(len(ESCAPE.sub("", l)) for l in lines)))
    rows = int(opts.get("rows", len(lines)))
    render(parse(text, cols, rows), args[1])


if __name__ == "__main__":
    main(sys.argv)
