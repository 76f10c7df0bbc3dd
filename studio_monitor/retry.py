"""Retry delays: the one backoff generator of the project.

The link reconnects with it (`link.policy` re-exports it for the machine) and the hub's agent
resends its outbox with it; it sits at the bottom beside `errors` so both may import it. Pure:
no I/O, no clock; the caller sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(
    initial: float = 0.5,
    cap: float = 30.0,
    factor: float = 2.0,
    rng: random.Random | None = None,
    *,
    fast_for_s: float = 0.0,
    floor: float = 0.0,
) -> Iterator[float]:
    """Exponential backoff with jitter that never ends, optionally after a fast phase.

    Fast phase (when `fast_for_s` > 0): while the delays given so far add up to less than
    `fast_for_s`, each delay is uniform in [initial / 2, initial]: a steady, jittered retry
    for the first seconds of an outage, when the cause is most often a restart or a blip that
    is over in a moment. Growing phase: the n-th delay is uniform in
    [floor * ceiling, ceiling] with ceiling = min(cap, initial * factor**n) (n counting from 1
    after a fast phase, from 0 without one). `floor` 0 is full jitter: spread out so a studio
    full of clients does not retry in lock step. A `floor` above 0 bounds the rate once the
    ceiling is reached (with 0.5 and a cap of 120 s: at most one attempt a minute, however
    the dice fall), at the price of less spread.
    """
    if initial <= 0 or cap < initial or factor < 1 or not 0 <= floor < 1 or fast_for_s < 0:
        raise ValueError(
            f"bad backoff parameters: initial={initial}, cap={cap}, factor={factor}, "
            f"floor={floor}, fast_for_s={fast_for_s}"
        )
    rng = rng if rng is not None else random.Random()
    waited = 0.0
    while waited < fast_for_s:
        delay = rng.uniform(initial / 2, initial)
        waited += delay
        yield delay
    ceiling = min(cap, initial * factor) if fast_for_s > 0 else initial
    while True:
        yield rng.uniform(floor * ceiling, ceiling)
        ceiling = min(cap, ceiling * factor)
