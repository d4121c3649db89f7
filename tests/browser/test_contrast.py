"""The WCAG contrast arithmetic the page's contrast test relies on, against known pairs."""

from __future__ import annotations

import pytest

from tests.browser.contrast import (
    contrast_ratio,
    flatten,
    hex_color,
    is_large,
    parse_css_color,
    relative_luminance,
    required_ratio,
)

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def test_black_on_white_is_21_to_1_either_way_round() -> None:
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21)
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21)


def test_a_colour_on_itself_is_1_to_1() -> None:
    assert contrast_ratio(hex_color("#59636e"), hex_color("#59636e")) == pytest.approx(1)


@pytest.mark.parametrize(
    ("fg", "bg", "ratio"),
    [
        ("#777", "#fff", 4.48),  # the classic grey that just fails AA
        ("#767676", "#fff", 4.54),  # the lightest grey that passes on white
        ("#595959", "#fff", 7.0),
        ("#0000ff", "#fff", 8.59),
        ("#ff0000", "#fff", 4.0),
    ],
)
def test_known_pairs(fg: str, bg: str, ratio: float) -> None:
    assert contrast_ratio(hex_color(fg), hex_color(bg)) == pytest.approx(ratio, abs=0.01)


def test_relative_luminance_of_the_primaries() -> None:
    assert relative_luminance(WHITE) == pytest.approx(1)
    assert relative_luminance(BLACK) == 0
    assert relative_luminance((0, 255, 0)) == pytest.approx(0.7152)


def test_computed_colours_parse() -> None:
    assert parse_css_color("rgb(31, 35, 40)") == (31, 35, 40, 1)
    assert parse_css_color("rgba(0, 0, 0, 0)") == (0, 0, 0, 0)
    assert parse_css_color("rgb(13 17 23 / 0.5)") == (13, 17, 23, 0.5)
    with pytest.raises(ValueError, match="not an rgb"):
        parse_css_color("color(srgb 1 0 0)")


def test_a_background_is_what_shows_through_the_layers() -> None:
    transparent = (0, 0, 0, 0)
    assert flatten([transparent, (*WHITE, 1), (*BLACK, 1)]) == WHITE
    # Half black over white: mid grey.
    assert flatten([(0, 0, 0, 0.5), (*WHITE, 1)]) == (127.5, 127.5, 127.5)
    with pytest.raises(ValueError, match="no opaque background"):
        flatten([transparent, transparent])


@pytest.mark.parametrize(
    ("size", "weight", "large", "needed"),
    [
        (16, 400, False, 4.5),
        (16, 700, False, 4.5),
        (24, 400, True, 3.0),
        (18.66, 700, True, 3.0),
        (18.66, 600, False, 4.5),
        (18.5, 700, False, 4.5),
    ],
)
def test_large_text(size: float, weight: int, large: bool, needed: float) -> None:
    assert is_large(size, weight) is large
    assert required_ratio(size, weight) == needed
