"""Lead scoring: probability that a lead becomes a customer within 90 days of its creation.

Method (SPEC §6, "Lead and deal scoring"):

- **Scoring time.** A lead is scored as of ``created_at + feature_window_days`` (1 day). Its
  features use only what is known then: the contact's CRM fields (channel group, source,
  medium, industry, company size, country, first landing page and its section) and the
  number of conversations started up to the scoring time. Nothing later is read.
- **Label.** 1 when the contact's first order falls within ``horizon_days`` (90) of
  ``created_at``. Only leads whose 90-day window has closed by ``data_through`` are labelled;
  leads that were already customers at their scoring time are left out (they are never
  scored either).
- **Time split.** Labelled leads sorted by ``created_at``: the latest ``holdout_fraction``
  (20 %) is the holdout cohort, the earlier ones train. Metrics on the holdout: ROC AUC,
  Brier score and lift in the top decile, each beside a naive baseline — the smoothed
  conversion rate of the lead's channel group in the training cohort (``base_rate`` is
  reported too).
- **Model.** One-hot categoricals (rare levels pooled) + log conversation count →
  L2 logistic regression, calibrated with ``CalibratedClassifierCV`` (sigmoid, 3 folds).
  It trains on at most ``max_train`` (:data:`MAX_TRAIN`) leads: above that, a seeded sample
  stratified by label × creation month (every lead below it). Past 25 000 leads more gain
  under 0.002 of holdout AUC (``benchmarks/learning_curves.py``); the baseline's rates and
  every score still use every lead.
- **Champion / challenger.** The model serves only when its holdout AUC beats the channel
  rates'; otherwise the channel rates serve. Either way the serving scorer is refitted on
  all labelled leads for the scores, and every ``model_runs`` row says which serves and why
  (``served_by``, ``serving_reason``).
- **Cold start.** Fewer than ``min_converted`` (120) converted labelled leads: no model; the
  fallback rule is the historical conversion rate of the lead's channel group, shrunk
  towards the overall rate (a Beta prior worth 20 leads); ``model_runs`` says
  ``cold_start`` = 1 and ``served_by`` = rules.
- **Open leads.** Scores are written for every lead that is not a customer by
  ``data_through``, by whichever scorer serves. With ``age_adjust`` (default) the score is
  conditioned on the lead not having converted yet: ``p·(1−F(a)) / (1−p·F(a))``, where
  ``F(a)`` is the share of 90-day conversions that happen by age ``a`` (from the labelled
  leads); leads older than 90 days score 0.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV

from flywheel_pipeline.insights._common import (
    DESCRIPTIVE,
    LOWER_IS_BETTER,
    SERVED_BY_MODEL,
    GroupRate,
    Serving,
    as_date,
    calibrated_logistic,
    champion,
    classification_metrics,
    cold_start_serving,
    empty_model_runs,
    end_of_day,
    max_date,
    metric_kinds,
    model_run_rows,
    outcome_month_sample,
    predict_in_batches,
    to_utc_naive,
)
from flywheel_pipeline.insights._common import lift_at as lift_at  # re-exported
from flywheel_pipeline.insights.content_gaps import page_path

MODEL_NAME = "lead_scoring"
#: ml.lead_scoring_runs metrics besides the classification ones: the Brier score against the
#: constant training rate is quality; the label counts and the base rate describe the data.
METRIC_KINDS = metric_kinds(
    {
        "brier_base_rate": LOWER_IS_BETTER,
        "converted_leads": DESCRIPTIVE,
        "base_rate": DESCRIPTIVE,
    }
)
MIN_CONVERTED = 120
HORIZON_DAYS = 90
FEATURE_WINDOW_DAYS = 1
HOLDOUT_FRACTION = 0.2
PRIOR_STRENGTH = 20.0
#: Most leads the classifier trains on (a label × month stratified sample above it): on the
#: demo the holdout AUC gains under 0.002 past 25 000 leads (benchmarks/README.md).
MAX_TRAIN = 50_000

CATEGORICAL = [
    "channel_group",
    "source",
    "medium",
    "industry",
    "company_size",
    "country",
    "first_landing_page",
    "landing_section",
]
NUMERIC = ["log_conversations", "has_conversation"]
#: the contacts' columns the features come from (besides contact_id and created_at)
CONTACT_COLUMNS = [c for c in CATEGORICAL if c != "landing_section"]
SCORE_COLUMNS = ["contact_id", "lead_score", "data_through"]


@dataclass
class LeadScoreResult:
    lead_scores: pd.DataFrame  # contact_id, lead_score, data_through
    model_runs: pd.DataFrame
    method: str  # what publishes: "calibrated_logistic" or "channel_rate"
    data_through: dt.date | None
    serving: Serving | None = None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# data preparation


def _events(frame: pd.DataFrame | None, column: str) -> pd.DataFrame:
    """contact_id and the timestamp ``column`` (naive UTC), rows missing either dropped."""
    columns = ["contact_id", column]
    events = frame[columns].copy() if frame is not None else pd.DataFrame(columns=columns)
    events[column] = to_utc_naive(events[column])
    return events.dropna()


def _prepare_inputs(contacts, conversations, orders, data_through):
    c = contacts.copy()
    c["created_at"] = to_utc_naive(c["created_at"])
    c = c.dropna(subset=["created_at"]).drop_duplicates("contact_id")
    conv = _events(conversations, "started_at")
    o = _events(orders, "ordered_at")
    day = (
        as_date(data_through)
        if data_through is not None
        else max_date(c["created_at"], conv["started_at"], o["ordered_at"])
    )
    if day is None:
        return c, conv, o, None
    stop = end_of_day(day)  # everything after data_through is invisible (replays reproduce)
    c = c[c["created_at"] < stop]
    conv = conv[conv["started_at"] < stop]
    o = o[o["ordered_at"] < stop]
    return c, conv, o, day


def first_orders(orders: pd.DataFrame) -> pd.Series:
    """First order timestamp per contact_id."""
    if orders is None or orders.empty:
        return pd.Series(dtype="datetime64[ns]")
    return to_utc_naive(orders["ordered_at"]).groupby(orders["contact_id"]).min()


def landing_section(path: object) -> str:
    """First path segment of a landing page: ``/help/returns`` -> ``help``; ``(home)`` for
    the home page, ``(none)`` when unknown."""
    if not isinstance(path, str) or not path.strip():
        return "(none)"
    parts = [p for p in page_path(path).split("/") if p]
    return parts[0].lower() if parts else "(home)"


def build_features(
    contacts: pd.DataFrame,
    conversations: pd.DataFrame | None,
    *,
    feature_window_days: int = FEATURE_WINDOW_DAYS,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Features of each lead as known at its scoring time ``created_at + window``.

    ``as_of`` caps the scoring time (open leads younger than the window are scored with what
    is known at ``as_of``). Returns one row per contact_id (index) with :data:`CATEGORICAL`
    and :data:`NUMERIC` columns and ``scored_at``.
    """
    c = contacts  # read only: a copy would double the largest frame
    scored_at = to_utc_naive(c["created_at"]) + pd.Timedelta(days=feature_window_days)
    if as_of is not None:
        scored_at = scored_at.clip(upper=as_of)
    feats = pd.DataFrame(index=c["contact_id"].to_numpy())
    feats.index.name = "contact_id"
    for col in CATEGORICAL:
        if col == "landing_section":
            src = c.get("first_landing_page", pd.Series(index=c.index, dtype=object))
            # once per distinct page, not per lead (one shared string per section)
            values = src.map({page: landing_section(page) for page in src.dropna().unique()})
        else:
            values = c.get(col, pd.Series(index=c.index, dtype=object))
        feats[col] = values.fillna("(none)").astype(str).replace("", "(none)").to_numpy()
    feats["scored_at"] = scored_at.to_numpy()
    counts = pd.Series(0, index=feats.index, dtype="int64")
    if conversations is not None and len(conversations):
        conv = conversations[["contact_id", "started_at"]].dropna().copy()
        conv["started_at"] = to_utc_naive(conv["started_at"])
        conv = conv.merge(feats[["scored_at"]], left_on="contact_id", right_index=True)
        known = conv[conv["started_at"] < conv["scored_at"]]
        counts = known.groupby("contact_id").size().reindex(feats.index, fill_value=0)
    feats["log_conversations"] = np.log1p(counts.to_numpy())
    feats["has_conversation"] = (counts.to_numpy() > 0).astype(float)
    return feats


