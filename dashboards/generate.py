"""Render the ``*.dashboard.py`` definitions to Grafana JSON.

Usage::

    python -m slawatch.dashboards.generate            # write dashboards/json/<name>.json
    python -m slawatch.dashboards.generate --check    # exit 1 if the committed JSON is stale

Each ``<name>.dashboard.py`` next to this module defines a grafanalib ``dashboard``.
The JSON is committed so that Grafana provisioning (``deploy/grafana``) needs no Python.
:func:`all_queries` lists every PromQL expression of every panel with the template
variables replaced by values Prometheus accepts, for tests that evaluate them.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder

__all__ = [
    "BUILTIN_DEFAULTS",
    "DASHBOARD_DIR",
    "SUFFIX",
    "all_queries",
    "dashboard_files",
    "iter_panels",
    "load_dashboard",
    "main",
    "render",
    "render_all",
    "substitute",
]

DASHBOARD_DIR = Path(__file__).resolve().parent
SUFFIX = ".dashboard.py"

#: Grafana's global variables, replaced by fixed durations outside Grafana.
BUILTIN_DEFAULTS: dict[str, str] = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def dashboard_files(directory: Path = DASHBOARD_DIR) -> list[Path]:
    """The dashboard definitions, sorted by name."""
    return sorted(directory.glob("*" + SUFFIX))


def name_of(path: Path) -> str:
    return path.name.removesuffix(SUFFIX)


def load_dashboard(path: Path) -> Any:
    """Execute one definition file and return its ``dashboard`` object."""
    spec = importlib.util.spec_from_file_location(f"slawatch.dashboards._def_{name_of(path)}", path)
    if spec is None or spec.loader is None:
        msg = f"{path}: cannot be loaded as a Python module"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    board = getattr(module, "dashboard", None)
    if board is None:
        msg = f"{path}: defines no variable 'dashboard'; assign the grafanalib Dashboard to it"
        raise LookupError(msg)
    return board


def render(board: Any) -> str:
    """Stable JSON text of a dashboard (sorted keys, UTF-8 kept readable)."""
    data = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_all(directory: Path = DASHBOARD_DIR) -> dict[str, str]:
    """``{name: json text}`` of every definition in ``directory``."""
    return {name_of(p): render(load_dashboard(p)) for p in dashboard_files(directory)}


def iter_panels(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard's JSON, rows' nested panels included."""
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _variable_defaults(data: dict[str, Any]) -> dict[str, str]:
    values = dict(BUILTIN_DEFAULTS)
    for var in data.get("templating", {}).get("list", []):
        if var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or ".*"
        else:
            current = var.get("current", {}).get("value")
            values[var["name"]] = current if isinstance(current, str) else ".*"
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$var`` / ``${var}`` in ``expr``; an unknown variable is an error."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            msg = f"unknown template variable ${name} in {expr!r}"
            raise KeyError(msg)
        return values[name]

    return _VARIABLE.sub(repl, expr)


def all_queries(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Every panel query of every dashboard, variables replaced, without repeats.

    Dimension filters become ``.*`` (Grafana's "All"), ``$window`` its default, and
    Grafana's ``$__rate_interval``/``$__range`` the durations of :data:`BUILTIN_DEFAULTS`.
    """
    seen: dict[str, None] = {}
    for text in render_all(directory).values():
        data = json.loads(text)
        values = _variable_defaults(data)
        for panel in iter_panels(data):
            for tgt in panel.get("targets", []):
                if tgt.get("expr"):
                    seen[substitute(tgt["expr"], values)] = None
    return list(seen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slawatch.dashboards.generate",
        description="Render dashboards/*.dashboard.py to dashboards/json/<name>.json.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed JSON file is missing, stale or extra",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DASHBOARD_DIR / "json",
        help="where the JSON files go (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.output_dir
    rendered = render_all()

    if args.check:
        problems = []
        for name, text in rendered.items():
            path = out_dir / f"{name}.json"
            if not path.exists():
                problems.append(f"{path}: missing")
                continue
            current = path.read_text(encoding="utf-8")
            if current != text:
                diff = difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    str(path),
                    "generated",
                    lineterm="",
                    n=1,
                )
                problems.append(f"{path}: differs from its definition\n" + "\n".join(list(diff)[:40]))
        for path in sorted(out_dir.glob("*.json")):
            if path.stem not in rendered:
                problems.append(f"{path}: no {path.stem}{SUFFIX} defines it; delete it")
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(
                "dashboards JSON is out of date: run `python -m slawatch.dashboards.generate`"
                " and commit dashboards/json",
                file=sys.stderr,
            )
            return 1
        print(f"{len(rendered)} dashboards up to date in {out_dir}")
        return 0

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = out_dir / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
