"""slawatch: real-time SLA monitoring of after-sales service tickets on Kafka.

The pure SLA engine lives in :mod:`slawatch.sla` and knows nothing of Kafka; the
Faust worker (:mod:`slawatch.agents`) and the offline backtest both run it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
