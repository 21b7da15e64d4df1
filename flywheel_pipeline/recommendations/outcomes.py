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
breaks the parallel trends a DiD rests on. A pre-trend check sees such a shock when it starts
inside the window before: a placebo DiD of the later half of that window (14 days) against its
earlier half, with its own 95 % interval (day bootstrap widened by the between-target variance
of the controls over the same halves); when that interval lies wholly beyond ±10 % (above
+10 % or below 1/1.1 − 1, :func:`._lift.pre_trends_diverge`), the recommendation is refused:
it has no row. On synthetic panels (tests/test_lift_estimators.py: a target and 10 controls,
common day shocks, a random walk of every target's level; 1,000 seeds) it refused 0.4 % of
topic volumes and 0.1 % of query CTRs that drifted like their controls (2.5 % and 1 % with 5–7×
less data), and 96 % / 99.7 % of those that doubled from 10–18 days before the done day on
(about half from 6 or 20 days before). On the demo without actions (3 seeds, every topic and
the 30 busiest queries, done days two weeks apart) it refused 2.4 % of topic volumes, 0.9 % of
resolution rates and 1.0 % of query CTRs. A shock that starts in the last days before the done
day, or after it, looks like the action's effect: nothing here detects that.

**Randomised holdout** (the list recommendations of :mod:`.lists`: ``follow_up_lead``,
``attend_deal``, ``reengage_customer``, ``ask_referral``). When a list is proposed, a random
``FLYWHEEL_HOLDOUT_SHARE`` of its members is drawn into a holdout (seeded by the
recommendation id) and recorded in ``ml.recommendation_targets``; nobody acts on them, and
they are never listed again. The treated members against the holdout of the *same* list is a
randomised experiment: no outside controls, no model rerun, no parallel trends to assume.
Outcome per member, from the done day (``done_at``'s UTC date):

- ``follow_up_lead`` → ``conversion_90d``: a first order between the done day and the end of
  the lead's ``HORIZON_DAYS``-day window (created + 90 days) — what the lead score predicts
  and what the demo's follow-up moves (P(convert within 90 days) × 1.5 for a lead not yet
  converted);
- ``attend_deal`` → ``win_90d``: the deal closed won within ``HORIZON_DAYS`` days of the done
  day (the demo multiplies the deal contact's conversion by 1.3);
- ``reengage_customer`` → ``orders_56d``: the member's orders in the ``LIST_WINDOW_DAYS``
  days from the done day (the demo's win-back speeds the purchase rate up × 1.6 while the
  customer is alive);
- ``ask_referral`` → ``referrals_56d``: referrals the member made in the
  ``LIST_WINDOW_DAYS`` days from the done day (the demo doubles the referral rate).

Estimate (:func:`._randomised.randomised_lift`): the treated members' mean outcome over the
holdout's, sharpened by the model score recorded per member (observed ÷ expected on both
sides; randomisation keeps it unbiased): ``observed_value`` the treated mean,
``baseline_value`` the treated members' expectation rescaled by the holdout's observed ÷
expected (the holdout mean without scores), ``control_change`` the holdout's observed ÷
expected − 1, ``estimated_lift = observed / baseline − 1``; ``n`` the members measured. 95 %
interval: a bootstrap over members, treated and holdout resampled apart, expanded for the
holdout's small size. On 1 000 simulated lists per case (60 leads × 1.5, 20 deals × 1.3,
60 customers' orders × 1.6, 40 promoters' referrals × 2, a 20 % holdout) the intervals
covered the true lift 92–98 % of the time and called a zero effect significant 2–8 % of the
time; a holdout of 12 leads leaves little power (a +50 % lift stands out of one list about
one time in five), so a lift is established over several lists. A list without a holdout
member cannot be measured, nor one whose holdout or treated members had no event at all in
the window: the ratio would rest on the half-event correction alone, with an interval
unbounded on that side (in a simulation it read +1 800 % [+770 %, +3 500 %] for a +60 %
effect on a holdout of 12 customers without an order); per-target rows of these types from
before the lists are not measured.

