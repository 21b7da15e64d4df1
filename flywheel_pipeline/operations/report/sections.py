"""The report's sections below the overview, each a function (page, conn) that reads the
marts and insight tables it shows and says so when they are not built yet."""

from __future__ import annotations

import html

import duckdb
import pandas as pd
import plotly.express as px

from flywheel_pipeline import tables
from flywheel_pipeline.insights.runs import latest_run
from flywheel_pipeline.operations.report.kpis import PERIOD_DAYS
from flywheel_pipeline.operations.report.page import (
    BAD,
    COLORS,
    MUTED,
    Page,
    chart,
    esc,
    signed_share,
)
from flywheel_pipeline.recommendations.outcomes import HORIZON_DAYS, WINDOW_DAYS

STAGES = ["stranger", "prospect", "customer", "promoter"]
# Enough to see the latest cycles; older estimates stay in the mart.
_SHOWN_ESTIMATES = 40
_SHOWN_OUTCOMES = 40
_SHOWN_RECOMMENDATIONS = 20
_OPPORTUNITY_NAMES = {
    "ctr_underperformer": "CTR under-performers",
    "striking_distance": "striking distance",
}
# Points a scatter draws per opportunity type: the largest gains; the table lists the top.
_SHOWN_OPPORTUNITY_POINTS = 300


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _percent(values: pd.Series, signed: bool = False) -> pd.Series:
    return values.map(lambda v: _signed(v) if signed else f"{v:.1%}" if pd.notna(v) else "")


def _blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as empty cells, not "NaN" or "<NA>"."""
    return frame.astype(object).where(frame.notna(), "")


def _number(value: float) -> str:
    """A number as it reads best: whole counts and large amounts with thousands separators
    (508, not 508.0; 66,262), scores to 3 significant digits (0.00957 for a CTR error,
    0.722 for an AUC)."""
    if pd.isna(value):
        return ""
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def weekly(frame: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Daily rows summed per ISO week (labelled by its Monday): a daily series over months or
    years has more points than a chart can show, and weekly reads without the weekday swing.
    Weeks the data covers in part (the first and the latest) are left out: their sums would
    read as a drop."""
    dates = pd.to_datetime(frame["date"])
    week = dates.dt.to_period("W").dt.start_time
    days = dates.groupby(week).nunique()
    full = days[days == 7].index
    frame = frame.assign(week=week)
    return frame[frame["week"].isin(full)].groupby(["week", *by], as_index=False)[values].sum()


# --- the wheel -----------------------------------------------------------------------------


def _stage_card(stage: str, total: float, now: float, before: float | None) -> str:
    change = ""
    if before:
        change = f" ({signed_share(now / before - 1)} on the {PERIOD_DAYS} days before)"
    return (
        f"<div class='stage'><div class='note'>{esc(stage.capitalize())}s so far</div>"
        f"<div class='rate'>{total:,.0f}</div>"
        f"<div class='note'>+{now:,.0f} in the last {PERIOD_DAYS} days{esc(change)}</div></div>"
    )


def _step(rate: float, earlier: float | None, leak: bool) -> str:
    change = ""
    if earlier is not None and pd.notna(earlier):
        change = f"<br>{(rate - earlier) * 100:+.2f} pts vs {PERIOD_DAYS} days ago"
    flag = " leak" if leak else ""
    label = "<br><strong>leaks most</strong>" if leak else ""
    return (
        f"<div class='step{flag}'>→<br><span class='rate'>{rate:.1%}</span>"
        f"<br>move on{change}{label}</div>"
    )


