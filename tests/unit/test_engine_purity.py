"""The SLA engine is pure domain code: it must not import Kafka, Faust or Prometheus,
so the backtest runs anywhere and the live worker cannot leak transport concerns in."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "mode")


def test_sla_package_imports_no_transport_or_metrics_library() -> None:
    code = (
        "import sys, importlib, pkgutil, slawatch.sla as p\n"
        "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('slawatch.sla.' + m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
