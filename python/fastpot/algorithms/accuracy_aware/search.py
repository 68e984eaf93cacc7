"""The greedy reverting loop of AccuracyAwareQuantization, independent of models.

Each iteration reverts the most important remaining FakeQuantize group of the current
ranking and evaluates the result on the whole dataset. Then:

* no FakeQuantize left, or every metric within its allowed drop: stop;
* the drop of the optimised metric did not increase but is still too high, or it increased
  right after a step back (the first iteration counts as one): keep the model and revert the
  next group of the same ranking;
* it increased and ``use_prev_if_drop_increase``: go back to the previous model;
* if the optimised metric is now within its allowed drop, switch to the metric furthest from
  its own; compute a new ranking.

The decisions follow POT's ``AccuracyAwareCommon`` (including that after a step back the drop
compared against is the one of the undone step).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["SearchHooks", "SearchResult", "Step", "greedy_revert", "worst_metric"]

logger = logging.getLogger("fastpot.algorithms.accuracy_aware")


class SearchHooks(Protocol):
    """What the search needs from its caller."""

    def importance(self, state: Any, metric: str) -> list[str]:
        """Candidate FakeQuantize names of `state`, most important first."""

    def revert(self, state: Any, fake_quantize: str) -> Any:
        """Return a new state: `state` with `fake_quantize`'s group reverted."""

    def evaluate(self, state: Any) -> dict[str, float]:
        """Return the drop of every metric for `state` (full dataset)."""

    def fake_quantizes_left(self, state: Any) -> int:
        """Count the FakeQuantize nodes left in `state`."""


@dataclass
class Step:
    """One iteration of the search."""

    iteration: int
    metric: str
    fake_quantize: str
    state: Any
    drops: dict[str, float]
    action: str  # "kept", "undone", "reached", "all reverted", "kept (drop increased)"


@dataclass
class SearchResult:
    """Outcome of :func:`greedy_revert`."""

    state: Any
    drops: dict[str, float]
    reached: bool
    all_reverted: bool
    iterations: int
    hit_iteration_limit: bool
    rankings: int
    steps: list[Step] = field(default_factory=list)


def worst_metric(
    drops: Mapping[str, float], allowed: Mapping[str, float], baselines: Mapping[str, float]
) -> str:
    """Metric with the largest ``(drop - allowed) / |baseline|`` (POT's choice; last on ties)."""

    def key(name: str) -> float:
        scale = abs(baselines[name]) or 1.0
        return (drops[name] - allowed[name]) / scale

    return max(reversed(list(drops)), key=key)  # the last of equal ones, as POT


def met(drops: Mapping[str, float], allowed: Mapping[str, float]) -> bool:
    """Whether every metric is within its allowed drop."""
    return all(drops[n] <= allowed[n] for n in allowed)


def greedy_revert(
    state: Any,
    drops: dict[str, float],
    allowed: Mapping[str, float],
    baselines: Mapping[str, float],
    hooks: SearchHooks,
    *,
    max_iter_num: int,
    use_prev_if_drop_increase: bool,
    on_step: Callable[[Step], None] | None = None,
) -> SearchResult:
    """Run the greedy search from the quantized `state` whose drops are `drops`."""
    original_drops = dict(drops)
    metric = worst_metric(drops, allowed, baselines)
    logger.info("Optimizing %s metric", metric)
    drop = drops[metric]
    ranking = hooks.importance(state, metric)
    rankings = 1
    current, current_drops = state, dict(drops)
    is_step_back = True
    reached = all_reverted = False
    iteration = 0
    steps: list[Step] = []

    def record(step: Step) -> None:
        steps.append(step)
        if on_step is not None:
            on_step(step)

    while iteration < max_iter_num:
        if not ranking:
            logger.info(
                "All layers have been checked and the AccuracyAwareQuantization will not be "
                "able to achieve the required accuracy drop"
            )
            all_reverted = True
            break
        iteration += 1
        previous, previous_drops = current, current_drops
        fq = ranking.pop(0)
        current = hooks.revert(current, fq)
        current_drops = hooks.evaluate(current)
        new_drop = current_drops[metric]
        logger.info("Accuracy drop with the new quantization scope is %s", current_drops)
        if hooks.fake_quantizes_left(current) == 0:
            logger.info("Removed all FQ layers from the network!")
            all_reverted = True
            reached = met(current_drops, allowed)
            record(Step(iteration, metric, fq, current, current_drops, "all reverted"))
            break
        if met(current_drops, allowed):
            reached = True
            record(Step(iteration, metric, fq, current, current_drops, "reached"))
            break
        if allowed[metric] < new_drop <= drop or (new_drop > drop and is_step_back):
            action = "kept" if new_drop <= drop else "kept (drop increased after a step back)"
            record(Step(iteration, metric, fq, current, current_drops, action))
            is_step_back = False
            drop = new_drop
            continue
        if new_drop > drop and use_prev_if_drop_increase:
            record(Step(iteration, metric, fq, current, current_drops, "undone"))
            logger.info("Drop has increased: going back to the previous model")
            current, current_drops = previous, previous_drops
            is_step_back = True
        else:
            action = "kept" if new_drop <= drop else "kept (drop increased)"
            record(Step(iteration, metric, fq, current, current_drops, action))
        drop = new_drop
        if new_drop <= allowed[metric]:
            metric = worst_metric(current_drops, allowed, baselines)
            logger.info("Optimizing %s metric", metric)
            drop = original_drops[metric]
            is_step_back = False
        logger.info("Re-calculating node importance")
        ranking = hooks.importance(current, metric)
        rankings += 1
    hit_limit = not reached and not all_reverted and iteration >= max_iter_num
    return SearchResult(
        state=current,
        drops=current_drops,
        reached=reached,
        all_reverted=all_reverted,
        iterations=iteration,
        hit_iteration_limit=hit_limit,
        rankings=rankings,
        steps=steps,
    )


def excess(
    drops: Mapping[str, float], allowed: Mapping[str, float], baselines: Mapping[str, float]
) -> float:
    """Largest normalised excess drop of `drops` (<= 0 when every metric is met)."""
    worst = -math.inf
    for name in allowed:
        scale = abs(baselines[name]) or 1.0
        worst = max(worst, (drops[name] - allowed[name]) / scale)
    return worst
