"""``--shard K/N``: a deterministic partition of the cases, balanced by recorded cost.

The unit of partition is an export group (one framework, model and seed: every opset and
device), so a shard still builds each model once and exports all its opsets
(harness/scheduler.py). A group's cost is the sum of its cases' recorded ``seconds.total``
from earlier result files (the committed results); a case without a record costs its
framework's median (or DEFAULT_SECONDS). Groups are dealt largest first to the least
loaded shard (ties: lowest shard number; groups ordered by cost then key), which depends
only on the case set and the costs, so every shard of one run computes the same partition,
and their union is the whole run.
"""
from __future__ import annotations

import re
import statistics

from .export_stage import group_key

# Seconds per case when a framework has no record at all (cold export + OneFlow side,
# measured on 2 cores: docs/design.md §7).
DEFAULT_SECONDS = {"torch": 30.0, "tensorflow": 90.0, "paddle": 40.0, "oneflow": 60.0}
FALLBACK_SECONDS = 60.0


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


def parse(text: str) -> tuple:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ShardError(f"--shard {text!r}: use K/N with 1 <= K <= N, e.g. 1/2")
    return int(m.group(1)), int(m.group(2))


def recorded_costs(finals, mode: str = "eager") -> dict:
    """(framework, model, opset, device) -> seconds, from the final records of ``mode`` (a
    record without a mode is eager; the last one wins)."""
    costs = {}
    for rec in finals:
        if (rec.get("mode") or "eager") != mode:
            continue
        total = (rec.get("seconds") or {}).get("total")
        if isinstance(total, (int, float)) and total >= 0:
            costs[(rec.get("framework"), rec.get("model"), rec.get("opset"), rec.get("device"))] = float(total)
    return costs


def case_cost(case, costs: dict) -> float:
    exact = costs.get((case.framework, case.model, case.opset, case.device))
    if exact is not None:
        return exact
    # same model at another opset/device, then the framework's median, then the default
    same_model = [v for (f, m, _, _), v in costs.items() if f == case.framework and m == case.model]
    if same_model:
        return statistics.median(same_model)
    same_fw = [v for (f, _, _, _), v in costs.items() if f == case.framework]
    if same_fw:
        return statistics.median(same_fw)
    return DEFAULT_SECONDS.get(case.framework, FALLBACK_SECONDS)


def partition(cases, n: int, costs: dict) -> list:
    """``n`` lists of cases (each in the input order), export groups kept whole."""
    groups: dict = {}
    for case in cases:
        groups.setdefault(group_key(case), []).append(case)
    weighted = sorted(((sum(case_cost(c, costs) for c in g), key) for key, g in groups.items()),
                      key=lambda kv: (-kv[0], kv[1]))
    loads, owner = [0.0] * n, {}
    for cost, key in weighted:
        k = min(range(n), key=lambda i: (loads[i], i))
        loads[k] += cost
        owner[key] = k
    shards = [[] for _ in range(n)]
    for case in cases:
        shards[owner[group_key(case)]].append(case)
    return shards


def select_shard(cases, spec: str, costs: dict) -> list:
    k, n = parse(spec)
    return partition(cases, n, costs)[k - 1]
