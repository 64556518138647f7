"""Half-open [start, end) time spans: merge and subtract, the arithmetic behind rotas."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

Span = tuple[datetime, datetime]


def merge_overlapping(spans: Iterable[Span]) -> list[Span]:
    """Union spans that share at least one instant; spans that only touch stay apart."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def merge_all(spans: Iterable[Span]) -> list[Span]:
    """Union spans that overlap or touch: the covered set as few spans as possible."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def subtract(span: Span, cuts: list[Span]) -> list[Span]:
    """The parts of `span` outside every cut; `cuts` must be sorted and disjoint."""
    pieces: list[Span] = []
    start, end = span
    for cut_start, cut_end in cuts:
        if cut_end <= start:
            continue
        if cut_start >= end:
            break
        if cut_start > start:
            pieces.append((start, cut_start))
        start = max(start, cut_end)
        if start >= end:
            return pieces
    pieces.append((start, end))
    return pieces


def clip(span: Span, window: Span) -> Span | None:
    start, end = max(span[0], window[0]), min(span[1], window[1])
    return (start, end) if start < end else None
