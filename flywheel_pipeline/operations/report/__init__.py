"""The HTML report: one self-contained page that shows the wheel turning.

At the top what a marketer reads first — the last 28 days' KPIs against the 28 before, the
wheel's phase and the five actions to take now (`kpis.py`) — then the funnel, channels,
topics, search opportunities, measured outcomes and model quality (`sections.py`). Charts are
Plotly figures in one style with the library inlined once, so the file opens without network
(`page.py`); `asset.py` writes the file and defines the asset.
"""

from flywheel_pipeline.operations.report.asset import (
    INSIGHT_INPUTS,
    REPORT_FILE,
    SECTIONS,
    render_report,
    report_asset,
)
from flywheel_pipeline.operations.report.sections import STAGES, outcome_estimates

__all__ = [
    "INSIGHT_INPUTS",
    "REPORT_FILE",
    "SECTIONS",
    "STAGES",
    "outcome_estimates",
    "render_report",
    "report_asset",
]
