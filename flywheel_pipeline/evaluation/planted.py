"""Every model against the planted truths: `flywheel evaluate` and `flywheel.model_evaluation`.

Each check reads what the pipeline *published* (schema ``ml``) and what the simulator planted
(schema ``demo_truth``), and states a target from issue #9 ("Insights a marketer can trust"):

| model | metric | target |
|---|---|---|
| conversation_topics | nmi, ari (unassigned conversations: one more topic) | ≥ 0.80, ≥ 0.60 |
| conversation_topics | unassigned_share | ≤ 0.10 |
| content_gaps | planted_gaps_flagged (a topic stands for its majority planted topic) | ≥ 3 |
| content_gaps | help_page_topics_flagged | ≤ 1 |
| deal_scoring, lead_scoring | holdout AUC of the published scores | ≥ the baseline's |
| deal_scoring | holdout Brier of the published scores | ≤ the baseline's |
| customer_value | holdout correlation of the published predictions | ≥ the baseline's |
| search_ctr_curve | holdout weighted CTR MAE of the published curve | ≤ the prior's |
| search_opportunities | CTR under-performer precision, recall | ≥ 0.70, ≥ 0.80 |
| search_opportunities | brand_query_title_rewrites | ≤ 0 |

Rows without a target (``comparator`` empty) describe: how close the published scores come to
the planted probabilities, how many topics were found, which scorer serves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score

from flywheel_pipeline.insights.runs import latest_run
from flywheel_pipeline.warehouse import read_relation, read_relation_if_exists, replace_rows

EVALUATION_TABLE = "flywheel.model_evaluation"
EVALUATION_COLUMNS = [
    "model",
    "metric",
    "value",
    "comparator",
    "target",
    "passed",
    "seed",
    "scale",
    "data_through",
]
UNASSIGNED = -1


@dataclass(frozen=True)
class Score:
    model: str
    metric: str
    value: float
    comparator: str = ""  # ">=", "<=" or "" (descriptive: no target)
    target: float = math.nan

    @property
    def passed(self) -> bool | None:
        if not self.comparator:
            return None
        if not (math.isfinite(self.value) and math.isfinite(self.target)):
            return False
        return self.value >= self.target if self.comparator == ">=" else self.value <= self.target


class NotADemoWarehouse(RuntimeError):
    """The warehouse holds no planted truths (live mode, or the demo never ran)."""


# --------------------------------------------------------------------------------------------
# topics and content gaps


def _topics_with_truth(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every conversation the pipeline received: its published topic (UNASSIGNED when none)
    and its planted topic_key."""
    # joined in the warehouse: only the two label columns travel (millions of rows at scale)
    frame = conn.execute(
        "select truth.topic_key, published.topic_id "
        "from intermediate.int_conversations__texts received "
        "join demo_truth.conversation_topics truth using (conversation_id) "
        "left join ml.conversation_topic_assignments published using (conversation_id)"
    ).df()
    frame["topic_id"] = frame["topic_id"].fillna(UNASSIGNED).astype("int64")
    return frame


def _topic_scores(frame: pd.DataFrame) -> Iterator[Score]:
    model = "conversation_topics"
    found = frame["topic_id"]
    yield Score(model, "nmi", normalized_mutual_info_score(frame["topic_key"], found), ">=", 0.80)
    yield Score(model, "ari", adjusted_rand_score(frame["topic_key"], found), ">=", 0.60)
    yield Score(model, "unassigned_share", float((found == UNASSIGNED).mean()), "<=", 0.10)
    yield Score(model, "topics_found", float(found[found != UNASSIGNED].nunique()))
    yield Score(model, "topics_planted", float(frame["topic_key"].nunique()))


def majority_topic_keys(frame: pd.DataFrame) -> pd.Series:
    """topic_id -> the planted topic_key most of its conversations carry."""
    assigned = frame[frame["topic_id"] != UNASSIGNED]
    counts = assigned.groupby(["topic_id", "topic_key"]).size().rename("n").reset_index()
    top = counts.sort_values(["topic_id", "n", "topic_key"], ascending=[True, False, True])
    return top.drop_duplicates("topic_id").set_index("topic_id")["topic_key"]


