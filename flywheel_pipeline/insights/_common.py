"""Small helpers shared by the insight models: dates, run ids, ``model_runs`` rows, and the
classification metrics and smoothed-rate baseline the scoring models share."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from flywheel_pipeline.tables import (
    DESCRIPTIVE,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRIC_KINDS,
    RUNS,
)

# every ml.<model>_runs table has the same columns
MODEL_RUNS_COLUMNS = RUNS["lead_scoring"].column_names

_RUN_TYPES = {
    "train_rows": "int64",
    "holdout_rows": "int64",
    "metric_kind": "string",
    "served_by": "string",
    "serving_reason": "string",
}

# Run facts every model may report: 1 when the cold-start fallback served.
RUN_FACT_KINDS = {"cold_start": DESCRIPTIVE}

SERVED_BY_MODEL = "model"
SERVED_BY_BASELINE = "baseline"
SERVED_BY_RULES = "rules"


def to_utc_naive(values: pd.Series) -> pd.Series:
    """Parse timestamps and normalise them to naive UTC (the warehouse convention)."""
    parsed = pd.to_datetime(values, utc=True, errors="coerce")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def frame_table(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> str:
    """``frame`` as the temporary table ``name`` of ``conn``, its timestamps (the columns
    named ``*_at``) as naive UTC: how a model's frame entry point hands frames to the
    warehouse path it shares with the asset. Returns ``name``."""
    frame = frame.assign(**{c: to_utc_naive(frame[c]) for c in frame.columns if c.endswith("_at")})
    conn.register("insight_frame", frame)
    try:
        conn.execute(f"create or replace temp table {name} as from insight_frame")
    finally:
        conn.unregister("insight_frame")
    return name


def as_date(value: object) -> dt.date:
    """A date from a date, datetime, Timestamp or ISO string."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(str(value)).date()


def max_date(*series: pd.Series) -> dt.date | None:
    """The latest date across timestamp series (``data_through``), ``None`` when all are empty."""
    latest: pd.Timestamp | None = None
    for s in series:
        if s is None or len(s) == 0:
            continue
        m = to_utc_naive(pd.Series(s)).max()
        if pd.notna(m) and (latest is None or m > latest):
            latest = m
    return None if latest is None else latest.date()


def end_of_day(day: dt.date) -> pd.Timestamp:
    """The first instant after ``day`` (exclusive upper bound for "up to and including day")."""
    return pd.Timestamp(day) + pd.Timedelta(days=1)


def stable_hash(*parts: object, length: int = 16) -> str:
    """A deterministic hex digest of the parts (joined with ``|``)."""
    text = "|".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def run_id(model: str, data_through: dt.date) -> str:
    """Deterministic run id: the same model on the same data_through gets the same id."""
    day = as_date(data_through)
    return f"{model}-{day.isoformat()}-{stable_hash(model, day)[:8]}"


def _num(value: object) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Serving:
    """Which scorer publishes the run's predictions, and why (repeated on every metric row)."""

    served_by: str  # SERVED_BY_MODEL, SERVED_BY_BASELINE or SERVED_BY_RULES
    reason: str


def champion(
    metric: str,
    model_value: float,
    baseline_value: float,
    *,
    higher_is_better: bool = True,
    also: Iterable[tuple[str, float, float, bool]] = (),
) -> Serving:
    """Champion/challenger on the holdout's primary metric: the model serves only when it
    beats its naive baseline; a tie, a loss or a metric that cannot be computed lets the
    baseline serve, and the reason says which and by how much.

    ``also``: further ``(metric, model_value, baseline_value, higher_is_better)`` the model
    must beat the baseline on too (e.g. a probability model's Brier score beside its AUC).
    """
    criteria = [(metric, model_value, baseline_value, higher_is_better), *also]
    for name, value, base, _ in criteria:
        if not (math.isfinite(_num(value)) and math.isfinite(_num(base))):
            return Serving(
                SERVED_BY_BASELINE,
                f"holdout {name} could not be computed (model {value}, "
                f"baseline {base}): the baseline serves",
            )
    clauses, wins_all = [], True
    for name, value, base, higher in criteria:
        wins = value > base if higher else value < base
        wins_all &= wins
        clauses.append(
            f"holdout {name}: model {value:.4f} {'beats' if wins else 'does not beat'} "
            f"baseline {base:.4f} ({'higher' if higher else 'lower'} is better)"
        )
    return Serving(
        SERVED_BY_MODEL if wins_all else SERVED_BY_BASELINE,
        f"{'; '.join(clauses)}: the {'model' if wins_all else 'baseline'} serves",
    )


