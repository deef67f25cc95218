"""Just enough PromQL reading to check which metrics and labels an expression uses.

Not a parser: it strips string literals, range/offset durations and grouping clauses,
then reads the remaining identifiers. That is sufficient for the expressions this
project writes (dashboards and rules) and lets tests hold them to the metric catalogue.
"""

from __future__ import annotations

import re

__all__ = ["KEYWORDS", "referenced_metrics", "selectors"]

#: PromQL functions, aggregations and keywords (identifiers that are not series names).
KEYWORDS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg",
        "avg_over_time",
        "bottomk",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "count",
        "count_over_time",
        "count_values",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "delta",
        "deriv",
        "exp",
        "floor",
        "group",
        "histogram_quantile",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max",
        "max_over_time",
        "min",
        "min_over_time",
        "minute",
        "month",
        "predict_linear",
        "present_over_time",
        "quantile",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev",
        "stddev_over_time",
        "stdvar",
        "stdvar_over_time",
        "sum",
        "sum_over_time",
        "time",
        "timestamp",
        "topk",
        "vector",
        "year",
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    ]
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")


def _skeleton(expr: str) -> str:
    out = _STRING.sub('""', expr)
    out = re.sub(r"\{[^}]*\}", "{}", out)
    out = re.sub(r"\[[^\]]*\]", "[]", out)
    out = re.sub(r"\boffset\s+\S+", "", out)
    return _GROUPING.sub("", out)


def referenced_metrics(expr: str) -> set[str]:
    """Series names an expression selects (``up``, ``slawatch_..._bucket``, recorded names).

    An identifier that is neither a keyword nor a known function (a misspelt function,
    a metric outside the catalogue) is returned too, so a catalogue check catches it.
    """
    return {name for name in _IDENT.findall(_skeleton(expr)) if name not in KEYWORDS}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric, {label names in its matchers})`` for each ``metric{...}`` selector."""
    return [(m.group(1), set(_MATCHER.findall(m.group(2)))) for m in _SELECTOR.finditer(expr)]