def _content_gap_scores(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> Iterator[Score]:
    model = "content_gaps"
    topics = read_relation(conn, "ml.conversation_topics")
    planted = read_relation(conn, "demo_truth.topics").set_index("topic_key")
    flagged = topics.loc[topics["is_content_gap"].fillna(False).astype(bool), "topic_id"]
    keys = flagged.map(majority_topic_keys(frame)).dropna()
    is_gap = keys.map(planted["is_content_gap"]).astype(bool)
    yield Score(model, "planted_gaps_flagged", float(keys[is_gap].nunique()), ">=", 3)
    yield Score(model, "planted_gaps", float(planted["is_content_gap"].sum()))
    yield Score(model, "help_page_topics_flagged", float((~is_gap).sum()), "<=", 1)


# --------------------------------------------------------------------------------------------
# scorers: the holdout metric of what is published, against the naive baseline


def _published(runs: pd.DataFrame, metric: str) -> tuple[float, float]:
    """(value of the scorer that serves, the baseline's value) of one holdout metric."""
    if metric not in runs.index:
        return math.nan, math.nan
    row = runs.loc[metric]
    baseline = float(row["baseline_value"])
    served_by = row.get("served_by")
    return (baseline if served_by == "baseline" else float(row["value"])), baseline


def _holdout_scores(
    conn: duckdb.DuckDBPyConnection, model: str, checks: list[tuple[str, str]]
) -> Iterator[Score]:
    runs = latest_run(conn, model)
    for metric, comparator in checks:
        published, baseline = _published(runs, metric)
        yield Score(model, f"holdout_{metric}_published", published, comparator, baseline)
    served = runs.get("served_by", pd.Series(dtype="string")).dropna()
    yield Score(model, "model_serves", float(not served.empty and served.iloc[0] == "model"))


def _auc(y: pd.Series, score: pd.Series) -> float:
    return float(roc_auc_score(y, score)) if y.nunique() == 2 else math.nan


def _correlation(a: pd.Series, b: pd.Series) -> float:
    return (
        float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and a.std() > 0 and b.std() > 0 else math.nan
    )


@dataclass(frozen=True)
class _Scorer:
    """A scoring model: its holdout checks, and its published scores beside the planted truth
    (each comparison: metric name, function of (truth, published), truth and score columns)."""

    model: str
    holdout: list[tuple[str, str]]
    published: str
    truth: str
    key: str
    against_truth: list[tuple[str, Callable[[pd.Series, pd.Series], float], str, str]]


SCORERS = [
    _Scorer(
        "deal_scoring",
        [("auc", ">="), ("brier", "<=")],
        "ml.deal_scores",
        "demo_truth.deals",
        "deal_id",
        [
            ("open_deals_auc_vs_planted_outcome", _auc, "will_win", "win_probability"),
            ("open_deals_correlation_with_planted_p_win", _correlation, "p_win", "win_probability"),
        ],
    ),
    _Scorer(
        "lead_scoring",
        [("auc", ">=")],
        "ml.lead_scores",
        "demo_truth.leads",
        "contact_id",
        [
            (
                "open_leads_correlation_with_planted_p_convert",
                _correlation,
                "p_convert_90d",
                "lead_score",
            )
        ],
    ),
    _Scorer(
        "customer_value",
        [("correlation", ">=")],
        "ml.customer_value",
        "demo_truth.customers",
        "contact_id",
        [
            (
                "correlation_with_planted_expected_orders_90d",
                _correlation,
                "expected_orders_90d",
                "predicted_orders_90d",
            )
        ],
    ),
]


def _scorer_scores(conn: duckdb.DuckDBPyConnection, scorer: _Scorer) -> Iterator[Score]:
    yield from _holdout_scores(conn, scorer.model, scorer.holdout)
    # only the key and the compared columns (the published and truth tables are per contact)
    truths = [scorer.key, *dict.fromkeys(t for _, _, t, _ in scorer.against_truth)]
    scores = [scorer.key, *dict.fromkeys(p for _, _, _, p in scorer.against_truth)]
    scored = (
        conn.execute(f"select {', '.join(scores)} from {scorer.published}")
        .df()
        .merge(conn.execute(f"select {', '.join(truths)} from {scorer.truth}").df(), on=scorer.key)
    )
    for metric, compare, truth, published in scorer.against_truth:
        yield Score(scorer.model, metric, compare(scored[truth], scored[published]))


# --------------------------------------------------------------------------------------------
# search


def _search_scores(conn: duckdb.DuckDBPyConnection) -> Iterator[Score]:
    yield from _holdout_scores(conn, "search_ctr_curve", [("ctr_mae_weighted", "<=")])
    truth = read_relation(conn, "demo_truth.queries")
    found = read_relation(conn, "ml.search_opportunities")
    flagged = found.loc[found["opportunity_type"] == "ctr_underperformer", ["query", "page"]]
    flagged = flagged.drop_duplicates().merge(truth, on=["query", "page"], how="left")
    planted = int(truth["is_under_performer"].sum())
    hits = int(flagged["is_under_performer"].fillna(False).sum())
    model = "search_opportunities"
    yield Score(model, "ctr_underperformers_flagged", float(len(flagged)))
    yield Score(model, "ctr_underperformers_planted", float(planted))
    yield Score(
        model,
        "ctr_underperformer_precision",
        hits / len(flagged) if len(flagged) else math.nan,
        ">=",
        0.70,
    )
    yield Score(
        model, "ctr_underperformer_recall", hits / planted if planted else math.nan, ">=", 0.80
    )
    candidates = read_relation_if_exists(conn, "ml.recommendation_candidates")
    brand = set(truth.loc[truth["query_kind"] == "brand", "query"])
    rewrites = 0
    if candidates is not None:
        titles = candidates[candidates["type"] == "rewrite_title"]
        rewrites = int(titles["target_id"].isin(brand).sum())
    yield Score(model, "brand_query_title_rewrites", float(rewrites), "<=", 0)


# --------------------------------------------------------------------------------------------
# the whole evaluation


def _all_scores(conn: duckdb.DuckDBPyConnection) -> Iterator[Score]:
    topics = _topics_with_truth(conn)
    yield from _topic_scores(topics)
    yield from _content_gap_scores(conn, topics)
    for scorer in SCORERS:
        yield from _scorer_scores(conn, scorer)
    yield from _search_scores(conn)


def evaluate(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Score every published model against the planted truths (rows of EVALUATION_COLUMNS)."""
    if read_relation_if_exists(conn, "demo_truth.run") is None:
        raise NotADemoWarehouse(
            "this warehouse has no planted truths (schema demo_truth): `flywheel evaluate` "
            "scores the demo business only; run `flywheel demo` first"
        )
    run = read_relation(conn, "demo_truth.run").iloc[0]
    through = pd.Timestamp(run["end_date"]).date()
    rows = [
        {
            "model": s.model,
            "metric": s.metric,
            "value": s.value,
            "comparator": s.comparator or None,
            "target": s.target,
            "passed": s.passed,
            "seed": int(run["seed"]),
            "scale": float(run["scale"]),
            "data_through": through,
        }
        for s in _all_scores(conn)
    ]
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS).astype(
        {"value": "float64", "target": "float64", "passed": "boolean", "seed": "int64"}
    )


def record_evaluation(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Keep one evaluation per data_through in EVALUATION_TABLE (a rerun replaces its own)."""
    days = sorted(set(frame["data_through"]))
    replace_rows(conn, EVALUATION_TABLE, frame, key_column="data_through", keys=days)


def targets_met(frame: pd.DataFrame) -> tuple[int, int]:
    """(targets met, targets stated) of an evaluation."""
    judged = frame["passed"].dropna()
    return int(judged.sum()), len(judged)