def funnel(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    """The wheel as a funnel: people per stage and the conversion between stages (next
    stage's total / this stage's total, as `flywheel.stages_daily` defines it) against 28
    days earlier; the step whose conversion fell most is where the wheel leaks."""
    stages_daily = page.section("The wheel: where it leaks", conn, "flywheel.stages_daily")
    if stages_daily is None:
        return
    days = pd.to_datetime(stages_daily["date"])
    through = days.max()
    age = (through - days).dt.days

    def on(day_age: int) -> pd.DataFrame:
        return stages_daily[age == day_age].set_index("stage").reindex(STAGES)

    latest, earlier = on(0), on(PERIOD_DAYS)
    latest["total"] = latest["total"].fillna(0)  # a stage nobody has reached yet
    entered = stages_daily.assign(age=age)
    now = entered[entered["age"] < PERIOD_DAYS].groupby("stage")["entered"].sum()
    before = entered[entered["age"].between(PERIOD_DAYS, 2 * PERIOD_DAYS - 1)]
    before = before.groupby("stage")["entered"].sum() if not before.empty else None
    rates = latest["conversion_rate_to_next"].iloc[:-1]
    drops = (rates - earlier["conversion_rate_to_next"].iloc[:-1]) / rates.where(rates > 0)
    leak = drops.idxmin() if drops.notna().any() and drops.min() < 0 else None
    parts = []
    for stage in STAGES:
        previous = before.get(stage) if before is not None else None
        parts.append(_stage_card(stage, latest.at[stage, "total"], now.get(stage, 0), previous))
        if stage != STAGES[-1] and pd.notna(rates.get(stage)):
            parts.append(
                _step(rates[stage], earlier.at[stage, "conversion_rate_to_next"], stage == leak)
            )
    page.markup("<div class='funnel'>" + "".join(parts) + "</div>")
    if earlier["conversion_rate_to_next"].isna().all():
        page.note(f"Under {PERIOD_DAYS} days of data: no earlier conversion to compare with.")
    elif leak is None:
        page.note(f"No step converts worse than {PERIOD_DAYS} days earlier.")
    weeks = weekly(stages_daily, ["stage"], ["entered"])
    if weeks.empty:
        page.note("Not a full week of data yet: no weekly chart.")
        return
    # Strangers (anonymous GA4 new users) outnumber customers by orders of magnitude.
    fig = chart(
        px.line,
        weeks,
        x="week",
        y="entered",
        color="stage",
        log_y=True,
        markers=True,
        category_orders={"stage": STAGES},
        labels={"week": "", "entered": "people entering (log scale)", "stage": "stage"},
        title="People entering each stage per week",
    )
    page.figure(fig, height=320)


def momentum(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    frame = page.section("Momentum and phase", conn, "flywheel.momentum")
    if frame is None:
        return
    months = frame[frame["period_type"] == "month"].sort_values("period_start").tail(6)
    page.table(
        pd.DataFrame(
            {
                "month": pd.to_datetime(months["period_start"]).dt.strftime("%Y-%m"),
                "new strangers": months["strangers"],
                "new prospects": months["prospects"],
                "new customers": months["customers"],
                "new promoters": months["promoters"],
                "phase": months["phase"].str.replace("_", " "),
            }
        )
    )


def loop(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    """`flywheel simulate` only: the wheel turning beside a control arm that did nothing."""
    cycles = page.read(conn, "flywheel.simulation_cycles")
    if cycles is None or cycles.empty:
        return
    page.heading("Loop: recommend, act, measure (flywheel simulate)")
    arms = cycles.sort_values(["arm", "cycle"])
    done = int(arms.loc[arms["arm"] == "treated", "recommendations_done"].sum())
    page.note(
        f"{_plural(int(arms['cycle'].max()), 'cycle')} after the history; the treated arm did "
        "the top "
        f"recommendations of each cycle ({done} in all), the control arm (same business, same "
        "random draws) did nothing."
    )
    for metric, title in (("revenue", "Revenue per cycle"), ("customers", "New customers")):
        fig = chart(
            px.line,
            arms,
            x="data_through",
            y=metric,
            color="arm",
            markers=True,
            title=title,
            labels={"data_through": "cycle ending", metric: title.lower(), "arm": "arm"},
        )
        page.figure(fig, height=300)
    lift = page.read(conn, "flywheel.simulation_lift")
    if lift is None or lift.empty:
        page.note("No outcome measured yet.")
        return
    lift = lift.assign(
        plus=lift["ci_high"] - lift["measured_lift"], minus=lift["measured_lift"] - lift["ci_low"]
    )
    fig = chart(
        px.scatter,
        lift,
        x="measured_lift",
        y="type",
        error_x="plus",
        error_x_minus="minus",
        hover_data={"outcomes": True, "plus": False, "minus": False},
        labels={"measured_lift": "lift, 95 % interval", "type": ""},
        title="Measured (pooled over the outcomes of each type) vs planted lift (x)",
    )
    planted = {"symbol": "x", "size": 12, "color": BAD}
    fig.add_scatter(
        x=lift["planted_lift"], y=lift["type"], mode="markers", name="planted", marker=planted
    )
    fig.add_vline(x=0, line_dash="dash", line_color=MUTED)
    fig.update_xaxes(tickformat=".0%")
    page.figure(fig, height=max(300, 100 + 40 * len(lift)))
    page.table(
        pd.DataFrame(
            {
                "action type": lift["type"],
                "outcomes": lift["outcomes"],
                "measured lift": _percent(lift["measured_lift"], signed=True),
                "95 % interval": [
                    f"{signed_share(low, 1)} to {signed_share(high, 1)}"
                    for low, high in zip(lift["ci_low"], lift["ci_high"], strict=True)
                ],
                "planted lift": _percent(lift["planted_lift"], signed=True),
                "intervals covering the planted lift": _percent(lift["covering_share"]),
            }
        )
    )


# --- attract --------------------------------------------------------------------------------


def channels(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    frame = page.section("Attract: sessions by channel", conn, "attract.channel_daily")
    if frame is None:
        return
    if "GA4" in page.unconfigured:  # files only: every session count would be a flat zero
        page.note(f"GA4 is not configured ({page.unconfigured['GA4']}): no sessions to show.")
        return
    if not frame["sessions"].sum():
        page.note("No sessions in the data yet (sessions come from GA4).")
        return
    weeks = weekly(frame, ["channel_group"], ["sessions"])
    if weeks.empty:
        page.note("Not a full week of data yet: no weekly chart.")
        return
    order = weeks.groupby("channel_group")["sessions"].sum().sort_values(ascending=False)
    fig = chart(
        px.area,
        weeks,
        x="week",
        y="sessions",
        color="channel_group",
        category_orders={"channel_group": list(order.index)},
        labels={"week": "", "sessions": "sessions per week", "channel_group": "channel"},
    )
    page.figure(fig, height=340)


def _search_unavailable(page: Page) -> str:
    if "Search Console" in page.unconfigured:
        return f"Search Console is not configured ({page.unconfigured['Search Console']})."
    return "No Search Console data modelled yet (ml.search_ctr_curve)."


def search_opportunities(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Attract: search opportunities")
    curve = page.read(conn, tables.SEARCH_CTR_CURVE.relation)
    found = page.read(conn, tables.SEARCH_OPPORTUNITIES.relation)
    if curve is None or curve.empty or found is None:
        page.note(_search_unavailable(page))
        return
    serving = latest_run(conn, "search_ctr_curve")
    if "serving_reason" in serving and serving["serving_reason"].notna().any():
        page.note(f"Which curve serves: {serving['serving_reason'].dropna().iloc[0]}.")
    lines = curve.melt(
        id_vars="position",
        value_vars=["expected_ctr", "prior_ctr"],
        var_name="curve",
        value_name="ctr",
    ).replace({"curve": {"expected_ctr": "this site", "prior_ctr": "public prior"}})
    # CTR falls ~50-fold from position 1 to 20: a log axis keeps page two readable.
    fig = chart(
        px.line,
        lines,
        x="position",
        y="ctr",
        color="curve",
        markers=True,
        log_y=True,
        labels={"position": "average position", "ctr": "click-through rate (log scale)"},
        title="Expected CTR by position (query-pages with opportunities as points)",
    )
    for kind, group in found.groupby("opportunity_type"):
        group = group.nlargest(_SHOWN_OPPORTUNITY_POINTS, "estimated_click_gain_28d")
        fig.add_scatter(
            x=group["avg_position"],
            y=group["ctr"].where(group["ctr"] > 0),  # a log axis cannot show 0 clicks
            mode="markers",
            name=_OPPORTUNITY_NAMES.get(str(kind), str(kind)),
            text=group["query"].map(html.escape),  # Plotly reads hover text as HTML
            hovertemplate="%{text}<br>position %{x:.1f}, CTR %{y:.2%}<extra></extra>",
        )
    fig.update_yaxes(tickformat=".1%")
    page.figure(fig)
    if found.empty:
        page.note("No query-page is below the curve or within striking distance.")
        return
    counts = found["opportunity_type"].value_counts()
    # a query-page can be both types: its larger gain counts once
    gain = found.groupby(["query", "page"])["estimated_click_gain_28d"].max().sum()
    page.note(
        f"{counts.get('ctr_underperformer', 0)} CTR under-performers (clicks well below the "
        f"site's curve: rewrite the title or snippet) and {counts.get('striking_distance', 0)} "
        "striking-distance query-pages (mean position 4-20, gain if they reached position 3 on "
        f"today's impressions, a lower bound): about "
        f"{gain:,.0f} more clicks per 28 days in all, "
        f"data through {found['data_through'].max():%Y-%m-%d}."
    )
    top = found.sort_values("estimated_click_gain_28d", ascending=False).head(15)
    page.table(
        pd.DataFrame(
            {
                "query": top["query"],
                "page": top["page"].str.replace(r"^[a-zA-Z]+://[^/]+", "", regex=True),
                "opportunity": top["opportunity_type"].str.replace("_", " "),
                "position": top["avg_position"].round(1),
                "impressions (28d)": top["impressions_28d"],
                "CTR": _percent(top["ctr"]),
                "expected CTR": _percent(top["expected_ctr"]),
                "est. extra clicks (28d)": top["estimated_click_gain_28d"].round(0).astype(int),
            }
        )
    )


# --- engage ---------------------------------------------------------------------------------


def _short_label(text: str, width: int = 60) -> str:
    """A tick label that leaves the chart room: the tables below give the whole label."""
    short = text if len(text) <= width else text[: width - 1].rstrip() + "…"
    return html.escape(short)


def _topic_table(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "topic": frame["label"],
            "last 28 days": frame["conversations_28d"],
            "28 days before": frame["conversations_prev_28d"],
            "resolved": _percent(frame["resolution_rate"]),
        }
    )


def topics(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    frame = page.section("Engage: what customers ask about", conn, "engage.conversation_topics")
    if frame is None:
        return
    top = frame.sort_values("conversations", ascending=True).tail(15)
    gap = top["is_content_gap"].fillna(False).astype(bool)
    fig = chart(
        px.bar,
        # Plotly reads tick labels as HTML: a question such as "<b>?" would vanish unescaped
        top.assign(
            label=top["label"].map(_short_label),
            answered=gap.map({True: "content gap: no page answers it", False: "answered"}),
        ),
        x="conversations",
        y="label",
        color="answered",
        color_discrete_map={"answered": COLORS[0], "content gap: no page answers it": BAD},
        orientation="h",
        labels={"conversations": "conversations so far", "label": "", "answered": ""},
        title="Topics by conversations so far",
    )
    # bars stay in volume order whatever their colour
    fig.update_yaxes(categoryorder="array", categoryarray=list(top["label"].map(_short_label)))
    page.figure(fig, height=max(300, 80 + 28 * len(top)))
    for title, rank in (("Most common", "rank_volume"), ("Fastest rising", "rank_rising")):
        if rank in frame:
            page.note(f"{title} in the last 28 days:")
            page.table(_topic_table(frame.sort_values(rank).head(5)))
    gaps = frame[frame["is_content_gap"].fillna(False).astype(bool)]
    if gaps.empty:
        page.note("No content gap: a page of the site answers every high-volume topic.")
        return
    page.note("Content gaps: no page of the site answers these topics.")
    shown = {"topic": gaps["label"], "conversations so far": gaps["conversations"]}
    if "best_page" in gaps:
        shown["closest page"] = gaps["best_page"]
    if "best_page_similarity" in gaps:
        shown["how close (0-1)"] = gaps["best_page_similarity"].round(2)
    page.table(pd.DataFrame(shown))


# --- recommendations and outcomes -----------------------------------------------------------


def recommendations(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    frame = page.section(
        "Recommendations: the full ranked list",
        conn,
        "flywheel.recommendations",
        "No recommendations yet.",
    )
    if frame is None:
        return
    top = frame.sort_values("priority").head(_SHOWN_RECOMMENDATIONS)
    units = top["impact_unit"].dropna().unique()
    shown = {
        "priority": top["priority"],
        "type": top["type"].str.replace("_", " "),
        "action": top["action"],
        "expected impact": top["expected_impact"].map(_number),
    }
    if len(units) > 1:  # one unit for all is said once, under the table
        shown["unit"] = top["impact_unit"]
    if "confidence" in top:
        shown["confidence"] = top["confidence"].map(lambda v: f"{v:.0%}" if pd.notna(v) else "")
    shown["status"] = top["status"]
    page.table(pd.DataFrame(shown))
    if len(units) == 1:
        page.note(f"Expected impact: {units[0]}.")
    if len(frame) > len(top):
        page.note(f"The {len(top)} highest-priority of {len(frame):,} recommendations.")


# Outcome metrics that are counts (with their unit), not rates: every other metric is a rate
# and reads best as a percentage.
_COUNT_METRICS = {"topic_conversations": "a day"}
_ESTIMATE_KEYS = ["type", "metric", "measured_at", "estimated_lift", "ci_low", "ci_high", "n"]


def _value(metric: str, value: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:,.2f}" if metric in _COUNT_METRICS else f"{value:.1%}"


def _before_after(metric: str, baseline: float, observed: float) -> str:
    unit = _COUNT_METRICS.get(metric)
    change = f"{_value(metric, baseline)} → {_value(metric, observed)}"
    return f"{change} {unit}" if unit else change


def _signed(value: float) -> str:
    return signed_share(value, 1) if pd.notna(value) else ""


def _with_targets(outcomes: pd.DataFrame) -> pd.DataFrame:
    # a null higher_is_better comes from an outcome table written before the column existed:
    # higher is better, as flywheel.momentum reads it
    higher = outcomes["higher_is_better"].astype("boolean").fillna(True).astype(bool)
    # the mart left-joins the recommendations: an outcome can outlive its recommendation
    target = (
        outcomes["target_type"].fillna("") + " " + outcomes["target_id"].fillna("")
    ).str.strip()
    return outcomes.assign(
        type=outcomes["type"].fillna("unknown"),
        target=target.mask(target == "", outcomes["recommendation_id"]),
        higher_is_better=higher,
        measured_at=pd.to_datetime(outcomes["measured_at"]),
    )


def outcome_estimates(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One point per estimate of flywheel.recommendation_outcomes, with ``better``,
    ``better_low`` and ``better_high``: the lift and its interval in the direction the action
    was meant to move the metric (sign flipped where lower is better), so right of zero is
    always good. A matched cohort (every lead or deal acted on the same day carries the
    cohort's estimate) is one point, not one per target."""
    rows = _with_targets(outcomes)
    points = (
        rows.groupby([*_ESTIMATE_KEYS, "higher_is_better"], dropna=False, sort=False)
        .agg(
            targets=("target", "size"),
            target=("target", "first"),
            target_type=("target_type", "first"),
            recommendations=("recommendation_id", "nunique"),
        )
        .reset_index()
    )
    cohort = points["targets"] > 1
    points["target"] = points["target"].mask(
        cohort, points["targets"].astype(str) + " " + points["target_type"].fillna("target") + "s"
    )
    sign = points["higher_is_better"].map({True: 1.0, False: -1.0})
    low, high = points["ci_low"] * sign, points["ci_high"] * sign
    points = points.assign(
        better=points["estimated_lift"] * sign,
        better_low=low.where(sign > 0, high),
        better_high=high.where(sign > 0, low),
    )
    return points.sort_values(["type", "measured_at", "target"], ignore_index=True)


def _forest(page: Page, points: pd.DataFrame) -> None:
    shown = points.sort_values("measured_at").tail(_SHOWN_ESTIMATES)
    shown = shown.sort_values(["type", "measured_at", "target"], ignore_index=True)
    # Plotly reads tick labels as HTML: a query such as "<beanie>" would vanish unescaped
    label = (
        shown["target"].str.slice(0, 40).map(html.escape)
        + shown["higher_is_better"].map({True: "", False: " ↓"})
        + " · "
        + shown["measured_at"].dt.strftime("%Y-%m-%d")
    )
    # the same target measured twice on one day would otherwise share a row of the chart
    repeat = label.groupby(label).cumcount()
    label = label.where(repeat == 0, label + " #" + (repeat + 1).astype(str))
    shown = shown.assign(
        label=label,
        lift=shown["estimated_lift"].map(_signed),
        plus=shown["better_high"] - shown["better"],
        minus=shown["better"] - shown["better_low"],
    )
    fig = chart(
        px.scatter,
        shown,
        x="better",
        y="label",
        color="type",
        error_x="plus",
        error_x_minus="minus",
        hover_data={"metric": True, "lift": True, "n": True, "plus": False, "minus": False},
        labels={
            "better": "lift in the intended direction, 95 % interval (right of 0 = better)",
            "label": "",
            "lift": "estimated lift",
            "type": "action type",
        },
        title="Estimated lift per measured recommendation (↓ lower is better: sign flipped)",
    )
    fig.add_vline(x=0, line_dash="dash", line_color=MUTED)
    # the first row at the top, the way the table reads
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(shown["label"])))
    fig.update_xaxes(tickformat=".0%")
    page.figure(fig, height=max(360, 120 + 24 * len(shown)))


def _outcome_table(rows: pd.DataFrame) -> pd.DataFrame:
    lower = rows["higher_is_better"].map({True: "", False: " (lower is better)"})
    return pd.DataFrame(
        {
            "type": rows["type"],
            "target": rows["target"],
            "metric": rows["metric"] + lower,
            "baseline → observed": [
                _before_after(*values)
                for values in zip(
                    rows["metric"], rows["baseline_value"], rows["observed_value"], strict=True
                )
            ],
            "control change": rows["control_change"].map(_signed),
            "lift [95 % CI]": [
                f"{_signed(lift)} [{_signed(low)}, {_signed(high)}]"
                for lift, low, high in zip(
                    rows["estimated_lift"], rows["ci_low"], rows["ci_high"], strict=True
                )
            ],
            "n": rows["n"],
            "method": rows["method"].str.split(":").str[0],
            "measured": rows["measured_at"].dt.strftime("%Y-%m-%d"),
        }
    )


def outcomes(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    frame = page.section(
        "Measured outcomes",
        conn,
        "flywheel.recommendation_outcomes",
        (
            "No outcomes measured yet. A recommendation marked done in the decisions folder "
            "($FLYWHEEL_LANDING_DIR/decisions/*.csv, status done) is measured against "
            "comparable untouched targets once its window after done_at has passed in the "
            f"data: {WINDOW_DAYS} days for titles, content and budget shifts, {HORIZON_DAYS} "
            "days for leads and deals (against the list's random holdout), "
            f"{2 * WINDOW_DAYS} days for re-engaged customers and referral requests."
        ),
    )
    if frame is None:
        return
    points = outcome_estimates(frame)
    better = int((points["better_low"] > 0).sum())
    worse = int((points["better_high"] < 0).sum())
    page.note(
        f"{frame['recommendation_id'].nunique()} recommendations measured in {len(points)} "
        "estimates (leads or deals acted on the same day are one matched cohort): "
        f"{better} better, {worse} worse (the 95 % interval wholly on that side of zero), "
        f"{len(points) - better - worse} inconclusive."
    )
    _forest(page, points)
    rows = _with_targets(frame).sort_values(
        ["measured_at", "type", "target"], ascending=[False, True, True]
    )
    top = rows.head(_SHOWN_OUTCOMES)
    page.table(_outcome_table(top))
    if len(rows) > len(top):
        page.note(f"The {len(top)} latest of {len(rows)} measured outcomes.")
    methods = rows.drop_duplicates("type").sort_values("type")
    for kind, method in zip(methods["type"], methods["method"], strict=True):
        page.note(f"{kind}: {method}.")


# --- models ---------------------------------------------------------------------------------


def model_runs(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    runs = page.section(
        "Model quality (holdout metric beside a naive baseline)",
        conn,
        "flywheel.model_runs",
        "No model runs yet.",
    )
    if runs is None:
        return
    latest = runs[runs["data_through"] == runs.groupby("model")["data_through"].transform("max")]
    shown = {
        "model": latest["model"],
        "metric": latest["metric"],
        "value": latest["value"].map(_number),
        "baseline": latest["baseline_value"].map(_number),
    }
    if "beats_baseline" in latest:  # null for counts and flags, which beat nothing
        shown["beats baseline"] = latest["beats_baseline"].map({True: "yes", False: "no"})
    if "served_by" in latest:
        shown["served by"] = latest["served_by"]
    page.table(_blank(pd.DataFrame(shown)))
    if "serving_reason" in latest:
        reasons = latest.dropna(subset=["serving_reason"]).drop_duplicates("model")
        for row in reasons.itertuples():
            page.note(f"{row.model}: {row.serving_reason}.")
    quality = runs[runs["metric_kind"].isin(["higher_is_better", "lower_is_better"])]
    if quality["data_through"].nunique() > 1:
        models = quality["model"].nunique()
        fig = chart(
            px.line,
            quality.sort_values("data_through"),
            x="data_through",
            y="value",
            color="metric",
            facet_col="model",
            facet_col_wrap=2,
            markers=True,
            labels={"data_through": "data through", "value": "holdout value", "metric": "metric"},
            title="Holdout quality run after run",
        )
        # metrics differ in scale (AUC near 0.7, CTR error near 0.01): one y axis per model
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
        page.figure(fig, height=max(320, 260 * ((models + 1) // 2)))


def evaluation(page: Page, conn: duckdb.DuckDBPyConnection) -> None:
    """Demo only: `flywheel evaluate` scores the published models against planted truths."""
    frame = page.read(conn, "flywheel.model_evaluation")
    if frame is None or frame.empty:
        return
    latest = frame[frame["data_through"] == frame["data_through"].max()]
    first = latest.iloc[0]
    page.heading("Demo: every model against the planted truths")
    judged = latest["passed"].dropna()
    page.note(
        f"Seed {first['seed']}, scale {first['scale']:g}, "
        f"data through {pd.Timestamp(first['data_through']):%Y-%m-%d}: "
        f"{int(judged.sum())} of {len(judged)} targets met."
    )
    shown = latest[["model", "metric", "value", "comparator", "target", "passed"]]
    page.table(
        _blank(
            shown.assign(
                passed=latest["passed"].map({True: "yes", False: "NO"}),
                value=latest["value"].map(_number),
                target=latest["target"].map(_number),
            )
        )
    )
