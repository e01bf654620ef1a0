"""Inline SVG drawn on the server: no JavaScript, nothing from the internet,
and the picture is in the HTML a compliance export or screenshot captures.
Every piece of text is escaped; only numbers and our own markup go in raw."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ledger.currencies import CURRENCIES

INK, MUTED, LINE, ACCENT = "#0f172a", "#64748b", "#cbd5e1", "#0f766e"
DEBIT, CREDIT = "#b91c1c", "#047857"


def major(minor: int, currency: str) -> str:
    exp = CURRENCIES.get(currency, 2)
    sign = "−" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole:,}" + (f".{frac:0{exp}d}" if exp else "")


def signed_mu(value: int) -> str:
    return f"{'−' if value < 0 else '+'}{abs(value)} mu"


def _trunc(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _nice_step(span: float) -> float:
    raw = span / 4 or 1
    mag = 10 ** (len(str(int(raw))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def balance_chart(points: list[tuple[dt.datetime, int]], *, currency: str, width: int = 1100,
                  height: int = 240) -> SafeString:
    """Posted balance after every line, as a step line (a balance holds
    until the next posting)."""
    left, right, top, bottom = 86, 16, 14, 30
    w, h = width - left - right, height - top - bottom
    if not points:
        return mark_safe(
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="No postings yet">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}" font-size="13">'
            "No postings yet</text></svg>")
    values = [v for _, v in points]
    lo, hi = min(values + [0]), max(values + [0])
    if lo == hi:
        hi = lo + 1
    step = _nice_step(hi - lo)
    lo_t = (lo // step) * step
    hi_t = -((-hi) // step) * step
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    by_time = t1 - t0 > 0

    def x(i: int) -> float:
        if len(points) == 1:
            return left + w
        frac = (points[i][0].timestamp() - t0) / (t1 - t0) if by_time else i / (len(points) - 1)
        return left + frac * w

    def y(v: float) -> float:
        return top + h - (v - lo_t) / (hi_t - lo_t) * h

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Posted balance over time, {escape(currency)}" font-family="system-ui, sans-serif">']
    tick = lo_t
    while tick <= hi_t + step / 2:
        yy = y(tick)
        grid = 'stroke="#94a3b8"' if tick == 0 else 'stroke="#e2e8f0" stroke-dasharray="3 3"'
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{yy:.1f}" y2="{yy:.1f}" {grid} stroke-width="1"/>')
        parts.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" fill="{MUTED}">'
                     f'{escape(major(int(tick), currency))}</text>')
        tick += step
    path = [f"M{x(0):.1f},{y(values[0]):.1f}"]
    for i in range(1, len(points)):
        path.append(f"H{x(i):.1f}V{y(values[i]):.1f}")
    path.append(f"H{left + w:.1f}")
    line_d = "".join(path)
    base = y(max(lo_t, min(0, hi_t)))
    parts.append(f'<path d="{line_d}V{base:.1f}H{x(0):.1f}Z" fill="{ACCENT}" fill-opacity="0.08" stroke="none"/>')
    parts.append(f'<path d="{line_d}" fill="none" stroke="{ACCENT}" stroke-width="2" stroke-linejoin="round"/>')
    parts.append(f'<circle cx="{left + w:.1f}" cy="{y(values[-1]):.1f}" r="3.5" fill="{ACCENT}"/>')
    fmt = "%d %b %H:%M" if by_time and t1 - t0 < 3 * 86400 else "%d %b %Y"
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11" fill="{MUTED}">'
                 f'{escape(points[0][0].strftime(fmt))}</text>')
    parts.append(f'<text x="{left + w}" y="{height - 8}" text-anchor="end" font-size="11" fill="{MUTED}">'
                 f'{escape(points[-1][0].strftime(fmt))} · {len(points)} postings</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


@dataclass
class FlowNode:
    title: str
    code: str
    effect: int | None  # signed minor units on the account's balance
    note: str = ""


def _node(x: float, y: float, n: FlowNode, *, w: int = 200, h: int = 72, hub: bool = False) -> str:
    fill = "#f0fdfa" if hub else "#ffffff"
    out = [f'<g class="node"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="9" fill="{fill}" '
           f'stroke="{ACCENT if hub else LINE}" stroke-width="1.3"/>',
           f'<text x="{x + 12}" y="{y + 16}" font-size="10" fill="{MUTED}" letter-spacing=".6">'
           f'{"ENTRY" if hub else "ACCOUNT"}</text>',
           f'<text x="{x + 12}" y="{y + 33}" font-size="13.5" font-weight="600" fill="{INK}">{escape(_trunc(n.title, (w - 20) // 8))}</text>']
    if n.effect is not None:
        color = DEBIT if n.effect < 0 else CREDIT
        out.append(f'<text x="{x + 12}" y="{y + 54}" font-size="12.5" font-weight="600" fill="{color}" '
                   f'font-family="ui-monospace, monospace">{escape(signed_mu(n.effect))}</text>')
    else:
        out.append(f'<text x="{x + 12}" y="{y + 54}" font-size="12" fill="{MUTED}" '
                   f'font-family="ui-monospace, monospace">{escape(_trunc(n.note or n.code, 24))}</text>')
    out.append(f'<title>{escape(n.title)} ({escape(n.code)}){" " + escape(n.note) if n.note else ""}</title></g>')
    return "".join(out)


def _arrow(x1: float, y1: float, x2: float, y2: float, *, label: str = "", sub: str = "", strong: bool = False) -> str:
    color = ACCENT if strong else "#94a3b8"
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    out = [f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2 - 2:.1f}" y2="{y2:.1f}" stroke="{color}" '
           f'stroke-width="{2.2 if strong else 1.6}" marker-end="url(#arrow{"-strong" if strong else ""})"/>']
    if label:
        out.append(f'<text x="{mx:.1f}" y="{my - 7:.1f}" text-anchor="middle" font-size="11.5" font-weight="600" '
                   f'fill="{INK}" font-family="ui-monospace, monospace">{escape(label)}</text>')
    if sub:
        out.append(f'<text x="{mx:.1f}" y="{my + 15:.1f}" text-anchor="middle" font-size="10" fill="{MUTED}" '
                   f'font-family="ui-monospace, monospace">{escape(sub)}</text>')
    return "".join(out)


_DEFS = (f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker>'
         f'<marker id="arrow-strong" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ACCENT}"/></marker></defs>')


def entry_flow(debits: list[tuple[FlowNode, int]], credits: list[tuple[FlowNode, int]], *, hub_label: str,
               currency: str) -> SafeString:
    """One entry as a picture: money leaves the debited accounts' side and
    arrives on the credited side; each node shows the signed effect on that
    account's balance (a debit lowers a credit-normal account)."""
    nw, nh, gap = 200, 72, 16
    if len(debits) == 1 and len(credits) == 1:
        (dn, amount), (cn, _) = debits[0], credits[0]
        width, height = 2 * nw + 240, nh + 24
        parts = [f'<svg class="flow" viewBox="0 0 {width} {height}" role="img" aria-label="Ledger flow" '
                 f'font-family="system-ui, sans-serif">', _DEFS,
                 _node(8, 12, dn), _node(width - nw - 8, 12, cn),
                 _arrow(8 + nw, 12 + nh / 2, width - nw - 8, 12 + nh / 2, label=f"{amount} mu",
                        sub=f"{major(amount, currency)} {currency} · {hub_label}", strong=True), "</svg>"]
        return mark_safe("".join(parts))
    rows = max(len(debits), len(credits))
    height = rows * (nh + gap) + gap
    width = 3 * nw + 2 * 150
    hub_x, hub_y = nw + 150, height / 2 - nh / 2
    parts = [f'<svg class="flow" viewBox="0 0 {width} {height}" role="img" aria-label="Ledger flow" '
             f'font-family="system-ui, sans-serif">', _DEFS]

    def col_y(i: int, n: int) -> float:
        return height / 2 - (n * (nh + gap) - gap) / 2 + i * (nh + gap)

    for i, (node, amount) in enumerate(debits):
        y = col_y(i, len(debits))
        parts.append(_node(0, y, node))
        parts.append(_arrow(nw, y + nh / 2, hub_x, hub_y + nh / 2, label=f"{amount} mu"))
    parts.append(_node(hub_x, hub_y, FlowNode(hub_label, hub_label, None, note=currency), hub=True))
    for i, (node, amount) in enumerate(credits):
        y = col_y(i, len(credits))
        parts.append(_node(width - nw, y, node))
        parts.append(_arrow(hub_x + nw, hub_y + nh / 2, width - nw, y + nh / 2, label=f"{amount} mu"))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def movement_flow(nodes: list[FlowNode], arrows: list[tuple[int, str, bool]]) -> SafeString:
    """The seed's "Ledger flow" strip: accounts left to right, one arrow per
    entry that moved the money on, with its minor units."""
    nw, nh, gap = 190, 72, 60
    width = len(nodes) * nw + (len(nodes) - 1) * gap + 16
    height = nh + 40
    parts = [f'<svg class="flow" viewBox="0 0 {width} {height}" role="img" aria-label="Money movement" '
             f'font-family="system-ui, sans-serif">', _DEFS]
    for i, node in enumerate(nodes):
        x = 8 + i * (nw + gap)
        parts.append(_node(x, 14, node, w=nw, h=nh))
        if i < len(arrows):
            amount, sub, strong = arrows[i]
            parts.append(_arrow(x + nw, 14 + nh / 2, x + nw + gap, 14 + nh / 2, label=str(amount), sub=sub,
                                strong=strong))
    parts.append("</svg>")
    return mark_safe("".join(parts))
