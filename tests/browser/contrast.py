"""WCAG 2.x contrast, pure: the relative luminance of an sRGB colour, the contrast ratio of two,
what a text needs (4.5:1, or 3:1 when it is large), and a CSS colour as the browser computes it
(`rgb(r, g, b)` or `rgba(r, g, b, a)`) laid over what is behind it.

The formulas are WCAG 2.2's definitions of "relative luminance" and "contrast ratio"
(https://www.w3.org/TR/WCAG22/#dfn-relative-luminance)."""

from __future__ import annotations

import re
from collections.abc import Iterable

RGB = tuple[float, float, float]
"""Red, green, blue, each 0-255."""

RGBA = tuple[float, float, float, float]
"""An RGB and its alpha, 0-1."""

NORMAL_TEXT = 4.5
LARGE_TEXT = 3.0

_CSS_RGB = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+))?\s*\)")


def parse_css_color(value: str) -> RGBA:
    """A colour as getComputedStyle gives it: `rgb(31, 35, 40)`, `rgba(0, 0, 0, 0)`."""
    match = _CSS_RGB.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an rgb() colour: {value!r}")
    r, g, b, a = match.groups()
    return float(r), float(g), float(b), 1.0 if a is None else float(a)


def hex_color(value: str) -> RGB:
    """`#777`, `#1f2328`."""
    digits = value.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(color: RGB) -> float:
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: RGB, second: RGB) -> float:
    """From 1 (the same) to 21 (black and white), whichever is the lighter."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def over(top: RGBA, below: RGB) -> RGB:
    """`top` painted over the opaque `below` (alpha compositing)."""
    r, g, b, a = top
    return (
        r * a + below[0] * (1 - a),
        g * a + below[1] * (1 - a),
        b * a + below[2] * (1 - a),
    )


def flatten(layers: Iterable[RGBA]) -> RGB:
    """What shows through a stack of backgrounds, given from the element outwards (its own
    first, the root's last): the outermost opaque one with every nearer one laid over it."""
    stack = list(layers)
    opaque = next((i for i, layer in enumerate(stack) if layer[3] >= 1), None)
    if opaque is None:
        raise ValueError("no opaque background behind the element")
    color: RGB = stack[opaque][:3]
    for layer in reversed(stack[:opaque]):
        color = over(layer, color)
    return color


def is_large(font_size_px: float, font_weight: int) -> bool:
    """WCAG's large text: at least 18 pt (24 px), or 14 pt (18.66 px) and bold."""
    return font_size_px >= 24 or (font_size_px >= 18.66 and font_weight >= 700)


def required_ratio(font_size_px: float, font_weight: int) -> float:
    """The least contrast level AA asks of text of this size and weight."""
    return LARGE_TEXT if is_large(font_size_px, font_weight) else NORMAL_TEXT
