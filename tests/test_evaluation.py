"""`flywheel evaluate`: scores against planted truths, on a small hand-made warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from flywheel_pipeline.cli import main
from flywheel_pipeline.evaluation.planted import (
    EVALUATION_TABLE,
    NotADemoWarehouse,
    evaluate,
    record_evaluation,
    targets_met,
)
from flywheel_pipeline.insights._common import champion, model_run_rows
from flywheel_pipeline.warehouse import connect, replace_table

THROUGH = dt.date(2026, 9, 30)
PLANTED = ["returns", "bulk", "care", "tracking"]  # bulk and care have no help page


def _conversations(found: list[int | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ten conversations per planted topic; `found` gives the published topic of each block."""
    ids = [f"c{i:03d}" for i in range(10 * len(PLANTED))]
    truth = pd.DataFrame(
        {"conversation_id": ids, "topic_key": [k for k in PLANTED for _ in "x" * 10]}
    )
    assigned = pd.DataFrame(
        {"conversation_id": ids, "topic_id": [t for t in found for _ in "x" * 10]}
    ).dropna()
    return truth, assigned


def _runs(model: str, metric: str, model_value: float, baseline: float, higher: bool):
    serving = champion(metric, model_value, baseline, higher_is_better=higher)
    return model_run_rows(model, THROUGH, 100, 20, [(metric, model_value, baseline)], serving)


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    _plant(conn)
    return conn


def _plant(conn: duckdb.DuckDBPyConnection) -> None:
    """A published model of each kind beside its planted truth."""
    truth, assigned = _conversations([1, 2, 3, 3])  # care and tracking merged into topic 3
    tables = {
        "demo_truth.run": pd.DataFrame(
            {"seed": [7], "scale": [1.0], "end_date": [pd.Timestamp(THROUGH)]}
        ),
        "demo_truth.conversation_topics": truth,
        "demo_truth.topics": pd.DataFrame(
            {"topic_key": PLANTED, "is_content_gap": [False, True, True, False]}
        ),
        "intermediate.int_conversations__texts": truth[["conversation_id"]],
        "ml.conversation_topic_assignments": assigned.astype({"topic_id": "int64"}),
        # topic 2 (bulk) flagged rightly, topic 1 (returns, which has a help page) wrongly
        "ml.conversation_topics": pd.DataFrame(
            {"topic_id": [1, 2, 3], "is_content_gap": [True, True, False]}
        ),
        # the deal model loses: the baseline serves and its figures are the published ones
        "ml.deal_scoring_runs": pd.concat(
            [
                _runs("deal_scoring", "auc", 0.60, 0.65, True),
                _runs("deal_scoring", "brier", 0.25, 0.23, False),
            ]
        ),
        "ml.deal_scores": pd.DataFrame({"deal_id": ["d1", "d2"], "win_probability": [0.8, 0.2]}),
        "demo_truth.deals": pd.DataFrame(
            {"deal_id": ["d1", "d2"], "will_win": [True, False], "p_win": [0.7, 0.3]}
        ),
        "ml.lead_scoring_runs": _runs("lead_scoring", "auc", 0.75, 0.70, True),
        "ml.lead_scores": pd.DataFrame(
            {"contact_id": ["a", "b", "c"], "lead_score": [0.1, 0.5, 0.9]}
        ),
        "demo_truth.leads": pd.DataFrame(
            {"contact_id": ["a", "b", "c"], "p_convert_90d": [0.2, 0.4, 0.8]}
        ),
        "ml.customer_value_runs": _runs("customer_value", "correlation", 0.5, 0.3, True),
        "ml.customer_value": pd.DataFrame(
            {"contact_id": ["a", "b", "c"], "predicted_orders_90d": [0.1, 1.0, 2.0]}
        ),
        "demo_truth.customers": pd.DataFrame(
            {"contact_id": ["a", "b", "c"], "expected_orders_90d": [0.2, 0.8, 2.5]}
        ),
        "ml.search_ctr_curve_runs": _runs(
            "search_ctr_curve", "ctr_mae_weighted", 0.01, 0.02, False
        ),
        # 3 flagged: 2 planted, 1 not; 1 planted missed
        "ml.search_opportunities": pd.DataFrame(
            {
                "query": ["q1", "q2", "q3", "q4"],
                "page": ["p"] * 4,
                "opportunity_type": ["ctr_underperformer"] * 3 + ["striking_distance"],
            }
        ),
        "demo_truth.queries": pd.DataFrame(
            {
                "query": ["q1", "q2", "q3", "q4", "shop"],
                "page": ["p"] * 5,
                "is_under_performer": [True, True, False, True, False],
                "query_kind": ["product"] * 4 + ["brand"],
            }
        ),
        "ml.recommendation_candidates": pd.DataFrame(
            {"type": ["rewrite_title", "rewrite_title"], "target_id": ["q1", "shop"]}
        ),
    }
    for relation, frame in tables.items():
        replace_table(conn, relation, frame)