def label_leads(
    contacts: pd.DataFrame,
    orders: pd.DataFrame | None,
    data_through: dt.date,
    *,
    horizon_days: int = HORIZON_DAYS,
    feature_window_days: int = FEATURE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Labelled leads: those whose ``horizon_days`` window closed by ``data_through`` and that
    were not customers yet at their scoring time. Columns: contact_id, created_at, label,
    days_to_convert (NaN for non-converters)."""
    c = contacts[["contact_id", "created_at"]].copy()
    c["created_at"] = to_utc_naive(c["created_at"])
    first = first_orders(orders) if orders is not None else pd.Series(dtype="datetime64[ns]")
    c["first_order_at"] = c["contact_id"].map(first)
    closes = c["created_at"] + pd.Timedelta(days=horizon_days)
    closed = closes < end_of_day(as_date(data_through))
    scored_at = c["created_at"] + pd.Timedelta(days=feature_window_days)
    not_yet_customer = c["first_order_at"].isna() | (c["first_order_at"] >= scored_at)
    out = c[closed & not_yet_customer].copy()
    converted = out["first_order_at"].notna() & (out["first_order_at"] <= closes[out.index])
    out["label"] = converted.astype(int)
    delta = (out["first_order_at"] - out["created_at"]).dt.total_seconds() / 86400
    out["days_to_convert"] = delta.where(converted)
    return out[["contact_id", "created_at", "label", "days_to_convert"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# metrics and baselines


class ChannelRate(GroupRate):
    """Naive model: smoothed conversion rate of the lead's channel group."""

    @classmethod
    def fit(cls, channel: pd.Series, y: pd.Series, strength: float = PRIOR_STRENGTH):
        return super().fit(channel, y, strength)


def _pipeline(n_train: int, random_state: int) -> CalibratedClassifierCV:
    min_frequency = max(5, int(0.005 * n_train))
    return calibrated_logistic(CATEGORICAL, NUMERIC, min_frequency=min_frequency, c=0.5, cv=3)


def _fit(feats, ids: pd.Series, y: np.ndarray, created: pd.Series, max_train: int, seed: int):
    """The classifier fitted on at most ``max_train`` of the leads ``ids`` (in the order of
    ``created``, the labelled leads' creation times): a label × month sample above it. Only
    the sample's features are gathered."""
    rows = outcome_month_sample(created.iloc[: len(ids)], y, max_train, seed=seed)
    return _pipeline(len(rows), seed).fit(feats.loc[ids.iloc[rows]], y[rows])


def _conversion_cdf(days_to_convert: pd.Series, horizon_days: int):
    """F(a): share of within-horizon conversions that happened by age ``a`` days."""
    d = np.sort(days_to_convert.dropna().to_numpy(dtype=float))
    if len(d) == 0:
        return lambda age: np.clip(np.asarray(age, float) / horizon_days, 0, 1)
    return lambda age: np.searchsorted(d, np.asarray(age, float), side="right") / len(d)


def _age_adjust(p: np.ndarray, age_days: np.ndarray, cdf, horizon_days: int) -> np.ndarray:
    f = np.clip(cdf(age_days), 0, 1)
    adjusted = p * (1 - f) / np.clip(1 - p * f, 1e-9, None)
    return np.where(age_days >= horizon_days, 0.0, adjusted)


# --------------------------------------------------------------------------------------------
# public entry point


def score_leads(
    contacts: pd.DataFrame,
    conversations: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    *,
    data_through: dt.date | None = None,
    min_converted: int = MIN_CONVERTED,
    horizon_days: int = HORIZON_DAYS,
    feature_window_days: int = FEATURE_WINDOW_DAYS,
    holdout_fraction: float = HOLDOUT_FRACTION,
    age_adjust: bool = True,
    random_state: int = 0,
    max_train: int = MAX_TRAIN,
) -> LeadScoreResult:
    """Score every open lead (not a customer by ``data_through``).

    ``contacts``: contact_id, created_at, channel_group, source, medium, industry,
    company_size, country, first_landing_page (missing optional columns count as unknown).
    ``conversations``: contact_id, started_at. ``orders``: contact_id, ordered_at.
    ``data_through`` defaults to the last date in the data; rows after it are ignored.
    ``max_train``: most leads the classifier fits on (a stratified sample above it).
    """
    contacts, conv, orders_, day = _prepare_inputs(contacts, conversations, orders, data_through)
    if day is None or contacts.empty:
        return LeadScoreResult(pd.DataFrame(columns=SCORE_COLUMNS), empty_model_runs(), "none", day)
    labelled = label_leads(
        contacts, orders_, day, horizon_days=horizon_days, feature_window_days=feature_window_days
    )
    feats = build_features(
        contacts, conv, feature_window_days=feature_window_days, as_of=end_of_day(day)
    )
    y_all = labelled["label"].to_numpy()
    n_pos = int(y_all.sum())

    # time split: the latest labelled cohort is the holdout
    labelled = labelled.sort_values(["created_at", "contact_id"]).reset_index(drop=True)
    n_hold = math.ceil(holdout_fraction * len(labelled)) if len(labelled) >= 10 else 0
    train_ids = labelled["contact_id"].iloc[: len(labelled) - n_hold]
    hold_ids = labelled["contact_id"].iloc[len(labelled) - n_hold :]
    y_train = labelled["label"].iloc[: len(labelled) - n_hold].to_numpy()
    y_hold = labelled["label"].iloc[len(labelled) - n_hold :].to_numpy()
    x_hold = feats.loc[hold_ids]

    baseline = ChannelRate.fit(feats.loc[train_ids, "channel_group"], pd.Series(y_train))
    base_hold = baseline.predict(x_hold["channel_group"]) if n_hold else np.array([])
    base_metrics = (
        classification_metrics(y_hold, base_hold)
        if n_hold
        else dict.fromkeys(classification_metrics([], []))
    )
    train_rate = float(y_train.mean()) if len(y_train) else math.nan
    hold_rate = float(y_hold.mean()) if len(y_hold) else math.nan

    first = first_orders(orders_)
    open_mask = ~feats.index.isin(first.index)
    open_ids = feats.index[open_mask]  # scored a batch at a time, never copied whole
    created = contacts["created_at"][open_mask]  # contacts and feats share their row order
    age_days = ((pd.Timestamp(end_of_day(day)) - created).dt.total_seconds() / 86400).to_numpy()
    cdf = _conversion_cdf(labelled["days_to_convert"], horizon_days)

    cold = n_pos < min_converted or len(np.unique(y_train)) < 2 or n_hold == 0
    details: dict = {}
    if cold:
        serving = cold_start_serving(
            f"{n_pos} converted labelled leads (a model needs {min_converted}, and both "
            "outcomes before the holdout): channel conversion rates"
        )
        metrics = [
            ("cold_start", 1.0, None),
            ("converted_leads", n_pos, min_converted),
            ("base_rate", hold_rate, train_rate),
        ]
        # the fallback itself, evaluated on the holdout cohort, beside the base rate
        if n_hold:
            for name, value in base_metrics.items():
                const = classification_metrics(y_hold, np.full(len(y_hold), train_rate))[name]
                metrics.append((name, value, const))
    else:
        model = _fit(feats, train_ids, y_train, labelled["created_at"], max_train, random_state)
        p_hold = model.predict_proba(x_hold)[:, 1]
        model_metrics = classification_metrics(y_hold, p_hold)
        serving = champion("auc", model_metrics["auc"], base_metrics["auc"])
        metrics = [("cold_start", 0.0, None), ("converted_leads", n_pos, min_converted)]
        metrics += [(name, model_metrics[name], base_metrics[name]) for name in model_metrics]
        metrics += [
            ("brier_base_rate", model_metrics["brier"], float(np.mean((y_hold - train_rate) ** 2))),
            ("base_rate", hold_rate, train_rate),
        ]
        details = {"holdout_predictions": p_hold, "holdout_baseline": base_hold}

    if serving.served_by == SERVED_BY_MODEL:
        method = "calibrated_logistic"
        final = _fit(
            feats,
            labelled["contact_id"],
            labelled["label"].to_numpy(),
            labelled["created_at"],
            max_train,
            random_state,
        )
        p_open = predict_in_batches(lambda x: final.predict_proba(x)[:, 1], feats, where=open_mask)
    else:
        method = "channel_rate"
        fallback = ChannelRate.fit(
            feats.loc[labelled["contact_id"], "channel_group"], labelled["label"]
        )
        if len(labelled) == 0:  # nothing labelled yet: share of all leads who ever converted
            fallback.overall = float(feats.index.isin(first.index).mean())
        p_open = fallback.predict(feats["channel_group"][open_mask])

    if age_adjust and len(p_open):
        p_open = _age_adjust(p_open, age_days, cdf, horizon_days)
    scores = pd.DataFrame(
        {
            "contact_id": open_ids.to_numpy(),
            "lead_score": np.clip(p_open, 0, 1).astype(float),
            "data_through": day,
        },
        columns=SCORE_COLUMNS,
    )
    runs = model_run_rows(
        MODEL_NAME,
        day,
        train_rows=len(train_ids),
        holdout_rows=len(hold_ids),
        metrics=metrics,
        serving=serving,
        kinds=METRIC_KINDS,
    )
    return LeadScoreResult(
        lead_scores=scores,
        model_runs=runs,
        method=method,
        data_through=day,
        serving=serving,
        details={
            **details,
            "labelled": len(labelled),
            "converted": n_pos,
            "holdout_from": labelled["created_at"].iloc[-n_hold] if n_hold else None,
        },
    )
