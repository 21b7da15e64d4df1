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
- **Reads.** The warehouse labels the leads, counts their known conversations and numbers
  them (:mod:`.lead_rows`); the scorer reads the features of its training sample, and of the
  holdout and the open leads ``batch_rows`` at a time. :func:`score_leads` runs the same on
  frames (an in-memory DuckDB); :func:`label_leads` and :func:`build_features` state the
  rules on frames, and the tests hold the warehouse to them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV

from flywheel_pipeline.insights._common import (
    DESCRIPTIVE,
    LOWER_IS_BETTER,
    SCORE_BATCH_ROWS,
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
    metric_kinds,
    model_run_rows,
    outcome_month_sample,
    to_utc_naive,
)
from flywheel_pipeline.insights._common import lift_at as lift_at  # re-exported
from flywheel_pipeline.insights.content_gaps import page_path
from flywheel_pipeline.insights.lead_rows import FEATURE_COLUMNS, LeadRows, load_frames

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

# the contacts' columns (lead_rows.FEATURE_COLUMNS) and the section of the landing page
CATEGORICAL = [*FEATURE_COLUMNS, "landing_section"]
NUMERIC = ["log_conversations", "has_conversation"]
SCORE_COLUMNS = ["contact_id", "lead_score", "data_through"]


@dataclass
class LeadScoreResult:
    model_runs: pd.DataFrame
    method: str  # what publishes: "calibrated_logistic" or "channel_rate"
    data_through: dt.date | None
    #: the open leads' scores (contact_id, lead_score, data_through) a batch at a time; on a
    #: warehouse, while its connection is open
    score_batches: Callable[[], Iterator[pd.DataFrame]] = field(repr=False)
    serving: Serving | None = None
    details: dict = field(default_factory=dict)

    @property
    def lead_scores(self) -> pd.DataFrame:
        """Every score in one frame (for a small shop: the warehouse writes the batches)."""
        return pd.concat(list(self.score_batches()), ignore_index=True)


# --------------------------------------------------------------------------------------------
# data preparation


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


def category_text(values: pd.Series) -> pd.Series:
    """A categorical feature's values as the model sees them: unknown and empty are
    ``(none)``."""
    return values.fillna("(none)").astype(str).replace("", "(none)")


def contact_features(contacts: pd.DataFrame, known_conversations) -> pd.DataFrame:
    """The :data:`CATEGORICAL` and :data:`NUMERIC` features of each contact (contact_id as
    the index), from its CRM fields and the number of its conversations known at its
    scoring time."""
    c = contacts  # read only: a copy would double the frame
    feats = pd.DataFrame(index=c["contact_id"].to_numpy())
    feats.index.name = "contact_id"
    for col in CATEGORICAL:
        if col == "landing_section":
            src = c.get("first_landing_page", pd.Series(index=c.index, dtype=object))
            # once per distinct page, not per lead (one shared string per section)
            values = src.map({page: landing_section(page) for page in src.dropna().unique()})
        else:
            values = c.get(col, pd.Series(index=c.index, dtype=object))
        feats[col] = category_text(values).to_numpy()
    counts = np.asarray(known_conversations, dtype=float)
    feats["log_conversations"] = np.log1p(counts)
    feats["has_conversation"] = (counts > 0).astype(float)
    return feats