Controls of a difference in differences are never acted on: no recommendation of their
target (same ``target_type``) was accepted or done, whenever. The bootstraps are seeded by
the recommendation, so reruns reproduce them. A recommendation whose window after has not
ended by the last day of its source's data (or, for a DiD, whose window before starts before
the data) has no row yet; ``measured_at`` is the last
day of the window after — the wall clock is never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import to_utc_naive
from flywheel_pipeline.insights.lead_scoring import HORIZON_DAYS as LEAD_HORIZON_DAYS
from flywheel_pipeline.insights.lead_scoring import first_orders
from flywheel_pipeline.recommendations import budget
from flywheel_pipeline.recommendations._lift import (
    N_RESAMPLES,
    Estimate,
    between_target_variance,
    did_lift,
    pre_trends_diverge,
)
from flywheel_pipeline.recommendations._randomised import randomised_lift
from flywheel_pipeline.recommendations._windows import (
    WINDOW_DAYS,
    control_panels,
    did_panels,
    ended,
    measurable,
    n_days,
    seed_of,
    window_rows,
)
from flywheel_pipeline.recommendations.economics import latest_assignments, topic_id_text
from flywheel_pipeline.recommendations.lists import LIST_TARGET_TYPES
from flywheel_pipeline.tables import RECOMMENDATION_OUTCOMES

OUTCOME_COLUMNS = RECOMMENDATION_OUTCOMES.column_names

# The horizon of the lead score (P(customer within 90 days of creation)); every deal of the
# demo closes within it too, so an open deal's fate is known 90 days on.
HORIZON_DAYS = LEAD_HORIZON_DAYS
POSITION_BAND = 1.5
MAX_POSITION_MOVE = 1.25
MIN_CONTROLS = 3
# Orders of a re-engaged customer and referrals of an asked promoter are counted over this
# many days from the done day (two of the ``WINDOW_DAYS``: a purchase every few months is
# common, and a month holds too few).
LIST_WINDOW_DAYS = 2 * WINDOW_DAYS


_DID_INTERVAL = "95 % interval: day bootstrap widened by the drift among untouched targets"
_HOLDOUT = (
    "randomised holdout: the list's treated members vs its random holdout (drawn when the "
    "list was proposed, left alone), observed / expected by the recorded model score; 95 % "
    "interval: expanded percentile bootstrap over members"
)
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
        f"{_HOLDOUT}; outcome: a first order between done_at and the end of the lead's "
        f"{HORIZON_DAYS}-day window",
    ),
    "attend_deal": (
        f"win_{HORIZON_DAYS}d",
        True,
        f"{_HOLDOUT}; outcome: the deal won within {HORIZON_DAYS} days of done_at",
    ),
    "reengage_customer": (
        f"orders_{LIST_WINDOW_DAYS}d",
        True,
        f"{_HOLDOUT}; outcome: the customer's orders in the {LIST_WINDOW_DAYS} days from done_at",
    ),
    "ask_referral": (
        f"referrals_{LIST_WINDOW_DAYS}d",
        True,
        f"{_HOLDOUT}; outcome: referrals the promoter made in the {LIST_WINDOW_DAYS} days "
        f"from done_at",
    ),
}
# shift_budget measures itself (recommendations.budget: DiD on weekly blocks of campaigns)
MEASURED_TYPES = frozenset({*METRICS, budget.REC_TYPE})


def empty_outcomes() -> pd.DataFrame:
    return _frame([])


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    # explicit types: an empty frame must still write VARCHAR/DOUBLE columns, not NULL ones
    floats = [
        "baseline_value",
        "observed_value",
        "control_change",
        "estimated_lift",
        "ci_low",
        "ci_high",
    ]
    return frame.astype(
        {
            "recommendation_id": "string",
            "metric": "string",
            "method": "string",
            "n": "int64",
            "measured_at": "datetime64[us]",
            "higher_is_better": "bool",
            **dict.fromkeys(floats, "float64"),
        }
    ).sort_values(["recommendation_id", "metric"], ignore_index=True)


def _row(rec_id: str, rec_type: str, est: Estimate, n: int, measured_at) -> dict:
    metric, higher_is_better, method = METRICS[rec_type]
    return est.outcome_row(
        rec_id,
        metric=metric,
        higher_is_better=higher_is_better,
        method=method,
        n=n,
        measured_at=measured_at,
    )


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


def _pre_trends_refuse(
    rec, before: np.ndarray, control_before: np.ndarray, *, n_resamples: int
) -> bool:
    """The target and its controls already moved apart in the window before ``rec``'s done
    day (:func:`._lift.pre_trends_diverge`, seeded by the recommendation): no outcome."""
    seed = seed_of(rec.recommendation_id, "pre-trend")
    return pre_trends_diverge(before, control_before, seed=seed, n_resamples=n_resamples)


