"""The pure SLA engine: event contract, policy, business calendars, clocks, backtest.

Nothing in this package imports Kafka, Faust or Prometheus (a test asserts it): the
live worker and the offline backtest both drive :class:`~slawatch.sla.engine.SlaEngine`
and so give the same alerts for the same events.
"""
