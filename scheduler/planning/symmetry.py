"""Interchangeable sellers: one set of variables for sellers the model cannot tell apart.

On a quiet calendar most sellers of a team have the very same candidate starts with
the very same scores (same zone and hours, no preferences, no history). With one
Boolean per (seller, start), CP-SAT then proves optimality among |class|! copies of
every plan, which made an empty month about five times slower per team than a busy
one.

Sellers are in one class when each needs one session and their candidate lists,
(start, tier 3-4 score) pairs, are equal. The model then has one Boolean per start
of the class and "at most |class| of them". That is exact, not a heuristic: every
other term of the model (no overlap, daily and weekly caps, the spread, "earlier")
reads only a session's start, and the scores are the same for every member, so a
plan of the per-seller model maps to a set of at most |class| distinct starts with
the same objective, and any such set maps back by handing its starts to the members
(all of them may take any of the starts; two sessions never share a start, since
they would overlap). `hand_out` does that deterministically: team order, earliest
start first.

Sellers who need several sessions (on different days) are left alone: a class of
them would need a per-member day constraint that the aggregate cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: A seller's candidates as the model sees them: (start, tier 3-4 score), ascending.
Signature = tuple[tuple[int, int], ...]


def interchangeable(
    candidates: Mapping[int, Signature], needs: Mapping[int, int]
) -> list[tuple[int, ...]]:
    """Classes of sellers (indices in team order; first member first) that the model
    cannot tell apart. Every seller of `candidates` is in exactly one class; a seller
    with need > 1 is always alone."""
    classes: dict[Signature | int, list[int]] = {}
    for seller in sorted(candidates):
        # A seller with several sessions to place is keyed by itself: a class of one.
        key: Signature | int = candidates[seller] if needs[seller] == 1 else seller
        classes.setdefault(key, []).append(seller)
    return [tuple(members) for members in classes.values()]


def hand_out(
    classes: Sequence[tuple[int, ...]], chosen: Mapping[int, Sequence[int]]
) -> dict[int, list[int]]:
    """Starts chosen per class (keyed by its first member) to starts per seller: the
    class's members in team order take its starts earliest first."""
    out: dict[int, list[int]] = {}
    for members in classes:
        starts = sorted(chosen.get(members[0], ()))
        if len(members) == 1:
            if starts:
                out[members[0]] = starts
            continue
        for seller, start in zip(members, starts, strict=False):
            out[seller] = [start]
    return out
