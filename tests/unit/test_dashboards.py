"""The Grafana dashboards: generated JSON is committed and current, and every query is
held to the metric catalogue of docs/CONTRACTS-dev.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from slawatch.dashboards import common, generate
from slawatch.dashboards.promql import referenced_metrics, selectors

REPO = Path(__file__).resolve().parents[2]
JSON_DIR = REPO / "dashboards" / "json"
BOARDS = ("backlog", "pipeline_health", "service_quality", "sla_overview")
REQUIRED_VARIABLES = {"datasource", "priority", "department", "channel", "product_line"}
PANEL_TYPES = {"timeseries", "stat", "bargauge", "heatmap", "table", "row"}
#: Labels Prometheus adds (instance, job) and histogram buckets carry (le).
SCRAPE_LABELS = {"instance", "job", "le"}


def contract_catalogue() -> dict[str, set[str]]:
    """Metric name -> label names, read from docs/CONTRACTS-dev.md."""
    text = (REPO / "docs" / "CONTRACTS-dev.md").read_text(encoding="utf-8")
    section = text.split("## Metric names", 1)[1]
    dims = set(common.DIMENSIONS)
    catalogue: dict[str, set[str]] = {}
    for name, labels in re.findall(r"`(slawatch_[a-z_]+)(?:\{([^}]*)\})?`", section):
        names: set[str] = set()
        for part in filter(None, (p.strip() for p in labels.split(","))):
            label = part.split("=", 1)[0]
            names |= dims if label == "D" else {label}
        catalogue[name] = names
    return catalogue


def series_labels(catalogue: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every series name (histograms' _bucket/_sum/_count too) -> its labels."""
    out: dict[str, set[str]] = {}
    for name, labels in catalogue.items():
        out[name] = labels
        if name.endswith("_seconds") or name == "slawatch_satisfaction_score":
            for suffix in ("_bucket", "_sum", "_count"):
                out[name + suffix] = labels
    return out


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in generate.render_all().items()}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in generate.iter_panels(board) if p["type"] != "row"]


def test_the_four_boards_exist(boards: dict[str, dict[str, Any]]) -> None:
    assert tuple(sorted(boards)) == BOARDS


def test_committed_json_is_current(boards: dict[str, dict[str, Any]]) -> None:
    for name, text in generate.render_all().items():
        path = JSON_DIR / f"{name}.json"
        assert path.exists(), f"{path} missing: run python -m slawatch.dashboards.generate"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m slawatch.dashboards.generate and commit it"
        )
    assert sorted(p.stem for p in JSON_DIR.glob("*.json")) == list(BOARDS)


