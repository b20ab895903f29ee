"""The lifecycle drawn as SVG on the server, from the machine's own declaration.

States stand in a row in the machine's order. Each move between two states is an arc:
forward moves above the row, moves back below it, and actions that keep a case where it
is (a follow-up on an appeal, a higher escalation) a loop under their state. The actions
that only record something (a note, evidence, a platform reply) change no state and are
listed beside the drawing instead. Nothing is laid out by hand: a new transition in
``domain/lifecycle.py`` appears here as it is.
"""

from __future__ import annotations

from html import escape

from api.http.routers.casebook_forms import words
from domain.lifecycle import STATES, TRANSITION_ACTIONS, TRANSITIONS

SLOT = 150
BOX_W = 124
BOX_H = 44
PAD = 16
RISE = 26
LOOP_H = 34
#: a state's box: fill, text, border; the case's own state stands out
COLOURS = ("#ffffff", "#0f172a", "#475569")
CURRENT_COLOURS = ("#1e3a8a", "#ffffff", "#1e3a8a")


def _edges() -> tuple[dict[tuple[int, int], list[str]], dict[int, list[str]]]:
    arcs: dict[tuple[int, int], list[str]] = {}
    loops: dict[int, list[str]] = {}
    for action, sources, dest in TRANSITIONS:
        if action not in TRANSITION_ACTIONS:
            continue
        for source in sources:
            a = STATES.index(source)
            if dest is None or dest == source:
                loops.setdefault(a, []).append(action)
            else:
                arcs.setdefault((a, STATES.index(dest)), []).append(action)
    return arcs, loops


def lifecycle_svg(current: str | None = None) -> str:
    arcs, loops = _edges()
    longest = max((abs(b - a) for a, b in arcs if b > a), default=1)
    longest_back = max((abs(b - a) for a, b in arcs if b < a), default=0)
    top = PAD + 0.75 * RISE * (longest + 1) + 14
    row_bottom = top + BOX_H
    below = max(0.75 * RISE * (longest_back + 1) + 14, LOOP_H + 28 if loops else 0)
    width = PAD * 2 + SLOT * len(STATES) - (SLOT - BOX_W)
    height = row_bottom + below + PAD + 10

    def left(i: int) -> float:
        return PAD + i * SLOT

    def centre(i: int) -> float:
        return left(i) + BOX_W / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lifecycle" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="lifecycle-title lifecycle-desc">',
        '<title id="lifecycle-title">Case lifecycle</title>',
        f'<desc id="lifecycle-desc">The states a case moves through, left to right: '
        f"{escape(', '.join(words(s) for s in STATES))}. "
        + (f"This case is {escape(words(current).lower())}." if current else "")
        + " The table below lists every move.</desc>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#334155"/></marker></defs>',
    ]
    labels: list[str] = []
    for (a, b), actions in sorted(arcs.items(), key=lambda item: abs(item[0][1] - item[0][0])):
        distance = abs(b - a)
        forward = b > a
        rise = RISE * (distance + 1)
        # leave and arrive a little off-centre, so arcs in and out of one box stay apart
        x1 = centre(a) + (12 if forward else -12)
        x2 = centre(b) - (12 if forward else -12)
        y = top if forward else row_bottom
        control = y - rise if forward else y + rise
        parts.append(
            f'<path d="M{x1:.0f},{y:.0f} C{x1:.0f},{control:.0f} {x2:.0f},{control:.0f} '
            f'{x2:.0f},{y:.0f}" fill="none" {_stroke(STATES[a] == current)} '
            f'marker-end="url(#arrow)" data-from="{STATES[a]}" data-to="{STATES[b]}"/>'
        )
        apex = y - 0.75 * rise - 4 if forward else y + 0.75 * rise + 13
        labels.append(_label((x1 + x2) / 2, apex, actions))
    for i, actions in sorted(loops.items()):
        x = centre(i)
        parts.append(
            f'<path d="M{x - 18:.0f},{row_bottom:.0f} C{x - 30:.0f},{row_bottom + LOOP_H:.0f} '
            f'{x + 30:.0f},{row_bottom + LOOP_H:.0f} {x + 18:.0f},{row_bottom:.0f}" fill="none" '
            f'{_stroke(STATES[i] == current)} marker-end="url(#arrow)" '
            f'data-from="{STATES[i]}" data-to="{STATES[i]}"/>'
        )
        labels.append(_label(x, row_bottom + LOOP_H + 12, actions))
    for i, state in enumerate(STATES):
        is_current = state == current
        fill, ink, stroke = CURRENT_COLOURS if is_current else COLOURS
        parts.append(
            f'<g class="state" data-state="{state}"'
            + (' data-current="true"' if is_current else "")
            + f'><rect x="{left(i):.0f}" y="{top:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{3 if is_current else 1.5}"/>'
            f'<text x="{centre(i):.0f}" y="{top + (18 if is_current else 27):.0f}" '
            f'text-anchor="middle" font-size="14" font-weight="600" fill="{ink}">'
            f"{escape(words(state))}</text>"
            + (
                f'<text x="{centre(i):.0f}" y="{top + 35:.0f}" text-anchor="middle" '
                f'font-size="11" fill="{ink}">(this case)</text>'
                if is_current
                else ""
            )
            + "</g>"
        )
    parts.extend(labels)
    parts.append("</svg>")
    return "".join(parts)


def _stroke(from_current: bool) -> str:
    """The ways out of the case's own state are drawn stronger."""
    if from_current:
        return 'stroke="#1d4ed8" stroke-width="2.6"'
    return 'stroke="#334155" stroke-width="1.4"'


def _label(x: float, y: float, actions: list[str]) -> str:
    text = escape(", ".join(words(a).lower() for a in actions))
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle" font-size="12" fill="#0f172a" '
        f'stroke="#ffffff" stroke-width="4" paint-order="stroke">{text}</text>'
    )


def transition_rows() -> list[dict[str, str]]:
    """Every move of the machine, for the table beside the drawing."""
    rows = []
    for action, sources, dest in TRANSITIONS:
        for source in sources:
            rows.append(
                {
                    "action": words(action),
                    "from": words(source),
                    "to": words(dest) if dest else f"{words(source)} (stays; recorded)",
                    "from_state": source,
                }
            )
    return rows
