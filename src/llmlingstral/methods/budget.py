"""Coarse budget control: which contexts survive, in what order, at what keep rate."""

from __future__ import annotations

import ast
import operator
from typing import Sequence

import numpy as np

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv}
REORDER_CHOICES = ("original", "sort", "two_stage")


def apply_context_budget(target: float, context_budget: str) -> float:
    """``target`` adjusted by an llmlingua budget expression such as ``"+100"`` or ``"*1.5"``.

    Only numbers and + - * / are accepted: the expression is parsed, never evaluated as code.
    """
    if not isinstance(context_budget, str):
        raise TypeError(f"context_budget must be a string such as '+100' or '*1.5', "
                        f"got {type(context_budget).__name__}")
    expression = f"({target!r}){context_budget.strip()}"
    try:
        tree = ast.parse(expression, mode="eval")
        return float(_evaluate(tree.body))
    except (SyntaxError, ValueError, ZeroDivisionError) as error:
        raise ValueError(f"context_budget={context_budget!r} is not an arithmetic adjustment "
                         f"such as '+100' or '*1.5'") from error


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("unsupported expression")


def select_contexts(ranked: Sequence[int], lengths: Sequence[int], budget: float,
                    forced: Sequence[int] = (), force_number: int | None = None) -> list[int]:
    """Contexts to keep, in rank order.

    Forced contexts always stay. ``force_number`` keeps exactly the best N others;
    otherwise contexts are added in rank order until the token budget is spent
    (the context that crosses the budget is kept, so the fine pass has room to work).
    """
    forced_set = set(forced)
    kept = [i for i in ranked if i in forced_set]
    remaining = budget - sum(lengths[i] for i in kept)
    others = [i for i in ranked if i not in forced_set]
    if force_number is not None:
        return kept + others[: max(0, int(force_number))]
    for index in others:
        if remaining <= 0:
            break
        kept.append(index)
        remaining -= lengths[index]
    return kept


def reorder(kept_in_rank_order: Sequence[int], how: str) -> list[int]:
    """Order of the kept contexts in the prompt.

    ``original``: as given; ``sort``: best first; ``two_stage``: best at both ends and the
    weakest in the middle, where long-context models attend least.
    """
    if how == "original":
        return sorted(kept_in_rank_order)
    if how == "sort":
        return list(kept_in_rank_order)
    if how == "two_stage":
        ranked = list(kept_in_rank_order)
        return ranked[0::2] + ranked[1::2][::-1]
    raise ValueError(f"reorder_context must be one of {REORDER_CHOICES}, got {how!r}")


def dynamic_deltas(n_contexts: int, ratio: float) -> np.ndarray:
    """Keep-rate shifts by rank: +ratio for the best context down to -ratio for the worst."""
    if n_contexts <= 1 or ratio == 0:
        return np.zeros(n_contexts)
    return np.linspace(ratio, -ratio, n_contexts)
