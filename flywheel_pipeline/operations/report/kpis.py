"""The top of the report: the period's KPIs against the period before, the wheel's phase and
the five actions to take now.

The period is the last 28 days of data (the window `flywheel.momentum` judges new customers
on) against the 28 days before, read from `attract.channel_daily`; NPS is monthly in
`advocate.nps_monthly`, so it compares the latest month with the month before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from flywheel_pipeline.operations.actions import OPEN_STATUSES
from flywheel_pipeline.operations.report.page import Page, esc, signed_share

PERIOD_DAYS = 28
TOP_ACTIONS = 5
# attract.channel_daily column → card label
_CHANNEL_KPIS = {
    "sessions": "Sessions",
    "leads": "Leads",
    "customers_acquired": "New customers",
    "revenue": "Revenue (shop currency)",
}
_PHASES = {
    "accumulation": "gathering data and customers; not accelerating yet",
    "acceleration": "new customers growing, or an action proven to work",
    "self_sustaining": "accelerating week after week, and the actions taken keep working",
}


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | None
    previous: float | None
    detail: str  # what the value covers, e.g. "64 responses in 2026-09"
    kind: str = "count"  # "count", "money" or "score" (NPS: a change in points)
    missing: str = ""  # why there is no value, when there is none


def _format(value: float, kind: str) -> str:
    return f"{value:+.0f}" if kind == "score" else f"{value:,.0f}"


def _change(kpi: Kpi) -> tuple[str, str]:
    """The change against the previous period as text, and its CSS class."""
    if kpi.value is None or kpi.previous is None or pd.isna(kpi.previous):
        return "no previous period", "flat"
    if kpi.kind == "score":  # NPS runs from -100 to 100: a relative change means nothing
        delta = round(kpi.value - kpi.previous)
        text = f"{delta:+.0f} points"
    elif kpi.previous == 0:
        return ("new" if kpi.value else "no change"), ("up" if kpi.value else "flat")
    else:
        # as shown: a change that rounds to nothing is flat, not "▼ -0.0%"
        delta = round(kpi.value / kpi.previous - 1, 3) + 0.0
        text = signed_share(delta, 1)
    return text, "up" if delta > 0 else "down" if delta < 0 else "flat"


def _card(kpi: Kpi) -> str:
    if kpi.value is None:
        return (
            f"<div class='card'><div class='label'>{esc(kpi.label)}</div>"
            f"<div class='value flat'>–</div><div class='change flat'>{esc(kpi.missing)}</div>"
            "</div>"
        )
    change, trend = _change(kpi)
    arrow = {"up": "▲", "down": "▼", "flat": ""}[trend]
    return (
        f"<div class='card'><div class='label'>{esc(kpi.label)}</div>"
        f"<div class='value'>{esc(_format(kpi.value, kpi.kind))}</div>"
        f"<div class='change {trend}'>{arrow} {esc(change)}</div>"
        + (f"<div class='note'>{esc(kpi.detail)}</div>" if kpi.detail else "")
        + "</div>"
    )


def period_kpis(
    channels: pd.DataFrame | None, unconfigured: dict[str, str]
) -> tuple[list[Kpi], tuple[dt.date, dt.date] | None]:
    """Sessions, leads, new customers and revenue of the last 28 days against the 28 before,
    and the first and last day of the period the data covers."""
    if channels is None or channels.empty:
        missing = "attract.channel_daily is not built yet"
        return [
            Kpi(label, None, None, "", missing=missing) for label in _CHANNEL_KPIS.values()
        ], None
    dates = pd.to_datetime(channels["date"])
    through = dates.max()
    age = (through - dates).dt.days
    current = channels[age < PERIOD_DAYS]
    previous = channels[(age >= PERIOD_DAYS) & (age < 2 * PERIOD_DAYS)]
    # a previous window the data does not fully cover would show a growth that is not there
    covered = (through - dates.min()).days + 1 >= 2 * PERIOD_DAYS
    kpis = []
    for column, label in _CHANNEL_KPIS.items():
        if column == "sessions" and "GA4" in unconfigured:
            kpis.append(
                Kpi(label, None, None, "", missing=f"GA4 not configured ({unconfigured['GA4']})")
            )
            continue
        kpis.append(
            Kpi(
                label,
                float(current[column].sum()),
                float(previous[column].sum()) if covered else None,
                "",
                kind="money" if column == "revenue" else "count",
            )
        )
    first = max(dates.min(), through - pd.Timedelta(days=PERIOD_DAYS - 1))
    return kpis, (first.date(), through.date())


def nps_kpi(nps: pd.DataFrame | None) -> Kpi:
    if nps is None or nps.empty:
        return Kpi("NPS", None, None, "", kind="score", missing="no survey answers yet")
    months = nps.sort_values("month")
    latest = months.iloc[-1]
    previous = months.iloc[-2]["nps"] if len(months) > 1 else None
    month = pd.Timestamp(latest["month"])
    detail = f"{int(latest['responses']):,} answers in {month:%b %Y}, vs the month before"
    return Kpi("NPS", float(latest["nps"]), previous, detail, kind="score")


def _phase_reason(row: pd.Series) -> str:
    """The numbers the phase was decided on, in words (the rule: README, "How the wheel's
    phase is decided")."""
    parts = [
        f"{int(row['data_days'])} days of data",
        f"{int(row['customers_total']):,} customers so far",
    ]
    before = row.get("customers_previous_28d")
    if pd.notna(before) and before:
        growth = row["customers_28d"] / before - 1
        parts.append(
            f"{int(row['customers_28d']):,} new customers in the last 28 days vs "
            f"{int(before):,} before ({signed_share(growth)})"
        )
    proven = row.get("proven_estimates_84d")
    measured = row.get("outcome_estimates_84d")
    if pd.notna(measured) and measured:
        parts.append(
            f"{int(proven or 0)} of {int(measured)} actions measured in the last 84 days "
            "proven to work"
        )
    else:
        parts.append("no action measured in the last 84 days")
    return "; ".join(parts) + "."


def phase_markup(momentum: pd.DataFrame | None) -> str:
    if momentum is None or momentum.empty:
        return (
            "<div class='phase'><strong>Phase: unknown</strong> "
            "<span class='note'>flywheel.momentum is not built yet.</span></div>"
        )
    latest = momentum.sort_values(["period_end", "period_type"]).iloc[-1]
    phase = str(latest["phase"])
    meaning = _PHASES.get(phase, "")
    return (
        f"<div class='phase {esc(phase)}'><strong>Phase: {esc(phase.replace('_', ' '))}</strong>"
        + (f" — {esc(meaning)}" if meaning else "")
        + f"<br><span class='note'>As of {pd.Timestamp(latest['period_end']):%Y-%m-%d}: "
        f"{esc(_phase_reason(latest))}</span></div>"
    )


def _action(row: pd.Series, unit_said_once: bool) -> str:
    impact = row["expected_impact"]
    worth = "impact not estimated"
    if pd.notna(impact):
        worth = f"{impact:+,.0f}" + ("" if unit_said_once else f" {row['impact_unit']}")
    confidence = f" · confidence {row['confidence']:.0%}" if pd.notna(row.get("confidence")) else ""
    return (
        f"<li>{esc(row['action'])}<br><span class='impact'>{esc(worth)}</span>"
        f"<span class='meta'> · {esc(str(row['type']).replace('_', ' '))}{esc(confidence)}"
        f" · {esc(row['status'])} · {esc(row['recommendation_id'])}</span></li>"
    )


def top_actions_markup(recommendations: pd.DataFrame | None) -> str:
    if recommendations is None or recommendations.empty:
        return "<p class='note'>No recommendations yet.</p>"
    still_open = recommendations[recommendations["status"].isin(OPEN_STATUSES)]
    if still_open.empty:
        return "<p class='note'>No open action: every recommendation is decided.</p>"
    top = still_open.sort_values("priority").head(TOP_ACTIONS)
    units = top["impact_unit"].dropna().unique()
    # one unit for all five is said once, not after every number
    once = len(units) == 1
    items = "".join(_action(row, once) for _, row in top.iterrows())
    unit = f" Expected impact in {esc(units[0])}." if once else ""
    return (
        f"<ol class='actions'>{items}</ol><p class='note'>The {len(top)} highest-priority of "
        f"{len(still_open):,} open recommendations (proposed or accepted).{unit} The "
        "open-action CSVs in $FLYWHEEL_HOME/actions/ list who to contact.</p>"
    )


def overview(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    """How the wheel is doing, and what to do now."""
    page.heading("How the wheel is doing")
    kpis, period = period_kpis(page.read(conn, "attract.channel_daily"), page.unconfigured)
    kpis.append(nps_kpi(page.read(conn, "advocate.nps_monthly")))
    if period is not None:
        start, through = period
        days = (through - start).days + 1
        before = f", against the {PERIOD_DAYS} days before" if days == PERIOD_DAYS else ""
        page.note(f"The last {days} days of data, {start:%Y-%m-%d} to {through:%Y-%m-%d}{before}.")
    page.markup("<div class='cards'>" + "".join(_card(k) for k in kpis) + "</div>")
    page.markup(phase_markup(page.read(conn, "flywheel.momentum")))
    page.heading("Do now: the top five actions")
    page.markup(top_actions_markup(page.read(conn, "flywheel.recommendations")))