def _did_outcome(
    rec, daily: pd.DataFrame, controls: list[str], *, counts: bool, n_resamples: int
) -> dict | None:
    """The DiD outcome row of ``rec``; None when there is nothing to compare (too few
    controls, no baseline) or when pre-trends diverge (:func:`_pre_trends_refuse`)."""
    if len(controls) < MIN_CONTROLS:
        return None
    window, controls = window_rows(daily, rec.done_day), set(controls)
    before, after = did_panels(window, rec.target_id, controls, rec.done_day, counts=counts)
    b, a = before.sum(axis=0), after.sum(axis=0)
    # no baseline (or no denominator after) for the target or the controls: nothing to compare
    if b[0] <= 0 or b[1] <= 0 or a[1] <= 0 or b[2] <= 0 or b[3] <= 0 or a[3] <= 0:
        return None
    control_before, control_after = control_panels(window, controls, rec.done_day, counts=counts)
    if _pre_trends_refuse(rec, before, control_before, n_resamples=n_resamples):
        return None
    est = did_lift(
        before,
        after,
        seed=seed_of(rec.recommendation_id, rec.type),
        between_var=between_target_variance(
            control_before, control_after, seed=seed_of(rec.recommendation_id, "placebo")
        ),
        n_resamples=n_resamples,
    )
    measured_at = rec.done_day + n_days(WINDOW_DAYS - 1)
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
    window = window_rows(daily, done)
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
        if not measurable(rec.done_day, WINDOW_DAYS, first, last):
            continue
        controls = _comparable_queries(daily, rec.target_id, rec.done_day, acted)
        row = _did_outcome(rec, daily, controls, counts=False, n_resamples=n_resamples)
        rows += [row] if row else []
    return rows


TOPIC_DAY_COLUMNS = ["day", "unit", "conversations", "resolved", "known"]


