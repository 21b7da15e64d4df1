"""Outcomes of done recommendations (SPEC §7): did the action move what it was meant to move?

:func:`measure_outcomes` returns the ``ml.recommendation_outcomes`` frame
(:data:`OUTCOME_COLUMNS`, docs/contracts.md): one row per done recommendation × metric,
measured against comparable targets that nobody acted on. One metric per action type, in one
of two designs.

**Difference in differences** (the target has a history of its own). Windows: the
``WINDOW_DAYS`` days from the done day (``done_at``'s UTC date, included) and as many days
before it. ``baseline_value`` / ``observed_value``: the target's metric in the window before /
after; ``control_change``: the relative change of the pooled controls;
``estimated_lift = observed / (baseline · (1 + control_change)) − 1``. Interval: a day
bootstrap, widened by how far untouched targets drift apart on their own (placebo DiDs of
each control against the others, :func:`._lift.between_target_variance`). On the demo without
actions (3 seeds, every topic and busy query as a would-be target, done days two weeks apart)
the intervals covered the null effect 88 % → 93 % of the time for topic volumes with the
widening, 93 % → 94 % for resolution rates and 95 % → 96 % for query CTRs.

- ``rewrite_title`` → ``query_ctr``: the query's clicks ÷ impressions (Search Console, every
  page, country and device). Controls: untouched queries whose mean position in the window
  before is within ×``POSITION_BAND`` of the target's and whose ranking moved by less than
  ``MAX_POSITION_MOVE`` between the windows — a query that moved in the ranking changed its
  CTR for that reason, not for its title.
- ``create_content`` → ``topic_conversations`` (lower is better: a help page answers the
  question before it is asked): the topic's conversations a day. Controls: every untouched
  topic.
- ``fix_content`` → ``topic_resolution_rate``: resolved ÷ conversations with a known
  resolution (what a better page is for). Controls: every untouched topic.

Topics are the current topic model's (``ml.conversation_topic_assignments``); their ids are
ordered by volume and can move when the model is retrained, which this cannot detect. A shock
to one target alone inside a window (a carrier disruption that multiplies shipping questions)
breaks the parallel trends a DiD rests on; nothing here detects that either.

**Matched cohort** (a one-off outcome: a lead converts once, a deal is won once). The
recommendations of one type done on the same day are a cohort. Each target open on that day
is expected to succeed with the probability its model gave it the day before (the
lead-scoring / deal-scoring model rerun as of that day: nothing later is read), and the
untouched open targets of the same day recalibrate that expectation within a cell (lead age
in ``LEAD_AGE_BAND_DAYS``-day bands; the deal's stage), which absorbs the season and the
model's bias. ``baseline_value``: the cohort's expected success rate without the action;
``observed_value``: its success rate; ``control_change``: the controls' observed ÷ expected −
1; ``estimated_lift = observed / baseline − 1``; interval: a bootstrap over targets. Every row
of a cohort carries the cohort's estimate (one lead converts or not: alone it says nothing).

- ``follow_up_lead`` → ``conversion_90d``: a first order between the done day and the end of
  the lead's ``HORIZON_DAYS``-day window — the event the lead score predicts.
- ``attend_deal`` → ``win_90d``: the deal closed won within ``HORIZON_DAYS`` days of the done
  day (the win probability is of an eventual win; the demo's deals all close by then).

Not measured: ``reengage_customer`` and ``ask_referral`` (a customer's purchases or a
promoter's referrals in a month are mostly zero, and their models' history is not replayed
here), and any other type.

Controls are never acted on: no recommendation of their target (same ``target_type``; for
leads and deals, neither their contact nor their deal) was accepted or done, whenever. The
bootstraps are seeded by the recommendation (or the cohort), so reruns reproduce them. A
recommendation whose window after has not ended by the last day of its source's data (or, for
a DiD, whose window before starts before the data) has no row yet; ``measured_at`` is the last
day of the window after — the wall clock is never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import as_date, stable_hash, to_utc_naive
from flywheel_pipeline.insights.deal_scoring import score_deals
from flywheel_pipeline.insights.lead_scoring import HORIZON_DAYS as LEAD_HORIZON_DAYS
from flywheel_pipeline.insights.lead_scoring import first_orders, score_leads
from flywheel_pipeline.recommendations._lift import (
    N_RESAMPLES,
    Estimate,
    between_target_variance,
    cohort_lift,
    did_lift,
)

WINDOW_DAYS = 28
# The horizon of the lead score (P(customer within 90 days of creation)); every deal of the
# demo closes within it too, so an open deal's fate is known 90 days on.
HORIZON_DAYS = LEAD_HORIZON_DAYS
POSITION_BAND = 1.5
MAX_POSITION_MOVE = 1.25
MIN_CONTROLS = 3
LEAD_AGE_BAND_DAYS = 30
LEAD_AGE_BANDS = 3

OUTCOME_COLUMNS = [
    "recommendation_id",
    "metric",
    "baseline_value",
    "observed_value",
    "control_change",
    "estimated_lift",
    "ci_low",
    "ci_high",
    "n",
    "method",
    "measured_at",
    "higher_is_better",
]

_DID_INTERVAL = "95 % interval: day bootstrap widened by the drift among untouched targets"
_COHORT_INTERVAL = "95 % interval: bootstrap over"
METRICS = {
    # type: (metric, higher_is_better, method)
    "rewrite_title": (
        "query_ctr",
        True,
        f"difference in differences: the query's CTR (clicks / impressions) in the "
        f"{WINDOW_DAYS} days from done_at vs the {WINDOW_DAYS} days before, against untouched "
        f"queries at a similar position (within ×{POSITION_BAND:g}) whose ranking moved by less "
        f"than {MAX_POSITION_MOVE - 1:.0%}; {_DID_INTERVAL}",
    ),
    "create_content": (
        "topic_conversations",
        False,
        f"difference in differences: the topic's conversations in the {WINDOW_DAYS} days from "
        f"done_at vs the {WINDOW_DAYS} days before, against every untouched topic; "
        f"{_DID_INTERVAL}",
    ),
    "fix_content": (
        "topic_resolution_rate",
        True,
        f"difference in differences: the topic's resolution rate (resolved / conversations "
        f"with a known resolution) in the {WINDOW_DAYS} days from done_at vs the "
        f"{WINDOW_DAYS} days before, against every untouched topic; {_DID_INTERVAL}",
    ),
    "follow_up_lead": (
        f"conversion_{HORIZON_DAYS}d",
        True,
        f"matched cohort: first order between done_at and the end of the lead's "
        f"{HORIZON_DAYS}-day window, leads followed up that day vs their lead score of the day "
        f"before, recalibrated on untouched open leads of the same age band; "
        f"{_COHORT_INTERVAL} leads",
    ),
    "attend_deal": (
        f"win_{HORIZON_DAYS}d",
        True,
        f"matched cohort: deals won within {HORIZON_DAYS} days of done_at, deals attended "
        f"that day vs their win probability of the day before, recalibrated on untouched "
        f"open deals in the same stage; {_COHORT_INTERVAL} deals",
    ),
}
MEASURED_TYPES = frozenset(METRICS)


def empty_outcomes() -> pd.DataFrame:
    return _frame([])


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    # explicit types: an empty frame must still write VARCHAR/DOUBLE columns, not NULL ones
    floats = ["baseline_value", "observed_value", "control_change", "estimated_lift", "ci_low",
              "ci_high"]  # fmt: skip
    return frame.astype(
        {"recommendation_id": "string", "metric": "string", "method": "string", "n": "int64",
         "measured_at": "datetime64[us]", "higher_is_better": "bool",
         **dict.fromkeys(floats, "float64")}
    ).sort_values(["recommendation_id", "metric"], ignore_index=True)  # fmt: skip


def _row(rec_id: str, rec_type: str, est: Estimate, n: int, measured_at) -> dict:
    metric, higher_is_better, method = METRICS[rec_type]
    return {
        "recommendation_id": rec_id, "metric": metric, "baseline_value": est.baseline,
        "observed_value": est.observed, "control_change": est.control_change,
        "estimated_lift": est.lift, "ci_low": est.ci_low, "ci_high": est.ci_high, "n": int(n),
        "method": method, "measured_at": pd.Timestamp(measured_at),
        "higher_is_better": higher_is_better,
    }  # fmt: skip


def _seed(*parts: object) -> int:
    return int(stable_hash(*parts), 16)


def _days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def _ended(done: pd.Timestamp, days: int, last: pd.Timestamp | None) -> bool:
    """The window of ``days`` from ``done`` has ended by ``last``, the data's last day."""
    return last is not None and done + _days(days - 1) <= last