def test_check_mode_passes_on_the_repo(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0
    assert "4 dashboards up to date" in capsys.readouterr().out


def test_check_mode_fails_on_stale_missing_or_extra_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--output-dir", str(tmp_path)]) == 0
    assert generate.main(["--check", "--output-dir", str(tmp_path)]) == 0

    board = tmp_path / "backlog.json"
    board.write_text(board.read_text(encoding="utf-8").replace("Backlog", "Backlag"), "utf-8")
    (tmp_path / "sla_overview.json").unlink()
    (tmp_path / "old_board.json").write_text("{}", "utf-8")
    capsys.readouterr()
    assert generate.main(["--check", "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "backlog.json: differs" in err
    assert "sla_overview.json: missing" in err
    assert "old_board.json: no old_board.dashboard.py" in err


def test_module_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slawatch.dashboards.generate", "--check"],
        cwd=REPO / "tests",  # not the repo root: its ./slawatch would shadow the package
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_board_has_the_template_variables(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert set(variables) >= REQUIRED_VARIABLES, name
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for dim in REQUIRED_VARIABLES - {"datasource"}:
            var = variables[dim]
            assert var["query"] == f"label_values(slawatch_tickets_created_total, {dim})"
            assert var["includeAll"] and var["multi"] and var["allValue"] == ".*", (name, dim)
            assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_panel_has_a_query_on_the_datasource_variable(
    boards: dict[str, dict[str, Any]],
) -> None:
    for name, board in boards.items():
        for panel in panels(board):
            where = f"{name}: {panel['title']!r}"
            assert panel["type"] in PANEL_TYPES, where
            assert panel["targets"], f"{where} has no query"
            assert panel["datasource"] == common.DATASOURCE, where
            for target in panel["targets"]:
                assert target["expr"].strip(), where
                assert target["datasource"] == common.DATASOURCE, where
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), where


def test_panel_types_are_the_current_ones(boards: dict[str, dict[str, Any]]) -> None:
    used = {p["type"] for b in boards.values() for p in generate.iter_panels(b)}
    assert used == PANEL_TYPES  # no legacy graph/singlestat; all current types in use
    for board in boards.values():
        for panel in panels(board):
            if panel["type"] == "bargauge":
                assert "fieldOptions" not in panel["options"]  # the Grafana 6 format
                assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"]


def test_layout_fits_the_grid_and_ids_are_unique(boards: dict[str, dict[str, Any]]) -> None:
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        ids = [p["id"] for p in generate.iter_panels(board)]
        assert len(ids) == len(set(ids)), name
        for panel in generate.iter_panels(board):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (name, panel)


def test_helper_catalogue_matches_the_contract() -> None:
    assert {k: set(v) for k, v in common.METRIC_LABELS.items()} == contract_catalogue()


def test_queries_use_only_catalogue_metrics_and_their_labels(
    boards: dict[str, dict[str, Any]],
) -> None:
    known = series_labels(contract_catalogue())
    known["up"] = set()  # Prometheus' own scrape health of the worker targets
    for name, board in boards.items():
        for panel in panels(board):
            for target in panel["targets"]:
                expr = target["expr"]
                where = f"{name}: {panel['title']!r}: {expr}"
                unknown = referenced_metrics(expr) - set(known)
                assert not unknown, f"{where} uses {sorted(unknown)}, not in the catalogue"
                for metric, labels in selectors(expr):
                    extra = labels - known[metric] - SCRAPE_LABELS
                    assert not extra, f"{where}: {metric} has no label(s) {sorted(extra)}"


def test_every_catalogue_family_is_on_a_board(boards: dict[str, dict[str, Any]]) -> None:
    used = set()
    for board in boards.values():
        for panel in panels(board):
            for target in panel["targets"]:
                used |= {common.family(m) for m in referenced_metrics(target["expr"]) if m != "up"}
    # Closed tickets feed no KPI of the documents; every other metric is shown somewhere.
    assert set(contract_catalogue()) - used == {"slawatch_tickets_closed_total"}


def test_service_quality_draws_the_documents_targets(boards: dict[str, dict[str, Any]]) -> None:
    board = boards["service_quality"]

    def steps(prefix: str, kind: str) -> list[Any]:
        panel = next(p for p in panels(board) if p["title"].startswith(prefix) and p["type"] == kind)
        return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("问题解决率", "stat")[-1] == 0.9
    assert steps("服务完成及时率", "stat")[-1] == 0.95
    assert steps("一次性解决率", "stat")[-1] == 1.0
    assert steps("客户满意度", "stat")[-1] == 8
    assert steps("投诉率", "stat")[-1] == 0.05
    # The time series draw the same targets as dashed lines.
    assert steps("问题解决率", "timeseries") == [None, 0.9]
    assert steps("服务完成及时率", "timeseries") == [None, 0.95]
    assert steps("一次性解决率", "timeseries") == [None, 1.0]
    assert steps("客户满意度", "timeseries") == [None, 8]
    assert steps("投诉率", "timeseries") == [None, 0.05]
    dashed = [
        p
        for p in panels(board)
        if p["type"] == "timeseries" and p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    ]
    assert len(dashed) == 5


def test_sla_overview_has_percentiles_by_priority(boards: dict[str, dict[str, Any]]) -> None:
    exprs = [t["expr"] for p in panels(boards["sla_overview"]) for t in p["targets"]]
    for histogram in ("slawatch_response_time_seconds", "slawatch_resolution_time_seconds"):
        for q in ("0.5", "0.9", "0.99"):
            assert any(
                e.startswith(f"histogram_quantile({q}, sum by (le, priority) (rate({histogram}_bucket") for e in exprs
            ), (histogram, q)


def test_ratios_filter_both_sides_alike() -> None:
    expr = common.ratio(("slawatch_complaints_total", 'repeat="false"'), ("slawatch_tickets_created_total", ""))
    # Complaints carry priority and department only: channel etc. must not filter created.
    assert "channel" not in expr and "vendor" not in expr
    assert expr.count('department=~"$department"') == 3
    with pytest.raises(ValueError, match="has no label"):
        common.sel("slawatch_sla_breaches_total", dims=["channel"])
    with pytest.raises(KeyError, match="not in the catalogue"):
        common.sel("slawatch_made_up_total")


def test_all_queries_are_substituted() -> None:
    queries = generate.all_queries()
    assert len(queries) >= 60
    assert len(queries) == len(set(queries))
    for query in queries:
        assert "$" not in query, query
        assert query.count("(") == query.count(")"), query
    assert any('priority=~".*"' in q for q in queries)
    assert any("[5m]" in q for q in queries)  # $__rate_interval
    assert any("[1h]" in q for q in queries)  # $__range
    assert any("[1d]" in q for q in queries)  # $window's default


def test_substitute_rejects_unknown_variables() -> None:
    assert generate.substitute('x{a=~"${a}"}[$w]', {"a": ".*", "w": "5m"}) == 'x{a=~".*"}[5m]'
    with pytest.raises(KeyError, match=r"unknown template variable \$nope"):
        generate.substitute("rate(x[$nope])", {})


@pytest.mark.prometheus
def test_all_queries_parse_with_promtool(tmp_path: Path) -> None:
    """Each query becomes a recording rule: ``promtool check rules`` parses its PromQL."""
    promtool = shutil.which("promtool")
    if promtool is None:
        msg = "promtool not found: apt-get install prometheus (Debian's package ships it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    rules = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(generate.all_queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), "utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