def cold_start_serving(reason: str) -> Serving:
    """The documented rule-based fallback serves: too little data to train and test a model."""
    return Serving(SERVED_BY_RULES, f"cold start: {reason}; the rule-based fallback serves")


def metric_kinds(*declared: Mapping[str, str]) -> dict[str, str]:
    """One model's metric -> metric_kind: the run facts and the classification metrics every
    scorer shares, then the model's own (``declared``, beside where it computes them)."""
    kinds = {**RUN_FACT_KINDS, **CLASSIFICATION_METRIC_KINDS}
    for more in declared:
        kinds.update(more)
    unknown = {name: kind for name, kind in kinds.items() if kind not in METRIC_KINDS}
    if unknown:
        raise ValueError(f"metric kinds must be one of {METRIC_KINDS}: {unknown}")
    return kinds


def model_run_rows(
    model: str,
    data_through: dt.date,
    train_rows: int,
    holdout_rows: int,
    metrics: Iterable[tuple[str, object, object]],
    serving: Serving | None = None,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``model_runs`` rows, one per ``(metric, value, baseline_value)``.

    ``trained_at`` is ``data_through`` (a timestamp at midnight) so replays reproduce, and
    ``run_id`` is a hash of the model name and ``data_through``. ``serving`` says which
    scorer publishes (None: the model has no naive challenger, e.g. topics). ``kinds``: the
    model's :func:`metric_kinds` (default: the shared ones); a metric missing from it gets a
    null ``metric_kind`` and never counts as model quality.
    """
    kinds = metric_kinds() if kinds is None else kinds
    day = as_date(data_through)
    rows = [
        {
            "run_id": run_id(model, day),
            "model": model,
            "trained_at": pd.Timestamp(day),
            "train_rows": int(train_rows),
            "holdout_rows": int(holdout_rows),
            "metric": name,
            "metric_kind": kinds.get(name),
            "value": _num(value),
            "baseline_value": _num(baseline),
            "data_through": day,
            "served_by": serving.served_by if serving else None,
            "serving_reason": serving.reason if serving else None,
        }
        for name, value, baseline in metrics
    ]
    frame = pd.DataFrame(rows, columns=MODEL_RUNS_COLUMNS)
    return frame.astype(_RUN_TYPES)


def empty_model_runs() -> pd.DataFrame:
    return pd.DataFrame(columns=MODEL_RUNS_COLUMNS)


def lift_at(y: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate among the top ``fraction`` by score over the overall positive rate.
    Ties at the cut-off count proportionally (a constant score has lift 1)."""
    y, score = np.asarray(y, float), np.asarray(score, float)
    n = len(y)
    if n == 0 or y.mean() == 0:
        return math.nan
    n_top = max(1, math.ceil(fraction * n))
    order = np.argsort(-score, kind="stable")
    cut = score[order[n_top - 1]]
    above = score > cut
    tie = score == cut
    positives = y[above].sum() + (n_top - above.sum()) * y[tie].mean()
    return float((positives / n_top) / y.mean())


CLASSIFICATION_METRIC_KINDS = {
    "auc": HIGHER_IS_BETTER,
    "brier": LOWER_IS_BETTER,
    "lift_top_decile": HIGHER_IS_BETTER,
}


def classification_metrics(y, p) -> dict[str, float]:
    """Holdout ROC AUC, Brier score and top-decile lift (NaN where undefined)."""
    y = np.asarray(y)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
        "lift_top_decile": lift_at(y, p, 0.1) if both else math.nan,
    }


