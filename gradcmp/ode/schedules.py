"""Checkpoint schedules: which states of an n-step solve to keep, and what to recompute, for K slots.

A schedule is a list of actions over the states x_0..x_n (pure Python, no torch):
  ("advance", a, b)  step from x_a (stored, or the state in hand) to x_b without recording
  ("store", i)       keep the state in hand, x_i, in a slot
  ("free", i)        drop slot i
  ("reverse", a, b)  backpropagate through steps a..b-1, starting from x_a (recorded as they rerun)
The forward pass runs the actions before the first reverse and then steps on to x_n; the backward
pass runs the rest. A reverse never spans an observation time, so cotangents join only at its end.

uniform   segments of `length` steps (never across an observation): their starts are kept in the
          forward pass, and each segment is rerun once, recorded, in the backward pass. Memory:
          n / length states plus one segment's activations; recomputation: one forward solve.
binomial  Revolve (Griewank & Walther 2000): K slots (x_0 included), single steps reversed; the
          split points are chosen so the number of untaped forward steps is the minimum possible,
          `binomial_forward_steps(n, K)`. Memory: K states plus one step's activations.
"""
from math import comb

SCHEDULES = ("uniform", "binomial")


def binomial_forward_steps(n: int, slots: int) -> int:
    """The fewest forward steps (untaped; the n recorded steps of the reversal not counted) that
    reverse n steps with `slots` stored states, x_0's included: r n - C(slots + r, r - 1), r the
    least repetition number with C(slots + r, slots) >= n (Griewank & Walther, Theorem 6.1)."""
    if slots < 1:
        raise ValueError(f"checkpoints must be >= 1, got {slots}")
    r = 0
    while comb(slots + r, slots) < n:
        r += 1
    return r * n - comb(slots + r, r - 1) if r else 0


def _split(n: int, free: int) -> int:
    """Steps to advance before storing the next checkpoint, with x_a held and `free` slots left:
    minimises m + cost(n - m, free - 1) + cost(m, free), a convex function of m (binary search)."""
    cost = lambda m: m + binomial_forward_steps(n - m, free) + binomial_forward_steps(m, free + 1)  # noqa: E731
    low, high = 1, n - 1
    while low < high:
        middle = (low + high) // 2
        if cost(middle + 1) < cost(middle):
            low = middle + 1
        else:
            high = middle
    return low


def binomial(n: int, slots: int) -> list[tuple]:
    """Revolve's schedule for n steps and `slots` stored states (x_0's included)."""
    if slots < 1:
        raise ValueError(f"checkpoints must be >= 1, got {slots}")
    actions = [("store", 0)]

    def reverse(a: int, b: int, free: int) -> None:  # x_a stored, `free` more slots
        if b - a == 1:
            actions.append(("reverse", a, b))
        elif free == 0:  # no slot left: rerun from x_a for each step
            for j in range(b - 1, a - 1, -1):
                if j > a:
                    actions.append(("advance", a, j))
                actions.append(("reverse", j, j + 1))
        else:
            m = a + _split(b - a, free)
            actions.extend([("advance", a, m), ("store", m)])
            reverse(m, b, free - 1)
            actions.append(("free", m))
            reverse(a, m, free)

    reverse(0, n, slots - 1)
    return actions


def uniform(n: int, length: int, observations=()) -> list[tuple]:
    """Segments of `length` steps, cut also at every index in `observations`."""
    cuts = sorted({0, n, *range(0, n, max(1, length)), *(i for i in observations if 0 < i < n)})
    starts = cuts[:-1]
    actions = []
    for a, b in zip(starts, cuts[1:]):
        actions.append(("store", a))
        if b < n:
            actions.append(("advance", a, b))
    for a, b in reversed(list(zip(starts, cuts[1:]))):
        actions.extend([("reverse", a, b), ("free", a)])
    return actions


def make(schedule: str, n: int, checkpoints: int, observations=()) -> list[tuple]:
    """The schedule named `schedule` for n steps; checkpoints = K slots (0: round(sqrt(n)) segments
    of as many steps, the uniform default)."""
    if schedule == "binomial":
        return binomial(n, checkpoints or max(1, round(n ** 0.5)))
    if schedule != "uniform":
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    length = -(-n // checkpoints) if checkpoints else max(1, round(n ** 0.5))
    return uniform(n, length, observations)


def forward_steps(actions) -> int:
    """Untaped steps the schedule advances (the backward pass's share, plus the forward's up to
    its first reverse)."""
    return sum(action[2] - action[1] for action in actions if action[0] == "advance")


def peak_slots(actions) -> int:
    """The most states stored at once."""
    stored = peak = 0
    for action in actions:
        stored += {"store": 1, "free": -1}.get(action[0], 0)
        peak = max(peak, stored)
    return peak
