"""Inline SVG charts for the offline report: no JavaScript library, no CDN, no fonts to fetch.

Each function returns one ``<svg>`` element as text, sized by its ``viewBox`` so that it scales
with the page. Every chart carries a ``<title>`` and ``role="img"`` for screen readers and an
``id`` the browser test looks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = {"suspect": "#c0392b", "clue": "#e08e0b", "peer": "#2c6fbb", "grid": "#d9dde3",
           "text": "#24292f", "muted": "#6a737d", "amount": "#2c6fbb", "bar": "#4c8dd6"}


def _number(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.1f}"


def _frame(chart_id: str, title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def findings_by_hospital(rows: Sequence[dict], chart_id: str = "chart-findings-by-hospital",
                         limit: int = 20) -> str:
    """Horizontal stacked bars: suspects and clues per hospital (most findings first)."""
    rows = [row for row in rows if row["findings"] > 0][:limit]
    label_width, width, bar_height, gap = 130, 760, 16, 6
    height = 40 + max(len(rows), 1) * (bar_height + gap)
    maximum = max((row["findings"] for row in rows), default=1) or 1
    scale = (width - label_width - 60) / maximum
    body = [f'<text x="{label_width}" y="16" fill="{PALETTE["muted"]}">open findings per '
            f"hospital (suspect / clue)</text>"]
    if not rows:
        body.append(f'<text x="{label_width}" y="40" fill="{PALETTE["muted"]}">no findings</text>')
    for i, row in enumerate(rows):
        y = 28 + i * (bar_height + gap)
        suspects = row["suspects"]
        clues = row["findings"] - suspects
        body.append(f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end">'
                    f'{escape(str(row["hospital_id"]))}</text>')
        x = label_width
        for count, colour, label in ((suspects, PALETTE["suspect"], "suspect"),
                                     (clues, PALETTE["clue"], "clue")):
            if count:
                w = count * scale
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                            f'fill="{colour}"><title>{escape(str(row["hospital_id"]))}: '
                            f"{count} {label}</title></rect>")
                x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 12}" fill="{PALETTE["muted"]}">'
                    f'{row["findings"]}</text>')
    return _frame(chart_id, "Open findings by hospital", width, height, body)


def rate_vs_peers(rows: Sequence[dict], chart_id: str = "chart-rate-vs-peers",
                  limit: int = 20) -> str:
    """Dot plot: share of a hospital's stays with an open finding, and its level's median."""
    rows = sorted(rows, key=lambda row: (-row["flagged_rate"], str(row["hospital_id"])))[:limit]
    label_width, width, row_height = 130, 760, 20
    height = 48 + max(len(rows), 1) * row_height
    maximum = max([row["flagged_rate"] for row in rows]
                  + [row["peer_flagged_rate"] or 0 for row in rows] + [0.01])
    scale = (width - label_width - 70) / maximum
    body = [f'<text x="{label_width}" y="16" fill="{PALETTE["muted"]}">share of stays with an '
            f'open finding: ● hospital, | median of same-level peers</text>']
    for tick in range(5):
        value = maximum * tick / 4
        x = label_width + value * scale
        body.append(f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="{height - 14}" '
                    f'stroke="{PALETTE["grid"]}"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle" '
                    f'fill="{PALETTE["muted"]}">{100 * value:.1f}%</text>')
    for i, row in enumerate(rows):
        y = 34 + i * row_height
        rate = row["flagged_rate"]
        peer = row["peer_flagged_rate"] or 0.0
        above = rate > peer
        label = f'{row["hospital_id"]} ({row["hospital_level"]})'
        body.append(f'<text x="{label_width - 6}" y="{y + 4}" text-anchor="end">'
                    f"{escape(label)}</text>")
        xp = label_width + peer * scale
        body.append(f'<line x1="{xp:.1f}" y1="{y - 7}" x2="{xp:.1f}" y2="{y + 7}" '
                    f'stroke="{PALETTE["peer"]}" stroke-width="2"/>')
        xr = label_width + rate * scale
        colour = PALETTE["suspect"] if above else PALETTE["muted"]
        body.append(f'<circle cx="{xr:.1f}" cy="{y}" r="5" fill="{colour}"><title>'
                    f'{escape(str(row["hospital_id"]))}: {100 * rate:.2f}% of stays flagged, '
                    f"peer median {100 * peer:.2f}%</title></circle>")
    return _frame(chart_id, "Flagged-stay rate against same-level peers", width, height, body)


def monthly_trend(months: Sequence[str], findings: Sequence[int], amounts: Sequence[float],
                  chart_id: str = "chart-monthly-trend") -> str:
    """Bars: open findings by discharge month; line: amount at risk by month."""
    width, height, left, bottom = 760, 240, 50, 40
    n = max(len(months), 1)
    plot_w, plot_h = width - left - 60, height - bottom - 30
    step = plot_w / n
    max_f = max([*findings, 1])
    max_a = max([*amounts, 1.0])
    body = [f'<text x="{left}" y="16" fill="{PALETTE["muted"]}">open findings (bars) and amount '
            f"at risk (line) by discharge month</text>"]
    body.append(f'<line x1="{left}" y1="{30 + plot_h}" x2="{left + plot_w}" y2="{30 + plot_h}" '
                f'stroke="{PALETTE["grid"]}"/>')
    points = []
    for i, (month, count, amount) in enumerate(zip(months, findings, amounts, strict=True)):
        x = left + i * step
        h = plot_h * count / max_f
        body.append(f'<rect x="{x + step * 0.15:.1f}" y="{30 + plot_h - h:.1f}" '
                    f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE["bar"]}">'
                    f"<title>{escape(month)}: {count} findings, {amount:,.2f} at risk</title>"
                    "</rect>")
        points.append(f"{x + step / 2:.1f},{30 + plot_h - plot_h * amount / max_a:.1f}")
        if n <= 14 or i % max(1, n // 12) == 0:
            body.append(f'<text x="{x + step / 2:.1f}" y="{height - 20}" text-anchor="middle" '
                        f'fill="{PALETTE["muted"]}">{escape(month[2:])}</text>')
    if points:
        body.append(f'<polyline points="{" ".join(points)}" fill="none" '
                    f'stroke="{PALETTE["suspect"]}" stroke-width="2"/>')
    body.append(f'<text x="{left - 6}" y="36" text-anchor="end" fill="{PALETTE["muted"]}">'
                f"{_number(max_f)}</text>")
    body.append(f'<text x="{left + plot_w + 6}" y="36" fill="{PALETTE["suspect"]}">'
                f"{_number(max_a)}</text>")
    return _frame(chart_id, "Monthly trend of findings and amounts at risk", width, height, body)


def sparkline(values: Sequence[float], reference: float | None = None, width: int = 360,
              height: int = 70, label: str = "") -> str:
    """A small line of ``values`` with an optional horizontal reference (e.g. approved beds)."""
    if not values:
        return ""
    top = max(list(values) + ([reference] if reference else []) + [1.0])
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 4 - (height - 8) * v / top:.1f}"
                      for i, v in enumerate(values))
    body = [f'<polyline points="{points}" fill="none" stroke="{PALETTE["amount"]}" '
            f'stroke-width="1.5"/>']
    if reference:
        y = height - 4 - (height - 8) * reference / top
        body.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" '
                    f'stroke="{PALETTE["suspect"]}" stroke-dasharray="4 3"/>')
    return (f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
            + "".join(body) + "</svg>")


def timeline(stays: Sequence[dict], width: int = 640) -> str:
    """Bars of stays on a shared date axis (two-stay readmissions, overlapping stays)."""
    from datetime import date

    def as_date(value: object) -> date:
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])

    starts = [as_date(s["admit_date"]) for s in stays]
    ends = [as_date(s["discharge_date"]) for s in stays]
    first, last = min(starts), max(ends)
    span = max((last - first).days, 1)
    label_width, row = 230, 24
    height = 16 + row * len(stays)
    scale = (width - label_width - 10) / span
    body = []
    for i, (stay, start, end) in enumerate(zip(stays, starts, ends, strict=True)):
        y = 8 + i * row
        x = label_width + (start - first).days * scale
        w = max((end - start).days * scale, 3)
        body.append(f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end">'
                    f'{escape(str(stay.get("label", "")))}</text>')
        body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="16" '
                    f'fill="{PALETTE["suspect"] if i else PALETTE["peer"]}" opacity="0.8">'
                    f"<title>{escape(str(stay.get('label', '')))}: {start} to {end}</title></rect>")
        body.append(f'<text x="{x + w + 4:.1f}" y="{y + 12}" fill="{PALETTE["muted"]}">'
                    f"{start} → {end}</text>")
    return (f'<svg class="timeline" role="img" viewBox="0 0 {width + 170} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" font-size="11"><title>stay timeline</title>'
            + "".join(body) + "</svg>")
