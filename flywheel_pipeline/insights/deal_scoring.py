"""Deal scoring: the probability that an open deal is won, as of ``data_through``.

Method (SPEC §6, "Lead and deal scoring" — a deal-stage predictor):

- **Snapshots.** Every deal is replayed through its stage history
  (``deal_stage_history``): a snapshot at each entry into an open stage and then every
  ``snapshot_every_days`` (7) while the deal stays in that stage, up to its close or
  ``data_through``. Weekly snapshots make the training rows look like what is scored: open
  deals part-way through a stage, not only at the moment they enter it.
- **Features at a snapshot** use only what is known at that instant: current stage, days in
  the current stage, days open, stage changes so far, the deal amount (log), the contact's
  CRM fields (channel group, company size, industry, country) and the number of
  conversations the person started before the snapshot. Never ``closed_at``, ``is_won``,
  closing stages or anything later. (Amount and CRM fields are the CRM's current values; a
  CRM that rewrites them at closing would need their history to be safe.)
- **Label.** 1 when the deal was won, 0 when lost — the final outcome as of ``data_through``.
  Only snapshots at least ``label_maturity_days`` (60) old are labelled: a young snapshot is
  only labelled if its deal closed fast, and fast closes are mostly losses (in the demo the
  win rate of deals closed within 30 days of ``data_through`` is about half that of older
  ones), which would drag every estimate down. Deals still open are never labelled.
- **Time split.** Labelled deals sorted by ``created_at``: the latest ``holdout_fraction``
  (25 %) of deals, with all their snapshots, are the holdout; the earlier deals train, so
  no deal is on both sides. Metrics on the holdout snapshots: ROC AUC, Brier score and lift
  in the top decile, each beside the naive baseline — the historical win rate of the
  snapshot's current stage (share of training deals that entered the stage and were won,
  shrunk towards the overall rate by a Beta prior worth ``prior_strength`` = 10 deals).
  The model is then refitted on all labelled snapshots for the scores.
- **Model.** One-hot categoricals (stage, CRM fields; rare levels pooled) + scaled numeric
  features → L2 logistic regression (C = 0.1: a deal's weekly snapshots are near-copies,
  so there are fewer independent rows than snapshots), calibrated with
  ``CalibratedClassifierCV`` (sigmoid; 3 folds grouped by deal, so a deal's snapshots
  never calibrate its own fit).
- **Cold start.** Fewer than ``min_won`` (50) won or ``min_lost`` (50) lost labelled deals:
  no model. Commercial scorers ask for 200 won + 200 lost; the demo shop closes about 400
  deals in 180 days, so the bar is set where a 25 % holdout still holds some 25 deals of
  each outcome (noisy metrics, stated in ``model_runs``). The fallback is the stage win rate
  above, from all labelled deals, and ``model_runs`` says ``cold_start`` = 1. With no
  labelled deal at all the fallback uses the win rate of every closed deal; with no closed
  deal nothing is scored.
- **Scores.** Every deal open at ``data_through`` gets ``win_probability`` from the features
  of its state then (the end of the ``data_through`` day). Closed deals are not scored.

``data_through`` is the last date in the inputs, never the wall clock; rows after it are
ignored, so a replay as of an earlier date reproduces what was known then.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GroupKFold

from flywheel_pipeline.insights._common import (
    GroupRate,
    as_date,
    calibrated_logistic,
    classification_metrics,
    empty_model_runs,
    end_of_day,
    max_date,
    model_run_rows,
    to_utc_naive,
)

MODEL_NAME = "deal_scoring"
MIN_WON = 50
MIN_LOST = 50
SNAPSHOT_EVERY_DAYS = 7
LABEL_MATURITY_DAYS = 60
HOLDOUT_FRACTION = 0.25
PRIOR_STRENGTH = 10.0

CONTACT_FIELDS = ["channel_group", "company_size", "industry", "country"]
CATEGORICAL = ["stage", *CONTACT_FIELDS]
NUMERIC = [
    "log_days_in_stage",
    "log_days_open",
    "stage_changes",
    "log_amount",
    "amount_missing",
    "log_conversations",
]
SCORE_COLUMNS = ["deal_id", "win_probability", "data_through"]
SNAPSHOT_COLUMNS = ["deal_id", "snapshot_at", "stage", "stage_entered_at", "stage_changes"]
DAY = pd.Timedelta(days=1)


@dataclass
class DealScoreResult:
    deal_scores: pd.DataFrame  # deal_id, win_probability, data_through
    model_runs: pd.DataFrame
    method: str  # "calibrated_logistic", "stage_rate" (cold start) or "none"
    data_through: dt.date | None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# deal states as of data_through


def _is_closing_stage(stage: pd.Series) -> pd.Series:
    return stage.fillna("").str.lower().str.startswith("closed")


def deal_outcomes(
    deals: pd.DataFrame, stage_history: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """One row per deal created by ``data_through``: deal_id, contact_id, created_at, amount,
    closed_at (the close as known then: NaT while open) and is_won (NA while open).

    A deal counts as closed at ``closed_at``; without one (some exports leave it empty), at
    its first closing-stage entry, else at its last stage change, else at creation.
    """
    stop = end_of_day(data_through)
    d = deals.copy()
    d["created_at"] = to_utc_naive(d["created_at"])
    d = d[d["created_at"] < stop].drop_duplicates("deal_id").reset_index(drop=True)
    closed_at = to_utc_naive(d["closed_at"]) if "closed_at" in d else pd.Series(pd.NaT, d.index)
    is_won = d["is_won"].astype("boolean") if "is_won" in d else pd.Series(pd.NA, d.index)
    stage = d.get("stage", pd.Series(None, index=d.index, dtype=object))
    # Staging fills is_won with false for open deals, so is_closed decides when present.
    if "is_closed" in d:
        flagged = d["is_closed"].astype("boolean").fillna(False).astype(bool)
    else:
        flagged = is_won.notna()
    flagged = flagged | closed_at.notna() | _is_closing_stage(stage)
    h = stage_history.copy()
    h["entered_at"] = to_utc_naive(h["entered_at"])
    closing = h[_is_closing_stage(h["stage"])].groupby("deal_id")["entered_at"].min()
    last_change = h.groupby("deal_id")["entered_at"].max()
    fallback = (
        d["deal_id"].map(closing).fillna(d["deal_id"].map(last_change)).fillna(d["created_at"])
    )
    close_time = closed_at.where(closed_at.notna(), fallback.where(flagged))
    closed = close_time.notna() & (close_time < stop)
    won = is_won.fillna(_is_closing_stage(stage) & stage.fillna("").str.contains("won"))
    return pd.DataFrame(
        {
            "deal_id": d["deal_id"].to_numpy(),
            "contact_id": d["contact_id"].to_numpy() if "contact_id" in d else None,
            "created_at": d["created_at"].to_numpy(),
            "amount": pd.to_numeric(d["amount"], errors="coerce") if "amount" in d else np.nan,
            "current_stage": stage.to_numpy(),
            "closed_at": close_time.where(closed).to_numpy(),
            "is_won": won.where(closed, pd.NA).astype("boolean").to_numpy(),
        }
    )


def stage_spells(
    outcomes: pd.DataFrame, stage_history: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """Open-stage spells per deal: deal_id, stage, start, end (exclusive), stage_changes.

    A spell ends at the next stage entry, the close or the end of ``data_through``. Entries
    into closing stages and anything at or after the close are dropped, so no spell carries
    the outcome. An open deal without history gets one spell in its current stage from
    creation; a closed deal without history has no spells (its path is unknown).
    """
    stop = end_of_day(data_through)
    limit = outcomes.set_index("deal_id")["closed_at"].fillna(stop).clip(upper=stop)
    h = stage_history[["deal_id", "stage", "entered_at"]].copy()
    h["entered_at"] = to_utc_naive(h["entered_at"])
    h = h[h["deal_id"].isin(limit.index)].dropna(subset=["entered_at"])
    h = h[(h["entered_at"] < h["deal_id"].map(limit)) & ~_is_closing_stage(h["stage"])]
    missing = outcomes[outcomes["closed_at"].isna() & ~outcomes["deal_id"].isin(h["deal_id"])]
    synthetic = pd.DataFrame(
        {
            "deal_id": missing["deal_id"].to_numpy(),
            "stage": missing["current_stage"].fillna("(unknown)").to_numpy(),
            "entered_at": missing["created_at"].to_numpy(),
        }
    )
    h = pd.concat([h, synthetic], ignore_index=True) if len(synthetic) else h
    h = h.sort_values(["deal_id", "entered_at", "stage"], kind="stable").reset_index(drop=True)
    h["stage"] = h["stage"].fillna("(unknown)").astype(str).str.lower()
    next_entry = h.groupby("deal_id")["entered_at"].shift(-1)
    h["end"] = next_entry.fillna(h["deal_id"].map(limit))
    h["stage_changes"] = h.groupby("deal_id").cumcount()
    h = h.rename(columns={"entered_at": "start"})
    return h[h["end"] > h["start"]].reset_index(drop=True)[
        ["deal_id", "stage", "start", "end", "stage_changes"]
    ]


def snapshots(spells: pd.DataFrame, every_days: int = SNAPSHOT_EVERY_DAYS) -> pd.DataFrame:
    """A snapshot at each spell start and every ``every_days`` after it, strictly inside the
    spell. Columns: :data:`SNAPSHOT_COLUMNS` plus ``at_entry`` (the spell's first one)."""
    if spells.empty:
        return pd.DataFrame(columns=[*SNAPSHOT_COLUMNS, "at_entry"])
    step = pd.Timedelta(days=every_days)
    length = (spells["end"] - spells["start"]) / step
    counts = np.maximum(1, np.ceil(length.to_numpy(dtype=float)).astype(np.int64))
    rows = np.repeat(np.arange(len(spells)), counts)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    s = spells.iloc[rows].reset_index(drop=True)
    return pd.DataFrame(
        {
            "deal_id": s["deal_id"],
            "snapshot_at": s["start"] + k * step,
            "stage": s["stage"],
            "stage_entered_at": s["start"],
            "stage_changes": s["stage_changes"],
            "at_entry": k == 0,
        }
    )


def labelled_snapshots(
    outcomes: pd.DataFrame,
    spells: pd.DataFrame,
    data_through: dt.date,
    *,
    label_maturity_days: int = LABEL_MATURITY_DAYS,
    snapshot_every_days: int = SNAPSHOT_EVERY_DAYS,
) -> pd.DataFrame:
    """Training rows: snapshots of deals closed by ``data_through`` that are at least
    ``label_maturity_days`` old then, with ``label`` (1 = won)."""
    snaps = snapshots(spells, snapshot_every_days)
    outcome = snaps["deal_id"].map(outcomes.set_index("deal_id")["is_won"])
    horizon = end_of_day(data_through) - pd.Timedelta(days=label_maturity_days)
    keep = outcome.notna().to_numpy() & (snaps["snapshot_at"] <= horizon).to_numpy()
    labelled = snaps[keep].reset_index(drop=True)
    labelled["label"] = outcome[keep].astype(int).to_numpy()
    return labelled


def holdout_mask(
    labelled: pd.DataFrame, outcomes: pd.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION
) -> np.ndarray:
    """True for the snapshots of the latest-created ``holdout_fraction`` of labelled deals
    (none with fewer than 10 deals): a deal is on one side of the split only."""
    created = outcomes.set_index("deal_id")["created_at"]
    deals = pd.DataFrame({"deal_id": labelled["deal_id"].unique()})
    deals["created_at"] = deals["deal_id"].map(created)
    order = deals.sort_values(["created_at", "deal_id"])["deal_id"].to_numpy()
    n_hold = math.ceil(holdout_fraction * len(order)) if len(order) >= 10 else 0
    return labelled["deal_id"].isin(order[len(order) - n_hold :]).to_numpy()


def open_deal_states(
    outcomes: pd.DataFrame, spells: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """Scoring rows: every deal open at ``data_through`` in its state at the end of that day
    (the same columns as :func:`snapshots`)."""
    open_ids = outcomes.loc[outcomes["closed_at"].isna(), "deal_id"]
    current = spells[spells["deal_id"].isin(open_ids)].groupby("deal_id").tail(1)
    return pd.DataFrame(
        {
            "deal_id": current["deal_id"].to_numpy(),
            "snapshot_at": end_of_day(data_through),
            "stage": current["stage"].to_numpy(),
            "stage_entered_at": current["start"].to_numpy(),
            "stage_changes": current["stage_changes"].to_numpy(),
            "at_entry": False,
        }
    )


def build_features(
    snaps: pd.DataFrame,
    outcomes: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of each snapshot as known at ``snapshot_at`` (same index as ``snaps``).

    ``contacts``: contact_id + :data:`CONTACT_FIELDS` (missing ones count as unknown).
    ``conversations``: contact_id (the person's surviving contact_id), started_at.
    ``persons``: contact_id → person_id, to find the deal contact's person; without it the
    deal's contact_id is the person.
    """
    deal = outcomes.set_index("deal_id")
    at = snaps["snapshot_at"]
    created = snaps["deal_id"].map(deal["created_at"])
    amount = snaps["deal_id"].map(deal["amount"]).astype(float)
    feats = pd.DataFrame(index=snaps.index)
    feats["stage"] = snaps["stage"].astype(str)
    feats["log_days_in_stage"] = np.log1p((at - snaps["stage_entered_at"]) / DAY)
    feats["log_days_open"] = np.log1p(((at - created) / DAY).clip(lower=0))
    feats["stage_changes"] = snaps["stage_changes"].astype(float)
    feats["log_amount"] = np.log1p(amount.clip(lower=0)).fillna(0.0)
    feats["amount_missing"] = amount.isna().astype(float)
    contact = snaps["deal_id"].map(deal["contact_id"])
    fields = (
        contacts.drop_duplicates("contact_id").set_index("contact_id")
        if contacts is not None and len(contacts)
        else pd.DataFrame(index=pd.Index([], name="contact_id"))
    )
    for col in CONTACT_FIELDS:
        values = contact.map(fields[col]) if col in fields else pd.Series(None, index=feats.index)
        feats[col] = values.fillna("(none)").astype(str).replace("", "(none)").to_numpy()
    feats["log_conversations"] = np.log1p(
        _conversations_before(contact, at, conversations, persons)
    )
    return feats[CATEGORICAL + NUMERIC]


def _conversations_before(contact, at, conversations, persons) -> np.ndarray:
    """Conversations the deal contact's person started strictly before each instant."""
    if conversations is None or conversations.empty:
        return np.zeros(len(at))
    person = contact
    if persons is not None and len(persons):
        mapping = persons.drop_duplicates("contact_id").set_index("contact_id")["person_id"]
        person = contact.map(mapping).fillna(contact)
    conv = conversations[["contact_id", "started_at"]].dropna().copy()
    conv["started_at"] = to_utc_naive(conv["started_at"])
    conv = conv.sort_values("started_at")
    times = {who: g.to_numpy() for who, g in conv.groupby("contact_id")["started_at"]}
    counts = np.zeros(len(at), dtype=np.int64)
    for i, (who, when) in enumerate(zip(person.to_numpy(), at.to_numpy(), strict=True)):
        seen = times.get(who)
        if seen is not None:
            counts[i] = np.searchsorted(seen, when, side="left")
    return counts


# --------------------------------------------------------------------------------------------
# model


class StageRate(GroupRate):
    """Naive model: historical win rate of the current stage, shrunk towards the overall
    rate (fitted on stage-entry snapshots: one row per deal and stage reached)."""

    @classmethod
    def fit(cls, stage: pd.Series, y: pd.Series, strength: float = PRIOR_STRENGTH):
        return super().fit(stage, y, strength)


def _pipeline(n_train: int, groups: np.ndarray, y: np.ndarray) -> CalibratedClassifierCV:
    # Folds by deal: a deal's weekly snapshots are near-copies of each other.
    folds = list(GroupKFold(n_splits=3).split(np.zeros(len(y)), y, groups))
    min_frequency = max(5, int(0.01 * n_train))
    return calibrated_logistic(CATEGORICAL, NUMERIC, min_frequency=min_frequency, c=0.1, cv=folds)


def _fit(x: pd.DataFrame, y: np.ndarray, deal_ids: pd.Series) -> CalibratedClassifierCV:
    return _pipeline(len(x), deal_ids.to_numpy(), y).fit(x, y)


def _stage_rate(snaps: pd.DataFrame, y: np.ndarray) -> StageRate:
    entry = snaps["at_entry"].to_numpy(dtype=bool)
    return StageRate.fit(snaps.loc[entry, "stage"], pd.Series(y[entry]))


def _scores(deal_ids, p, day) -> pd.DataFrame:
    scores = pd.DataFrame(
        {
            "deal_id": pd.Series(deal_ids, dtype=object),
            "win_probability": np.clip(np.asarray(p, float), 0, 1),
            "data_through": pd.Series([day] * len(deal_ids), dtype=object),
        },
        columns=SCORE_COLUMNS,
    )
    return scores.dropna(subset=["win_probability"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# public entry point


def score_deals(
    deals: pd.DataFrame,
    stage_history: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
    *,
    data_through: dt.date | None = None,
    min_won: int = MIN_WON,
    min_lost: int = MIN_LOST,
    label_maturity_days: int = LABEL_MATURITY_DAYS,
    snapshot_every_days: int = SNAPSHOT_EVERY_DAYS,
    holdout_fraction: float = HOLDOUT_FRACTION,
) -> DealScoreResult:
    """Score every deal open at ``data_through``.

    ``deals``: deal_id, contact_id, created_at, stage, amount, closed_at, is_won (optional
    is_closed). ``stage_history``: deal_id, stage, entered_at. ``contacts``,
    ``conversations``, ``persons``: see :func:`build_features`. ``data_through`` defaults to
    the last date in the data; rows after it are ignored.
    """
    history = (
        stage_history
        if stage_history is not None
        else pd.DataFrame(columns=["deal_id", "stage", "entered_at"])
    )
    day = (
        as_date(data_through)
        if data_through is not None
        else max_date(
            deals["created_at"],
            deals.get("closed_at"),
            history["entered_at"],
            contacts["created_at"] if contacts is not None and "created_at" in contacts else None,
            conversations["started_at"] if conversations is not None else None,
        )
    )
    if day is None or deals.empty:
        return DealScoreResult(_scores([], [], day), empty_model_runs(), "none", day)
    stop = end_of_day(day)
    if conversations is not None:
        conversations = conversations[to_utc_naive(conversations["started_at"]) < stop]
    outcomes = deal_outcomes(deals, history, day)
    spells = stage_spells(outcomes, history, day)

    labelled = labelled_snapshots(
        outcomes,
        spells,
        day,
        label_maturity_days=label_maturity_days,
        snapshot_every_days=snapshot_every_days,
    )
    y_all = labelled["label"].to_numpy()
    deal_labels = labelled.drop_duplicates("deal_id")["label"]
    n_won, n_lost = int(deal_labels.sum()), int((deal_labels == 0).sum())
    is_hold = holdout_mask(labelled, outcomes, holdout_fraction)
    n_hold_deals = labelled.loc[is_hold, "deal_id"].nunique()
    y_train, y_hold = y_all[~is_hold], y_all[is_hold]
    train_rate = float(y_train.mean()) if len(y_train) else math.nan
    hold_rate = float(y_hold.mean()) if len(y_hold) else math.nan
    current = open_deal_states(outcomes, spells, day)

    def features(frame: pd.DataFrame) -> pd.DataFrame:
        return build_features(frame, outcomes, contacts, conversations, persons)

    cold = n_won < min_won or n_lost < min_lost or n_hold_deals == 0 or len(np.unique(y_train)) < 2
    baseline = _stage_rate(labelled[~is_hold], y_train)
    base_hold = baseline.predict(labelled.loc[is_hold, "stage"])
    base_metrics = classification_metrics(y_hold, base_hold) if len(y_hold) else {}
    common = [("won_deals", n_won, min_won), ("lost_deals", n_lost, min_lost)]
    calibration: dict = {}
    if cold:
        method = "stage_rate"
        fallback = _stage_rate(labelled, y_all)
        if labelled.empty:
            closed = outcomes["is_won"].dropna()
            fallback.overall = float(closed.mean()) if len(closed) else math.nan
        p_open = fallback.predict(current["stage"]) if len(current) else np.array([])
        calibration = {"fallback_stage_rates": fallback.rates}
        metrics = [("cold_start", 1.0, None), *common, ("base_rate", hold_rate, train_rate)]
        # the fallback itself on the holdout, beside a constant training win rate
        for name, value in base_metrics.items():
            const = classification_metrics(y_hold, np.full(len(y_hold), train_rate))[name]
            metrics.append((name, value, const))
    else:
        method = "calibrated_logistic"
        x_all = features(labelled)
        model = _fit(x_all[~is_hold], y_train, labelled.loc[~is_hold, "deal_id"])
        p_hold = model.predict_proba(x_all[is_hold])[:, 1]
        model_metrics = classification_metrics(y_hold, p_hold)
        calibration = {"holdout_predictions": p_hold}
        metrics = [("cold_start", 0.0, None), *common]
        metrics += [(name, model_metrics[name], base_metrics[name]) for name in model_metrics]
        metrics += [("base_rate", hold_rate, train_rate)]
        final = _fit(x_all, y_all, labelled["deal_id"])
        p_open = final.predict_proba(features(current))[:, 1] if len(current) else np.array([])

    scores = _scores(current["deal_id"].to_numpy(), p_open, day)
    runs = model_run_rows(
        MODEL_NAME,
        day,
        train_rows=int((~is_hold).sum()),
        holdout_rows=int(is_hold.sum()),
        metrics=metrics,
    )
    return DealScoreResult(
        deal_scores=scores,
        model_runs=runs,
        method=method,
        data_through=day,
        details={
            "labelled_snapshots": len(labelled),
            "labelled_deals": labelled["deal_id"].nunique(),
            "holdout_deals": n_hold_deals,
            "open_deals": len(current),
            "stage_rates": baseline.rates,
            "holdout_win_rate": hold_rate,
            **calibration,
        },
    )
