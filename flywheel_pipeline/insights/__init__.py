"""Insight models (SPEC §6): pure functions over pandas frames, no Dagster, no database.

Modules:
- :mod:`.topics` — conversation topics (TF-IDF + k-means, rule-based cold start) and trends.
- :mod:`.content_gaps` — topics with high volume that no page or search query answers.
- :mod:`.lead_scoring` — P(lead becomes a customer within 90 days), calibrated, time-split.
- :mod:`.deal_scoring` — P(open deal is won): a deal-stage predictor on weekly snapshots.
- :mod:`.customer_value` — expected orders (90 days), P(alive) and 365-day CLV per customer
  ((M)BG/NBD + Gamma-Gamma by maximum likelihood).
- :mod:`.search_opportunities` — the site's CTR-by-position curve against a public prior, CTR
  under-performers and striking-distance queries with their estimated click gain.

Every model returns ``model_runs`` rows (``ml.model_runs`` in docs/contracts.md) with a naive
baseline beside each metric, and is dated by ``data_through`` (the last date in the data),
never by the wall clock.
"""