def count_topic_days(conversations: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Conversations (conversation_id, started_at, resolved) with their topic (the latest
    run's assignments) → day, unit (topic id as text), conversations, resolved, known
    (resolution known); the warehouse counts the same in :mod:`.inputs`."""
    # a conversation no topic fits (topic_id null) is no topic's: not a control unit either
    assignments = latest_assignments(assignments)
    assigned = assignments.loc[assignments["topic_id"].notna(), ["conversation_id", "topic_id"]]
    c = conversations[["conversation_id", "started_at", "resolved"]].merge(
        assigned, on="conversation_id"
    )
    resolved = c["resolved"].astype("boolean")
    c = c.assign(
        day=to_utc_naive(c["started_at"]).dt.normalize(),
        unit=topic_id_text(c["topic_id"]),
        conversations=1,
        resolved=resolved.fillna(False).astype(int),
        known=resolved.notna().astype(int),
    )
    return c.groupby(["day", "unit"], as_index=False)[TOPIC_DAY_COLUMNS[2:]].sum()


def measure_topics(
    done: pd.DataFrame,
    acted: set[str],
    days: pd.DataFrame | None,
    *,
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """``topic_conversations`` (create_content) and ``topic_resolution_rate`` (fix_content)
    outcomes (target: topic_id) from the topics' days (:func:`count_topic_days`)."""
    if done.empty or days is None or days.empty:
        return []
    first, last = days["day"].min(), days["day"].max()
    volume = days.rename(columns={"conversations": "num"}).assign(den=1)
    resolution = days.rename(columns={"resolved": "num", "known": "den"})
    topics = sorted(set(days["unit"]) - acted)
    rows = []
    for rec in done.itertuples(index=False):
        if not measurable(rec.done_day, WINDOW_DAYS, first, last):
            continue
        controls = [t for t in topics if t != rec.target_id]
        counts = rec.type == "create_content"
        daily = volume if counts else resolution
        row = _did_outcome(rec, daily, controls, counts=counts, n_resamples=n_resamples)
        rows += [row] if row else []
    return rows


# --- list recommendations against their random holdout --------------------------------------


def _crm_last_day(*frames_and_columns: tuple[pd.DataFrame | None, str]) -> pd.Timestamp | None:
    stamps = [
        to_utc_naive(frame[column]).max()
        for frame, column in frames_and_columns
        if frame is not None and column in frame and len(frame)
    ]
    stamps = [s for s in stamps if pd.notna(s)]
    return max(stamps).normalize() if stamps else None


def _in_window(at: pd.Series, start: pd.Timestamp | pd.Series, stop) -> pd.Series:
    return (at >= start) & (at < stop)


def lead_units(
    members: pd.Index, day: pd.Timestamp, contacts: pd.DataFrame | None, orders: pd.DataFrame | None
) -> pd.Series:
    """1 for a member lead whose first order falls between ``day`` and the end of its
    HORIZON_DAYS-day window (from its creation; from ``day`` when unknown), else 0."""
    first = first_orders(orders).reindex(members)
    created = pd.Series(pd.NaT, index=members, dtype="datetime64[ns]")
    if contacts is not None and len(contacts):
        known = contacts.drop_duplicates("contact_id").set_index("contact_id")["created_at"]
        created = to_utc_naive(known).reindex(members)
    stop = created.fillna(day) + n_days(HORIZON_DAYS)
    return _in_window(first, day, stop).astype(int)


def deal_units(members: pd.Index, day: pd.Timestamp, deals: pd.DataFrame | None) -> pd.Series:
    """1 for a member deal closed won within HORIZON_DAYS days of ``day``, else 0."""
    if deals is None or deals.empty:
        return pd.Series(0, index=members)
    d = deals.drop_duplicates("deal_id").set_index("deal_id").reindex(members)
    won = d["is_won"].astype("boolean").fillna(False).astype(bool)
    closed = to_utc_naive(d["closed_at"])
    return (won & _in_window(closed, day, day + n_days(HORIZON_DAYS))).astype(int)


def _events(
    members: pd.Index, day: pd.Timestamp, frame: pd.DataFrame | None, who: str, when: str
) -> pd.Series:
    """Rows of ``frame`` per member (column ``who``) dated (``when``) in the
    LIST_WINDOW_DAYS days from ``day``."""
    if frame is None or frame.empty:
        return pd.Series(0, index=members)
    at = to_utc_naive(frame[when])
    rows = frame[_in_window(at, day, day + n_days(LIST_WINDOW_DAYS))]
    return rows.groupby(rows[who].astype(str)).size().reindex(members, fill_value=0)


# type → (window in days, outcome per member from (members, day, inputs))
_LIST_OUTCOMES = {
    "follow_up_lead": (
        HORIZON_DAYS,
        lambda m, day, i: lead_units(m, day, i["contacts"], i["orders"]),
    ),
    "attend_deal": (HORIZON_DAYS, lambda m, day, i: deal_units(m, day, i["deals"])),
    "reengage_customer": (
        LIST_WINDOW_DAYS,
        lambda m, day, i: _events(m, day, i["orders"], "contact_id", "ordered_at"),
    ),
    "ask_referral": (
        LIST_WINDOW_DAYS,
        lambda m, day, i: _events(m, day, i["referrals"], "referrer_contact_id", "referred_at"),
    ),
}


def _list_row(rec, members: pd.DataFrame, outcome: pd.Series, *, n_resamples: int) -> dict | None:
    """The outcome row of one list: its treated members against its holdout."""
    held = members["holdout"].astype(bool).to_numpy()
    if held.all() or not held.any():
        return None
    y = outcome.reindex(members["target_id"]).fillna(0).to_numpy(dtype=float)
    if y[held].sum() == 0 or y[~held].sum() == 0:
        # without an event on one side the ratio rests on the half-event correction alone
        # and its interval is unbounded on that side: nothing to report
        return None
    score = pd.to_numeric(members["score"], errors="coerce").to_numpy(dtype=float)
    scored = bool(np.isfinite(score).all() and (score > 0).all())
    est = randomised_lift(
        (y[~held], score[~held] if scored else None),
        (y[held], score[held] if scored else None),
        seed=seed_of(rec.recommendation_id, "holdout lift"),
        n_resamples=n_resamples,
    )
    window = _LIST_OUTCOMES[rec.type][0]
    measured_at = rec.done_day + n_days(window - 1)
    return _row(rec.recommendation_id, rec.type, est, len(members), measured_at)


def measure_lists(
    done: pd.DataFrame,
    targets: pd.DataFrame | None,
    *,
    n_resamples: int = N_RESAMPLES,
    crm_last_day: pd.Timestamp | None = None,
    **inputs: pd.DataFrame | None,
) -> list[dict]:
    """Outcome rows of the done list recommendations (``done``: rows of
    :func:`done_recommendations` of the :data:`._lists.LIST_TYPES`), from their members
    (``targets``, ml.recommendation_targets) and ``inputs`` (contacts, orders, deals,
    referrals: the members' rows are enough, with the ``crm_last_day`` of all of them)."""
    if done.empty or targets is None or targets.empty:
        return []
    inputs = {k: inputs.get(k) for k in ("contacts", "orders", "deals", "referrals")}
    last = crm_last_day or _crm_last_day(
        (inputs["contacts"], "created_at"),
        (inputs["orders"], "ordered_at"),
        (inputs["deals"], "created_at"),
        (inputs["deals"], "closed_at"),
        (inputs["referrals"], "referred_at"),
    )
    members_of = {
        rec_id: rows.assign(target_id=rows["target_id"].astype(str))
        for rec_id, rows in targets.groupby("recommendation_id")
    }
    rows = []
    for rec in done.itertuples(index=False):
        window, outcome_of = _LIST_OUTCOMES[rec.type]
        members = members_of.get(rec.recommendation_id)
        if members is None or not ended(rec.done_day, window, last):
            continue
        outcome = outcome_of(pd.Index(members["target_id"]), rec.done_day, inputs)
        row = _list_row(rec, members, outcome, n_resamples=n_resamples)
        rows += [row] if row else []
    return rows


# --- everything -----------------------------------------------------------------------------


def measure_outcomes(
    recommendations: pd.DataFrame | None,
    *,
    targets: pd.DataFrame | None = None,
    search: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    assignments: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    deals: pd.DataFrame | None = None,
    referrals: pd.DataFrame | None = None,
    campaign_days: pd.DataFrame | None = None,
    topic_days: pd.DataFrame | None = None,
    crm_last_day: pd.Timestamp | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """The ``ml.recommendation_outcomes`` frame (see the module docstring).

    ``recommendations``: recommendation_id, type, target_type, target_id, done_at,
    accepted_at (optional) — as in flywheel.recommendations. Inputs, each optional (a type
    whose inputs are missing measures nothing):
    - ``targets``: the members of the list recommendations (ml.recommendation_targets:
      recommendation_id, target_id, score, holdout);
    - ``search``: report_date, search_query, clicks, impressions, avg_position
      (intermediate.int_search__query_pages_daily, any grain down to date × query);
    - ``conversations``: conversation_id, started_at, resolved, contact_id;
      ``assignments``: conversation_id, topic_id (ml.conversation_topic_assignments);
    - ``contacts`` (contact_id, created_at), ``orders`` (contact_id, ordered_at), ``deals``
      (deal_id, is_won, closed_at, created_at), ``referrals`` (referrer_contact_id,
      referred_at): the CRM's staging tables;
    - ``campaign_days``: date, campaign, spend, sessions (intermediate.int_ads__campaign_days)
      for shift_budget;
    - ``topic_days`` (:func:`count_topic_days`) instead of ``conversations`` and ``assignments``,
      and the members' contacts and orders with the ``crm_last_day`` of all CRM rows: what
      the warehouse hands over (:mod:`.inputs`) instead of whole tables.
    """
    if recommendations is None or recommendations.empty:
        return empty_outcomes()
    done = done_recommendations(recommendations)
    done = done[done["type"].isin(MEASURED_TYPES)]
    if done.empty:
        return empty_outcomes()
    acted = acted_targets(recommendations)
    of = {t: done[done["type"] == t] for t in MEASURED_TYPES}
    rows = measure_titles(
        of["rewrite_title"], acted.get("query", set()), search, n_resamples=n_resamples
    )
    if topic_days is None and conversations is not None and assignments is not None:
        topic_days = count_topic_days(conversations, assignments)
    rows += measure_topics(
        pd.concat([of["create_content"], of["fix_content"]]),
        acted.get("topic", set()),
        topic_days,
        n_resamples=n_resamples,
    )
    # per-target rows of these types from before the lists are not measured
    lists = done[done["type"].isin(_LIST_OUTCOMES) & done["target_type"].isin(LIST_TARGET_TYPES)]
    rows += measure_lists(
        lists,
        targets,
        contacts=contacts,
        orders=orders,
        deals=deals,
        referrals=referrals,
        crm_last_day=crm_last_day,
        n_resamples=n_resamples,
    )
    rows += budget.measure_budget(
        of[budget.REC_TYPE],
        acted.get(budget.TARGET_TYPE, set()),
        campaign_days,
        n_resamples=n_resamples,
    )
    return _frame(rows)