def build_features(
    contacts: pd.DataFrame,
    conversations: pd.DataFrame | None,
    *,
    feature_window_days: int = FEATURE_WINDOW_DAYS,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Features of each lead as known at its scoring time ``created_at + window`` (what the
    warehouse computes in :mod:`.lead_rows`).

    ``as_of`` caps the scoring time (open leads younger than the window are scored with what
    is known at ``as_of``). Returns one row per contact_id (index) with :data:`CATEGORICAL`
    and :data:`NUMERIC` columns and ``scored_at``.
    """
    scored_at = to_utc_naive(contacts["created_at"]) + pd.Timedelta(days=feature_window_days)
    if as_of is not None:
        scored_at = scored_at.clip(upper=as_of)
    scored = pd.Series(scored_at.to_numpy(), index=contacts["contact_id"].to_numpy())
    counts = pd.Series(0, index=scored.index, dtype="int64")
    if conversations is not None and len(conversations):
        conv = conversations[["contact_id", "started_at"]].dropna().copy()
        conv["started_at"] = to_utc_naive(conv["started_at"])
        conv = conv.merge(scored.rename("scored_at"), left_on="contact_id", right_index=True)
        known = conv[conv["started_at"] < conv["scored_at"]]
        counts = known.groupby("contact_id").size().reindex(scored.index, fill_value=0)
    feats = contact_features(contacts, counts.to_numpy())
    feats["scored_at"] = scored.to_numpy()
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

    @classmethod
    def counted(cls, rows: LeadRows, below: int) -> ChannelRate:
        """Fitted on the labelled leads numbered below ``below``, counted in the warehouse
        (the channels as the features name them)."""
        counts = rows.label_counts("channel_group", below)
        keys = category_text(counts["value"]).to_numpy()
        counts = counts.groupby(keys)[["sum", "count"]].sum()
        return super().from_counts(counts["sum"], counts["count"], PRIOR_STRENGTH)


def _pipeline(n_train: int, random_state: int) -> CalibratedClassifierCV:
    min_frequency = max(5, int(0.005 * n_train))
    return calibrated_logistic(CATEGORICAL, NUMERIC, min_frequency=min_frequency, c=0.5, cv=3)


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return contact_features(frame, frame["known_conversations"].to_numpy())


def _fit(rows: LeadRows, y: np.ndarray, created: np.ndarray, max_train: int, seed: int):
    """The classifier fitted on at most ``max_train`` of the first ``len(y)`` labelled leads
    (``created``: their creation times): a label × month sample above it. Only the sample's
    features are read."""
    picked = outcome_month_sample(created[: len(y)], y, max_train, seed=seed)
    return _pipeline(len(picked), seed).fit(_features(rows.labelled_rows(picked)), y[picked])


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
    **options,
) -> LeadScoreResult:
    """Score every open lead (not a customer by ``data_through``) from frames, through the
    same warehouse pass as :func:`score_lead_rows` (an in-memory DuckDB).

    ``contacts``: contact_id, created_at, channel_group, source, medium, industry,
    company_size, country, first_landing_page (missing optional columns count as unknown).
    ``conversations``: contact_id, started_at. ``orders``: contact_id, ordered_at.
    ``options``: those of :func:`score_lead_rows`.
    """
    with duckdb.connect() as conn:
        relations = load_frames(conn, contacts, conversations, orders)
        result = score_lead_rows(conn, relations, **options)
        scores = result.lead_scores
    return replace(result, score_batches=lambda: iter([scores]))


def score_lead_rows(
    conn: duckdb.DuckDBPyConnection,
    relations: dict[str, str],
    *,
    data_through: dt.date | None = None,
    min_converted: int = MIN_CONVERTED,
    horizon_days: int = HORIZON_DAYS,
    feature_window_days: int = FEATURE_WINDOW_DAYS,
    holdout_fraction: float = HOLDOUT_FRACTION,
    age_adjust: bool = True,
    random_state: int = 0,
    max_train: int = MAX_TRAIN,
    batch_rows: int = SCORE_BATCH_ROWS,
) -> LeadScoreResult:
    """Score every open lead of ``relations`` (contacts, conversations, orders: relations of
    ``conn`` with the staging tables' columns; :func:`.lead_rows.warehouse_relations`).

    ``data_through`` defaults to the last date in the data; rows after it are ignored.
    ``max_train``: most leads the classifier fits on (a stratified sample above it).
    ``batch_rows``: leads whose features are in memory at once, to evaluate and to score.
    The scores are computed as :attr:`LeadScoreResult.score_batches` are read.
    """
    rows = LeadRows.prepare(
        conn,
        relations,
        data_through,
        horizon_days=horizon_days,
        feature_window_days=feature_window_days,
    )
    if rows is None:
        empty = pd.DataFrame(columns=SCORE_COLUMNS)
        day = as_date(data_through) if data_through else None
        return LeadScoreResult(empty_model_runs(), "none", day, lambda: iter([empty]))
    day = rows.data_through
    labels = rows.labels()
    created = labels["created_at"].to_numpy()
    y_all = labels["label"].to_numpy(dtype=int)
    n_pos = int(y_all.sum())

    # time split: the latest labelled cohort is the holdout
    n_hold = math.ceil(holdout_fraction * rows.labelled) if rows.labelled >= 10 else 0
    n_train = rows.labelled - n_hold
    y_train, y_hold = y_all[:n_train], y_all[n_train:]

    def holdout(predict) -> np.ndarray:
        """``predict(features)`` over the holdout, a batch at a time."""
        batches = rows.batches("labelled_row", n_train, rows.labelled, batch_rows)
        parts = [predict(_features(batch)) for batch in batches]
        return np.concatenate(parts) if parts else np.array([])

    baseline = ChannelRate.counted(rows, n_train)
    base_hold = holdout(lambda x: baseline.predict(x["channel_group"]))
    base_metrics = (
        classification_metrics(y_hold, base_hold)
        if n_hold
        else dict.fromkeys(classification_metrics([], []))
    )
    train_rate = float(y_train.mean()) if len(y_train) else math.nan
    hold_rate = float(y_hold.mean()) if len(y_hold) else math.nan
    cdf = _conversion_cdf(labels["days_to_convert"], horizon_days)

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
        model = _fit(rows, y_train, created, max_train, random_state)
        p_hold = holdout(lambda x: model.predict_proba(x)[:, 1])
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
        final = _fit(rows, y_all, created, max_train, random_state)

        def predict(x: pd.DataFrame) -> np.ndarray:
            return final.predict_proba(x)[:, 1]
    else:
        method = "channel_rate"
        fallback = ChannelRate.counted(rows, rows.labelled)
        if rows.labelled == 0:  # nothing labelled yet: share of all leads who ever converted
            fallback.overall = rows.converted_share()

        def predict(x: pd.DataFrame) -> np.ndarray:
            return fallback.predict(x["channel_group"])

    stop = pd.Timestamp(end_of_day(day))

    def score_batches() -> Iterator[pd.DataFrame]:
        batches = rows.batches("open_row", 0, rows.open, batch_rows)
        for batch in batches:
            p = predict(_features(batch))
            if age_adjust and len(p):
                age = ((stop - batch["created_at"]).dt.total_seconds() / 86400).to_numpy()
                p = _age_adjust(p, age, cdf, horizon_days)
            yield pd.DataFrame(
                {
                    "contact_id": batch["contact_id"].to_numpy(),
                    "lead_score": np.clip(p, 0, 1).astype(float),
                    "data_through": day,
                },
                columns=SCORE_COLUMNS,
            )
        if rows.open == 0:
            yield pd.DataFrame(columns=SCORE_COLUMNS)

    runs = model_run_rows(
        MODEL_NAME,
        day,
        train_rows=n_train,
        holdout_rows=n_hold,
        metrics=metrics,
        serving=serving,
        kinds=METRIC_KINDS,
    )
    return LeadScoreResult(
        model_runs=runs,
        method=method,
        data_through=day,
        score_batches=score_batches,
        serving=serving,
        details={
            **details,
            "labelled": rows.labelled,
            "converted": n_pos,
            "holdout_from": pd.Timestamp(created[n_train]) if n_hold else None,
        },
    )
