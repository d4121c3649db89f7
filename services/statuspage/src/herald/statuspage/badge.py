"""Status badges (`/badge.svg`): the flat shields.io look, label on grey, status on its colour.

Pure. Every text is XML-escaped (a component's name comes from herald.yaml, still text); the
SVG has no script, no link and no external reference, so it is safe to embed anywhere. The
status is in words, never colour alone, and in the <title> for screen readers.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

COLOURS: dict[str, str] = {
    "operational": "#2e7d32",
    "degraded_performance": "#8a6d00",
    "partial_outage": "#c43e00",
    "major_outage": "#b71c1c",
    "under_maintenance": "#1565c0",
    "none": "#2e7d32",
    "minor": "#8a6d00",
    "major": "#c43e00",
    "critical": "#b71c1c",
    "maintenance": "#1565c0",
}
"""Dark enough for white text at WCAG AA (4.5:1)."""


def _width(text: str) -> int:
    """Verdana 11px, roughly: shields' own estimate is per character class; this is close."""
    return 10 + sum(7 if c.isupper() or c in "mwMW" else 6 for c in text)


def render(label: str, message: str, status: str) -> str:
    colour = COLOURS.get(status, "#555")
    lw, mw = _width(label), _width(message)
    total = lw + mw
    title = escape(f"{label}: {message}")
    label_x, message_x = lw * 5, (lw + mw / 2) * 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f"aria-label={quoteattr(f'{label}: {message}')}>"
        f"<title>{title}</title>"
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        f'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{colour}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,'
        f'sans-serif" font-size="110" text-rendering="geometricPrecision">'
        f'<text x="{label_x:.0f}" y="140" transform="scale(.1)">{escape(label)}</text>'
        f'<text x="{message_x:.0f}" y="140" transform="scale(.1)">{escape(message)}</text>'
        f"</g></svg>"
    )
