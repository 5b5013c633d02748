"""Tick labels that do not overlap: staggered into rows until none touch (deterministic at a pinned size)."""

from __future__ import annotations

from matplotlib.figure import Figure


def untangle_xticklabels(fig: Figure, ax) -> None:
    """Stagger the x tick labels of `ax` into 2, 3, … rows (every k-th label one row lower) until no two overlap at
    the figure's size; labels that do not overlap stay as drawn. Deterministic: the extents come from the Agg
    renderer at the pinned size and DPI."""
    fig.draw_without_rendering()
    ticks = [t for t in ax.xaxis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()]
    if not labels_overlap([t.label1 for t in ticks]):
        return
    pad = ticks[0].get_pad()
    row = max(t.label1.get_window_extent().height for t in ticks) * 72 / fig.dpi + 2  # points
    for rows in range(2, len(ticks) + 1):
        for i, t in enumerate(ticks):
            t.set_pad(pad + row * (i % rows))
        fig.draw_without_rendering()
        if not labels_overlap([t.label1 for t in ticks]):
            return


def labels_overlap(texts) -> bool:
    """Whether any two of `texts` (drawn artists) overlap, with 2 pixels of space required between them."""
    boxes = [t.get_window_extent().expanded(1.0, 1.0).padded(1.0) for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