def _scores(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(["model", "metric"])


def test_topics_and_content_gaps_are_scored_against_the_planted_topics(warehouse) -> None:
    scores = _scores(evaluate(warehouse))
    nmi = scores.loc[("conversation_topics", "nmi")]
    assert 0.5 < nmi["value"] < 1 and nmi["passed"] == (nmi["value"] >= 0.8)
    assert scores.loc[("conversation_topics", "unassigned_share"), "value"] == 0
    assert scores.loc[("conversation_topics", "topics_found"), "value"] == 3
    # topic 2 stands for bulk (a planted gap); topic 1 (returns) has a help page
    assert scores.loc[("content_gaps", "planted_gaps_flagged"), "value"] == 1
    assert scores.loc[("content_gaps", "help_page_topics_flagged"), "value"] == 1
    assert not scores.loc[("content_gaps", "planted_gaps_flagged"), "passed"]


def test_an_unassigned_conversation_counts_against_the_topics(warehouse) -> None:
    _, assigned = _conversations([1, 2, 3, None])
    replace_table(warehouse, "ml.conversation_topic_assignments", assigned)
    scores = _scores(evaluate(warehouse))
    assert scores.loc[("conversation_topics", "unassigned_share"), "value"] == 0.25
    assert not scores.loc[("conversation_topics", "unassigned_share"), "passed"]


def test_published_scores_are_the_baselines_when_the_baseline_serves(warehouse) -> None:
    scores = _scores(evaluate(warehouse))
    auc = scores.loc[("deal_scoring", "holdout_auc_published")]
    assert auc["value"] == auc["target"] == 0.65 and auc["passed"]
    brier = scores.loc[("deal_scoring", "holdout_brier_published")]
    assert brier["value"] == brier["target"] == 0.23 and brier["passed"]
    assert scores.loc[("deal_scoring", "model_serves"), "value"] == 0
    lead = scores.loc[("lead_scoring", "holdout_auc_published")]
    assert lead["value"] == 0.75 and lead["target"] == 0.70 and lead["passed"]


def test_search_precision_recall_and_brand_rewrites(warehouse) -> None:
    scores = _scores(evaluate(warehouse))
    assert scores.loc[("search_opportunities", "ctr_underperformer_precision"), "value"] == 2 / 3
    assert scores.loc[("search_opportunities", "ctr_underperformer_recall"), "value"] == 2 / 3
    brand = scores.loc[("search_opportunities", "brand_query_title_rewrites")]
    assert brand["value"] == 1 and not brand["passed"]


def test_the_evaluation_is_recorded_once_per_data_through(warehouse) -> None:
    frame = evaluate(warehouse)
    record_evaluation(warehouse, frame)
    record_evaluation(warehouse, frame)
    stored = warehouse.execute(f"select * from {EVALUATION_TABLE}").df()
    assert len(stored) == len(frame)
    assert set(stored["seed"]) == {7} and set(stored["scale"]) == {1.0}
    met, stated = targets_met(stored)
    assert 0 < met < stated == frame["comparator"].notna().sum()


def test_a_warehouse_without_planted_truths_is_refused() -> None:
    with pytest.raises(NotADemoWarehouse, match="flywheel demo"):
        evaluate(duckdb.connect())


def test_the_command_prints_the_table_records_it_and_rebuilds_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "warehouse" / "warehouse.duckdb"
    database.parent.mkdir()
    with connect(database) as conn:
        _plant(conn)
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["evaluate"])
    assert result.exit_code == 0, result.output
    assert "Demo seed 7, scale 1, data through 2026-09-30" in result.output
    assert "ctr_underperformer_precision" in result.output
    assert "targets met." in result.output
    with connect(database, read_only=True) as conn:
        assert conn.execute(f"select count(*) from {EVALUATION_TABLE}").fetchone()[0] > 10
    report = (tmp_path / "reports" / "flywheel.html").read_text()
    assert "every model against the planted truths" in report
    assert "data through 2026-09-30:" in report


def test_the_command_refuses_a_live_warehouse(tmp_path: Path, monkeypatch) -> None:
    database = tmp_path / "warehouse" / "warehouse.duckdb"
    database.parent.mkdir()
    duckdb.connect(str(database)).close()  # an empty warehouse: no demo ever ran
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["evaluate"])
    assert result.exit_code == 1 and "no planted truths" in result.output