class GroupRate:
    """Naive model: the positive rate of each group, shrunk towards the overall rate by a
    Beta prior worth ``strength`` observations (unseen groups get the overall rate)."""

    def __init__(self, rates: dict, overall: float) -> None:
        self.rates = rates
        self.overall = overall

    @classmethod
    def fit(cls, groups: pd.Series, y: pd.Series, strength: float = 20.0):
        y = pd.Series(np.asarray(y, float), index=groups.index)
        overall = float(y.mean()) if len(y) else 0.0
        grouped = y.groupby(groups.to_numpy()).agg(["sum", "count"])
        rates = ((grouped["sum"] + strength * overall) / (grouped["count"] + strength)).to_dict()
        return cls(rates, overall)

    @classmethod
    def from_counts(cls, positives: pd.Series, counts: pd.Series, strength: float = 20.0):
        """As :meth:`fit`, from the positives and the count of each group (the index)."""
        n = int(counts.sum())
        overall = float(positives.sum() / n) if n else 0.0
        rates = ((positives.astype(float) + strength * overall) / (counts + strength)).to_dict()
        return cls(rates, overall)

    def predict(self, groups: pd.Series) -> np.ndarray:
        return groups.map(self.rates).fillna(self.overall).to_numpy(dtype=float)


def calibrated_logistic(
    categorical: list[str],
    numeric: list[str],
    *,
    min_frequency: int,
    c: float,
    cv: object,
) -> CalibratedClassifierCV:
    """One-hot categories (rare ones pooled) and scaled numbers into a regularised logistic
    regression, calibrated by Platt scaling over `cv` — the lead and deal scorers' model."""
    pre = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency),
                categorical,
            ),
            ("num", StandardScaler(), numeric),
        ]
    )
    base = Pipeline([("pre", pre), ("clf", LogisticRegression(C=c, max_iter=2000))])
    return CalibratedClassifierCV(base, method="sigmoid", cv=cv)


def stratified_sample(strata, cap: int, *, seed: int = 0) -> np.ndarray:
    """Positions (sorted) of a seeded sample of at most ``cap`` rows in which every stratum
    keeps its share of the rows (quotas by largest remainder, so a stratum of any size keeps
    at least its rounded share); every position when there are no more than ``cap`` rows.

    ``strata``: one label per row (e.g. the outcome, or outcome × month). The models train
    on such a sample once more rows no longer improve their holdout (see
    ``benchmarks/learning_curves.py``): the fit stays bounded however large the shop.
    """
    keys = pd.Series(np.asarray(strata, dtype=object)).astype(str)
    n = len(keys)
    if n <= cap:
        return np.arange(n)
    codes, uniques = pd.factorize(keys, sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    exact = cap * counts / n
    quotas = np.floor(exact).astype(np.int64)
    short = cap - int(quotas.sum())
    if short > 0:  # largest remainders first, ties by stratum order (deterministic)
        order = np.lexsort((np.arange(len(exact)), -(exact - quotas)))
        quotas[order[:short]] += 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(codes == k), size=int(q), replace=False)
        for k, q in enumerate(quotas)
        if q
    ]
    return np.sort(np.concatenate(picked)) if picked else np.arange(0)


def outcome_month_sample(created, y, cap: int, *, seed: int = 0) -> np.ndarray:
    """:func:`stratified_sample` of training units (leads, deals) by outcome × creation
    month, so that a capped sample keeps both the base rate and the mix of cohorts."""
    months = pd.to_datetime(pd.Series(np.asarray(created))).dt.strftime("%Y-%m").fillna("")
    strata = pd.Series(np.asarray(y)).astype(str).str.cat(months.to_numpy(), sep="|")
    return stratified_sample(strata, cap, seed=seed)


#: Rows scored at once: a model's transient design matrices stay bounded.
SCORE_BATCH_ROWS = 100_000
