"""Presentation of cost estimates: one environment, several side by side, or a difference.

Three formats each: `table` (aligned text for a terminal), `markdown` (a pull-request comment),
`json` (for scripts). Every figure shown is computed by codemate_tfgen.cost.model; this module only
arranges and formats them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from codemate_tfgen.cost.model import CATEGORIES, SERVICE_ORDER, Estimate, Line


def money(value: Decimal, *, sign: bool = False) -> str:
    text = f"${abs(value):,.2f}"
    if value < 0:
        return "-" + text
    return "+" + text if sign else text


def hourly(value: Decimal | None) -> str:
    """The document's way: at least three decimals, more only when the price has them, and no
    more than five (a share of Spot tasks or of scheduled hours makes endless fractions)."""
    if value is None:
        return "-"
    text = f"{value.normalize():f}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"${value:.{min(5, max(3, decimals))}f}"


def percent(part: Decimal, whole: Decimal) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "-"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [cell.rjust(width) if i in right else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in rows)]


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return [f"| {' | '.join(row)} |" for row in [header, rule, *rows]]


def _table(fmt: str, header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    return _markdown(header, rows, right) if fmt == "markdown" else _grid(header, rows, right)


def _title(estimate: Estimate) -> str:
    scenario = ", ".join(estimate.applied) if estimate.applied else "baseline"
    return f"{estimate.env}: monthly cost estimate (USD, {_n(estimate.hours)} h/month, scenario: {scenario})"


def _n(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _line_json(line: Line) -> dict[str, Any]:
    return {"category": line.category, "service": line.service, "item": line.item, "spec": line.spec,
            "hourly_usd": None if line.hourly is None else float(line.hourly),
            "monthly_usd": float(line.monthly)}


def _estimate_json(estimate: Estimate) -> dict[str, Any]:
    total = estimate.total
    return {
        "environment": estimate.env,
        "scenario": estimate.scenario,
        "optimizations": list(estimate.applied),
        "hours_per_month": float(estimate.hours),
        "lines": [_line_json(line) for line in estimate.lines],
        "categories": {
            name: {"monthly_usd": float(value), "share": float(round(value / total, 4)) if total else 0}
            for name, value in estimate.by_category().items()},
        "total_usd": float(total),
        "budget_usd": None if estimate.budget is None else float(estimate.budget),
        "budget_share": None if estimate.budget_share is None else float(round(estimate.budget_share, 4)),
        "unpriced": list(estimate.unpriced),
    }


def _unpriced(fmt: str, estimates: Sequence[Estimate]) -> list[str]:
    """What the estimates leave out, as a list; a note only one environment has names it."""
    notes: dict[str, list[str]] = {}
    for estimate in estimates:
        for note in estimate.unpriced:
            notes.setdefault(note, []).append(estimate.env)
    rows = [note if len(envs) == len(estimates) else f"{note} ({', '.join(envs)})" for note, envs in notes.items()]
    if not rows:
        return []
    return ["not priced (not in the totals):", *(f"- {row}" if fmt == "markdown" else f"  - {row}" for row in rows)]


# --- one environment ------------------------------------------------------------------------


def single(estimate: Estimate, fmt: str, baseline: Estimate | None = None) -> str:
    if fmt == "json":
        data = _estimate_json(estimate)
        if baseline is not None:
            data["baseline_total_usd"] = float(baseline.total)
        return json.dumps(data, indent=2, ensure_ascii=False)
    total = estimate.total
    rows = [[line.service, line.item, line.spec, hourly(line.hourly), money(line.monthly)]
            for line in estimate.lines]
    rows.append(["Total", "", "", "", money(total)])
    header = ["service", "line item", "spec", "hourly", "monthly"]
    out = [_heading(fmt, _title(estimate)), "", *_table(fmt, header, rows, {3, 4}), ""]
    shares = [[CATEGORIES[name], money(value), percent(value, total)]
              for name, value in estimate.by_category().items()]
    out += _table(fmt, ["category", "monthly", "share"], shares, {1, 2})
    out.append("")
    if estimate.budget is not None:
        out.append(f"budget: {money(estimate.budget)} a month; "
                   f"the estimate is {percent(total, estimate.budget)} of it")
    if baseline is not None:
        saving = baseline.total - total
        out.append(f"vs baseline: {money(baseline.total)} -> {money(total)}, saving {money(saving)} "
                   f"({percent(saving, baseline.total)})")
    out += ["", *_unpriced(fmt, [estimate])]
    return "\n".join(out).rstrip("\n")


def _heading(fmt: str, text: str) -> str:
    return f"### {text}" if fmt == "markdown" else text


# --- side by side ---------------------------------------------------------------------------


def _union(estimates: Sequence[Estimate]) -> list[tuple[str, str]]:
    keys: dict[tuple[str, str], None] = {}
    for estimate in estimates:
        keys.update(dict.fromkeys(line.key for line in estimate.lines))
    return sorted(keys, key=lambda key: SERVICE_ORDER.index(key[0]))


def side_by_side(estimates: Sequence[Estimate], fmt: str) -> str:
    total = sum((e.total for e in estimates), Decimal(0))
    # Budgets add up only when every environment has one.
    budget = None if any(e.budget is None for e in estimates) else sum((e.budget or Decimal(0) for e in estimates),
                                                                        Decimal(0))
    if fmt == "json":
        data = {"environments": [_estimate_json(e) for e in estimates], "total_usd": float(total),
                "budget_usd": None if budget is None else float(budget),
                "budget_share": None if not budget else float(round(total / budget, 4))}
        return json.dumps(data, indent=2, ensure_ascii=False)
    lookup = [{line.key: line.monthly for line in e.lines} for e in estimates]
    rows = [[service, item, *(money(m[(service, item)]) if (service, item) in m else "-" for m in lookup)]
            for service, item in _union(estimates)]
    rows.append(["Total", "", *(money(e.total) for e in estimates)])
    rows.append(["Budget", "", *("-" if e.budget is None else money(e.budget) for e in estimates)])
    rows.append(["Share of budget", "", *("-" if e.budget is None else percent(e.total, e.budget)
                                          for e in estimates)])
    shares = [[label, *(f"{money(e.by_category()[name])} ({percent(e.by_category()[name], e.total)})"
                        for e in estimates)] for name, label in CATEGORIES.items()]
    scenario = ", ".join(sorted({o for e in estimates for o in e.applied})) or "baseline"
    title = f"monthly cost estimate (USD, scenario: {scenario})"
    envs = [e.env for e in estimates]
    columns = set(range(2, 2 + len(estimates)))
    return "\n".join([_heading(fmt, title), "",
                      *_table(fmt, ["service", "line item", *envs], rows, columns), "",
                      *_table(fmt, ["category", *envs], shares, {c - 1 for c in columns}), "",
                      f"all environments: {money(total)} a month"
                      + ("" if not budget else f", {percent(total, budget)} of their budgets ({money(budget)})"),
                      "", *_unpriced(fmt, estimates)]).rstrip("\n")


# --- difference -----------------------------------------------------------------------------


def _changes(before: Estimate | None, after: Estimate) -> list[tuple[Line, Decimal, Decimal]]:
    old = {line.key: line for line in before.lines} if before else {}
    new = {line.key: line for line in after.lines}
    out = []
    for key in _union([e for e in (before, after) if e is not None]):
        was, now = old.get(key), new.get(key)
        a = was.monthly if was else Decimal(0)
        b = now.monthly if now else Decimal(0)
        shown = now or was
        assert shown is not None
        if a != b or (was and now and was.spec != now.spec):
            spec = shown.spec if not (was and now) or was.spec == now.spec else f"{was.spec} -> {now.spec}"
            out.append((Line(shown.category, shown.service, shown.item, spec, None, b - a), a, b))
    return out


def difference(pairs: Sequence[tuple[Estimate | None, Estimate]], ref: str, fmt: str) -> str:
    """Each environment's changed lines, then the delta of all of them in the last line."""
    deltas = [(after.env, after.total - (before.total if before else Decimal(0)), before)
              for before, after in pairs]
    grand = sum((d for _env, d, _b in deltas), Decimal(0))
    if fmt == "json":
        return json.dumps({"reference": ref, "environments": [_diff_json(b, a) for b, a in pairs],
                           "delta_usd": float(grand)}, indent=2, ensure_ascii=False)
    out: list[str] = []
    for before, after in pairs:
        out += [_heading(fmt, f"{after.env}: monthly cost, {ref} -> working tree"), ""]
        if before is None:
            out += [f"{after.env} has no spec at {ref}: every line is new", ""]
        changes = _changes(before, after)
        rows = [[line.service, line.item, line.spec, money(a), money(b), money(line.monthly, sign=True)]
                for line, a, b in changes]
        was = before.total if before else Decimal(0)
        rows.append(["Total", "", "", money(was), money(after.total), money(after.total - was, sign=True)])
        header = ["service", "line item", "spec", "before", "after", "delta"]
        out += [*_table(fmt, header, rows, {3, 4, 5}), ""]
    out.append(_delta_line(deltas, grand))
    return "\n".join(out)


def _delta_line(deltas: list[tuple[str, Decimal, Estimate | None]], grand: Decimal) -> str:
    if len(deltas) == 1:
        _env, delta, before = deltas[0]
        share = ""
        if before and before.total:
            share = f" ({'+' if delta > 0 else ''}{percent(delta, before.total)})"
        return f"delta: {money(delta, sign=True)} a month{share}"
    parts = ", ".join(f"{env} {money(delta, sign=True)}" for env, delta, _b in deltas)
    return f"delta: {money(grand, sign=True)} a month ({parts})"


def _diff_json(before: Estimate | None, after: Estimate) -> dict[str, Any]:
    was = before.total if before else Decimal(0)
    return {
        "environment": after.env,
        "before_total_usd": None if before is None else float(was),
        "after_total_usd": float(after.total),
        "delta_usd": float(after.total - was),
        "lines": [{"service": line.service, "item": line.item, "spec": line.spec, "before_usd": float(a),
                   "after_usd": float(b), "delta_usd": float(line.monthly)}
                  for line, a, b in _changes(before, after)],
    }