def _measurable(done: pd.Timestamp, days: int, first: pd.Timestamp, last: pd.Timestamp) -> bool:
    """Both windows of a difference in differences lie inside the data."""
    return done - _days(days) >= first and _ended(done, days, last)


# --- who was acted on --------------------------------------------------------------------


def done_recommendations(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Recommendations with a ``done_at``, with ``done_day`` (UTC midnight) and a string
    ``target_id``."""
    recs = recommendations[recommendations["done_at"].notna()].copy()
    recs["done_day"] = to_utc_naive(recs["done_at"]).dt.normalize()
    recs["target_id"] = recs["target_id"].astype(str)
    return recs


def acted_targets(recommendations: pd.DataFrame) -> dict[str, set[str]]:
    """Target ids per target_type of every recommendation accepted or done, whenever: none of
    them may serve as a control."""
    acted = recommendations["done_at"].notna()
    if "accepted_at" in recommendations:
        acted |= recommendations["accepted_at"].notna()
    frame = recommendations[acted]
    return {
        str(kind): set(group["target_id"].astype(str))
        for kind, group in frame.groupby("target_type")
    }


# --- difference in differences -------------------------------------------------------------


def _window(daily: pd.DataFrame, done: pd.Timestamp) -> pd.DataFrame:
    """Rows of the two windows around ``done``, with ``after`` (in the window from done)."""
    start, stop = done - _days(WINDOW_DAYS), done + _days(WINDOW_DAYS)
    rows = daily[(daily["day"] >= start) & (daily["day"] < stop)]
    return rows.assign(after=rows["day"] >= done)


def _did_windows(
    window: pd.DataFrame, target: str, controls: set[str], done: pd.Timestamp, *, counts: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-day ``[target num, den, control num, den]`` of the windows before and after
    ``done``; a count has denominator 1 a day."""
    span = pd.date_range(done - _days(WINDOW_DAYS), periods=2 * WINDOW_DAYS, freq="D")

    def per_day(mask: pd.Series) -> pd.DataFrame:
        return window[mask].groupby("day")[["num", "den"]].sum().reindex(span, fill_value=0)

    target_days = per_day(window["unit"] == target)
    control_days = per_day(window["unit"].isin(controls))
    if counts:
        target_days["den"] = control_days["den"] = 1.0
    panel = np.column_stack([target_days["num"], target_days["den"], control_days["num"],
                             control_days["den"]]).astype(float)  # fmt: skip
    return panel[:WINDOW_DAYS], panel[WINDOW_DAYS:]


def _control_days(
    window: pd.DataFrame, controls: set[str], done: pd.Timestamp, *, counts: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Days × controls × ``[num, den]`` of the windows before and after ``done``."""
    span = pd.date_range(done - _days(WINDOW_DAYS), periods=2 * WINDOW_DAYS, freq="D")
    rows = window[window["unit"].isin(controls)]
    units = sorted(controls)
    num, den = (
        rows.pivot_table(index="day", columns="unit", values=column, aggfunc="sum")
        .reindex(index=span, columns=units)
        .fillna(0.0)
        .to_numpy(dtype=float)
        for column in ("num", "den")
    )
    cube = np.stack([num, np.ones_like(den) if counts else den], axis=-1)
    return cube[:WINDOW_DAYS], cube[WINDOW_DAYS:]


def _did_outcome(
    rec, daily: pd.DataFrame, controls: list[str], *, counts: bool, n_resamples: int
) -> dict | None:
    if len(controls) < MIN_CONTROLS:
        return None
    window, controls = _window(daily, rec.done_day), set(controls)
    before, after = _did_windows(window, rec.target_id, controls, rec.done_day, counts=counts)
    b, a = before.sum(axis=0), after.sum(axis=0)
    # no baseline (or no denominator after) for the target or the controls: nothing to compare
    if b[0] <= 0 or b[1] <= 0 or a[1] <= 0 or b[2] <= 0 or b[3] <= 0 or a[3] <= 0:
        return None
    est = did_lift(
        before, after,
        seed=_seed(rec.recommendation_id, rec.type),
        between_var=between_target_variance(
            *_control_days(window, controls, rec.done_day, counts=counts),
            seed=_seed(rec.recommendation_id, "placebo"),
        ),
        n_resamples=n_resamples,
    )  # fmt: skip
    measured_at = rec.done_day + _days(WINDOW_DAYS - 1)
    return _row(rec.recommendation_id, rec.type, est, 1 + len(controls), measured_at)


def query_days(search: pd.DataFrame) -> pd.DataFrame:
    """Search rows (report_date, search_query, clicks, impressions, avg_position; any grain
    finer than date × query) → day, unit (the query), num (clicks), den (impressions),
    position_weight (position × impressions)."""
    s = search.assign(
        day=pd.to_datetime(search["report_date"]).dt.normalize(),
        position_weight=search["avg_position"] * search["impressions"],
    )
    daily = s.groupby(["day", "search_query"], as_index=False)[
        ["clicks", "impressions", "position_weight"]
    ].sum()
    return daily.rename(columns={"search_query": "unit", "clicks": "num", "impressions": "den"})


def _comparable_queries(
    daily: pd.DataFrame, target: str, done: pd.Timestamp, acted: set[str]
) -> list[str]:
    """Untouched queries at a similar position before ``done`` whose ranking held."""
    window = _window(daily, done)
    per = window.groupby(["unit", "after"])[["den", "position_weight"]].sum()
    position = (per["position_weight"] / per["den"].where(per["den"] > 0)).unstack()
    position = position.reindex(columns=[False, True]).dropna()
    if target not in position.index:
        return []
    at = position.loc[target, False]
    before, after = position[False], position[True]
    similar = (before >= at / POSITION_BAND) & (before <= at * POSITION_BAND)
    held = np.abs(np.log(after / before)) < np.log(MAX_POSITION_MOVE)
    keep = position.index[similar & held]
    return sorted(q for q in keep if q != target and q not in acted)


def measure_titles(
    done: pd.DataFrame, acted: set[str], search: pd.DataFrame, *, n_resamples: int = N_RESAMPLES
) -> list[dict]:
    """``query_ctr`` outcomes of done ``rewrite_title`` recommendations (target: query text)."""
    if done.empty or search is None or search.empty:
        return []
    daily = query_days(search)
    first, last = daily["day"].min(), daily["day"].max()
    rows = []
    for rec in done.itertuples(index=False):
        if not _measurable(rec.done_day, WINDOW_DAYS, first, last):
            continue
        controls = _comparable_queries(daily, rec.target_id, rec.done_day, acted)
        row = _did_outcome(rec, daily, controls, counts=False, n_resamples=n_resamples)
        rows += [row] if row else []
    return rows


def topic_days(conversations: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Conversations (conversation_id, started_at, resolved) with their topic → day, unit
    (topic id as text), conversations, resolved, known (resolution known)."""
    # a conversation no topic fits (topic_id null) is no topic's: not a control unit either
    assigned = assignments.loc[assignments["topic_id"].notna(), ["conversation_id", "topic_id"]]
    c = conversations[["conversation_id", "started_at", "resolved"]].merge(
        assigned, on="conversation_id"
    )
    resolved = c["resolved"].astype("boolean")
    c = c.assign(
        day=to_utc_naive(c["started_at"]).dt.normalize(),
        unit=c["topic_id"].astype(str),
        conversations=1,
        resolved=resolved.fillna(False).astype(int),
        known=resolved.notna().astype(int),
    )
    return c.groupby(["day", "unit"], as_index=False)[["conversations", "resolved", "known"]].sum()


def measure_topics(
    done: pd.DataFrame,
    acted: set[str],
    conversations: pd.DataFrame,
    assignments: pd.DataFrame,
    *,
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """``topic_conversations`` (create_content) and ``topic_resolution_rate`` (fix_content)
    outcomes (target: topic_id)."""
    if done.empty or conversations is None or assignments is None or conversations.empty:
        return []
    days = topic_days(conversations, assignments)
    if days.empty:
        return []
    first, last = days["day"].min(), days["day"].max()
    volume = days.rename(columns={"conversations": "num"}).assign(den=1)
    resolution = days.rename(columns={"resolved": "num", "known": "den"})
    topics = sorted(set(days["unit"]) - acted)
    rows = []
    for rec in done.itertuples(index=False):
        if not _measurable(rec.done_day, WINDOW_DAYS, first, last):
            continue
        controls = [t for t in topics if t != rec.target_id]
        counts = rec.type == "create_content"
        daily = volume if counts else resolution
        row = _did_outcome(rec, daily, controls, counts=counts, n_resamples=n_resamples)
        rows += [row] if row else []
    return rows


# --- matched cohorts ------------------------------------------------------------------------


def _cohort_rows(
    cohort: pd.DataFrame, units: pd.DataFrame, untouched: pd.Series, *, n_resamples: int
) -> list[dict]:
    """``units`` (index target id): outcome, expected, cell of every target open on the
    cohort's day; ``untouched`` marks the controls."""
    treated_ids = sorted(set(cohort["target_id"]) & set(units.index))
    controls = units[untouched.reindex(units.index, fill_value=False)]
    if not treated_ids or len(controls) < MIN_CONTROLS or controls["expected"].sum() <= 0:
        return []
    treated = units.loc[treated_ids]
    day, rec_type = cohort["done_day"].iloc[0], cohort["type"].iloc[0]
    columns = ["outcome", "expected", "cell"]
    est = cohort_lift(
        tuple(treated[c].to_numpy() for c in columns),
        tuple(controls[c].to_numpy() for c in columns),
        seed=_seed(rec_type, day.date().isoformat()),
        n_resamples=n_resamples,
    )
    measured_at = day + _days(HORIZON_DAYS - 1)
    n = len(treated) + len(controls)
    return [
        _row(rec.recommendation_id, rec_type, est, n, measured_at)
        for rec in cohort.itertuples(index=False)
        if rec.target_id in units.index
    ]


def _crm_last_day(*frames_and_columns: tuple[pd.DataFrame | None, str]) -> pd.Timestamp | None:
    stamps = [
        to_utc_naive(frame[column]).max()
        for frame, column in frames_and_columns
        if frame is not None and column in frame and len(frame)
    ]
    stamps = [s for s in stamps if pd.notna(s)]
    return max(stamps).normalize() if stamps else None


def lead_units(
    day: pd.Timestamp,
    contacts: pd.DataFrame,
    conversations: pd.DataFrame | None,
    orders: pd.DataFrame | None,
) -> pd.DataFrame:
    """Leads open on ``day`` with a positive lead score as of the day before: outcome (first
    order from ``day`` to the end of the lead's HORIZON_DAYS, what the score predicts),
    expected (the score), cell (age band)."""
    as_of = as_date(day - _days(1))
    scores = score_leads(contacts, conversations, orders, data_through=as_of).lead_scores
    scores = scores[scores["lead_score"] > 0].set_index("contact_id")
    first = first_orders(orders) if orders is not None else pd.Series(dtype="datetime64[ns]")
    first = first.reindex(scores.index)
    created = contacts.drop_duplicates("contact_id").set_index("contact_id")["created_at"]
    created = to_utc_naive(created).reindex(scores.index)
    age = (day - created).dt.days
    return pd.DataFrame(
        {
            "outcome": ((first >= day) & (first < created + _days(HORIZON_DAYS))).astype(int),
            "expected": scores["lead_score"].astype(float),
            "cell": (age // LEAD_AGE_BAND_DAYS).clip(0, LEAD_AGE_BANDS - 1).fillna(0).astype(int),
        },
        index=scores.index,
    )


def measure_leads(
    done: pd.DataFrame,
    acted_contacts: set[str],
    contacts: pd.DataFrame | None,
    conversations: pd.DataFrame | None,
    orders: pd.DataFrame | None,
    *,
    acted_deal_contacts: set[str] = frozenset(),
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """``conversion_90d`` outcomes of done ``follow_up_lead`` recommendations (target:
    contact_id), one cohort per done day."""
    if done.empty or contacts is None or contacts.empty:
        return []
    last = _crm_last_day((contacts, "created_at"), (orders, "ordered_at"))
    excluded = acted_contacts | set(acted_deal_contacts)
    rows = []
    for day, cohort in done.groupby("done_day"):
        if not _ended(day, HORIZON_DAYS, last):
            continue
        units = lead_units(day, contacts, conversations, orders)
        untouched = pd.Series(~units.index.isin(list(excluded)), index=units.index)
        rows += _cohort_rows(cohort, units, untouched, n_resamples=n_resamples)
    return rows


def _stage_on(day: pd.Timestamp, deals: pd.DataFrame, history: pd.DataFrame | None) -> pd.Series:
    """Stage of every deal just before ``day`` from the stage history ("unknown" where it has
    none)."""
    if history is None or history.empty:
        return pd.Series("unknown", index=deals["deal_id"])
    h = history.assign(entered_at=to_utc_naive(history["entered_at"]))
    h = h[h["entered_at"] < day].sort_values(["deal_id", "entered_at"])
    return h.groupby("deal_id")["stage"].last().reindex(deals["deal_id"]).fillna("unknown")


def deal_units(
    day: pd.Timestamp,
    deals: pd.DataFrame,
    stage_history: pd.DataFrame | None,
    contacts: pd.DataFrame | None,
    conversations: pd.DataFrame | None,
) -> pd.DataFrame:
    """Deals open on ``day`` scored as of the day before: outcome (won within HORIZON_DAYS),
    expected (win probability), cell (stage), contact_id."""
    as_of = as_date(day - _days(1))
    scores = score_deals(deals, stage_history, contacts, conversations, data_through=as_of)
    scores = scores.deal_scores.set_index("deal_id")["win_probability"].dropna()
    d = deals.drop_duplicates("deal_id").set_index("deal_id").reindex(scores.index)
    closed = to_utc_naive(d["closed_at"])
    won = d["is_won"].astype("boolean").fillna(False).astype(bool)
    in_window = (closed >= day) & (closed < day + _days(HORIZON_DAYS))
    stage = _stage_on(day, deals, stage_history).reindex(scores.index)
    return pd.DataFrame(
        {
            "outcome": (won & in_window).astype(int),
            "expected": scores.astype(float),
            "cell": stage.astype(str),
            "contact_id": d["contact_id"].astype(str),
        },
        index=scores.index,
    )


def measure_deals(
    done: pd.DataFrame,
    acted_deals: set[str],
    deals: pd.DataFrame | None,
    stage_history: pd.DataFrame | None,
    *,
    acted_contacts: set[str] = frozenset(),
    contacts: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """``win_90d`` outcomes of done ``attend_deal`` recommendations (target: deal_id), one
    cohort per done day."""
    if done.empty or deals is None or deals.empty:
        return []
    last = _crm_last_day((deals, "created_at"), (deals, "closed_at"), (stage_history, "entered_at"))
    rows = []
    for day, cohort in done.groupby("done_day"):
        if not _ended(day, HORIZON_DAYS, last):
            continue
        units = deal_units(day, deals, stage_history, contacts, conversations)
        untouched = ~units.index.isin(list(acted_deals)) & ~units["contact_id"].isin(
            list(acted_contacts)
        )
        rows += _cohort_rows(cohort, units, untouched, n_resamples=n_resamples)
    return rows


# --- everything -----------------------------------------------------------------------------


def measure_outcomes(
    recommendations: pd.DataFrame | None,
    *,
    search: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    assignments: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    deals: pd.DataFrame | None = None,
    stage_history: pd.DataFrame | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """The ``ml.recommendation_outcomes`` frame (see the module docstring).

    ``recommendations``: recommendation_id, type, target_type, target_id, done_at,
    accepted_at (optional) — as in flywheel.recommendations. Inputs, each optional (a type
    whose inputs are missing measures nothing):
    - ``search``: report_date, search_query, clicks, impressions, avg_position
      (intermediate.int_search__query_pages_daily, any grain down to date × query);
    - ``conversations``: conversation_id, started_at, resolved, contact_id;
      ``assignments``: conversation_id, topic_id (ml.conversation_topic_assignments);
    - ``contacts`` (staging.stg_crm__contacts, the lead-scoring features), ``orders``
      (contact_id, ordered_at);
    - ``deals`` (staging.stg_crm__deals), ``stage_history`` (deal_id, stage, entered_at).
    """
    if recommendations is None or recommendations.empty:
        return empty_outcomes()
    done = done_recommendations(recommendations)
    done = done[done["type"].isin(MEASURED_TYPES)]
    if done.empty:
        return empty_outcomes()
    acted = acted_targets(recommendations)
    contact_ids = acted.get("contact", set())
    deal_contacts = set()
    if deals is not None and len(deals):
        attended = deals["deal_id"].astype(str).isin(acted.get("deal", set()))
        deal_contacts = set(deals.loc[attended, "contact_id"].dropna().astype(str))
    of = {t: done[done["type"] == t] for t in MEASURED_TYPES}
    rows = measure_titles(of["rewrite_title"], acted.get("query", set()), search,
                          n_resamples=n_resamples)  # fmt: skip
    rows += measure_topics(
        pd.concat([of["create_content"], of["fix_content"]]), acted.get("topic", set()),
        conversations, assignments, n_resamples=n_resamples,
    )  # fmt: skip
    rows += measure_leads(
        of["follow_up_lead"], contact_ids, contacts, conversations, orders,
        acted_deal_contacts=deal_contacts, n_resamples=n_resamples,
    )  # fmt: skip
    rows += measure_deals(
        of["attend_deal"], acted.get("deal", set()), deals, stage_history,
        acted_contacts=contact_ids, contacts=contacts, conversations=conversations,
        n_resamples=n_resamples,
    )  # fmt: skip
    return _frame(rows)
