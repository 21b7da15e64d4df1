"""The registry of the tables that cross a layer (flywheel_pipeline/tables.py) is the one place
the `ml` contract is stated: the dbt sources and the ml staging models are generated from it,
docs/contracts.md and the Python assets agree with it, and a writer that drifts from it fails
loudly."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import re
from pathlib import Path
from types import ModuleType

import dagster as dg
import duckdb
import pandas as pd
import pytest

from flywheel_pipeline import tables
from flywheel_pipeline.insights import assets as insight_assets
from flywheel_pipeline.insights import (
    content_gaps,
    customer_value,
    deal_scoring,
    lead_scoring,
    search_opportunities,
    topics,
)
from flywheel_pipeline.recommendations import _lift
from flywheel_pipeline.recommendations import assets as recommendation_assets
from flywheel_pipeline.tables import TableContractError

CONTRACTS = Path(__file__).resolve().parent.parent / "docs" / "contracts.md"
ASSET_MODULES = (insight_assets, recommendation_assets)
# What each Python asset reads upstream, as its module declares it.
READS: dict[dg.AssetsDefinition, tuple[tables.Table, ...]] = {
    insight_assets.conversation_topic_model: insight_assets.TOPIC_READS,
    insight_assets.lead_scoring_model: insight_assets.LEAD_READS,
    insight_assets.deal_scoring_model: insight_assets.DEAL_READS,
    insight_assets.customer_value_model: insight_assets.VALUE_READS,
    insight_assets.search_opportunity_model: insight_assets.SEARCH_READS,
    recommendation_assets.recommendation_candidates: recommendation_assets.CANDIDATE_READS,
    recommendation_assets.recommendation_outcomes: recommendation_assets.OUTCOME_READS,
}
REGISTERED = {
    name: value for name, value in vars(tables).items() if isinstance(value, tables.Table)
}


# --- dbt sources, staging models and docs ---------------------------------------------------


REGENERATE = "run `python -m flywheel_pipeline.tables --write-dbt` (make generate)"
DBT_MODELS = tables.DBT_STAGING_DIR.parent


@pytest.mark.parametrize(
    "path", list(tables.dbt_files()), ids=lambda path: path.relative_to(DBT_MODELS).as_posix()
)
def test_dbt_sources_and_staging_of_ml_are_generated_from_the_registry(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(DBT_MODELS)} is missing: {REGENERATE}"
    assert path.read_text() == tables.dbt_files()[path], (
        f"{path.relative_to(DBT_MODELS)} differs from flywheel_pipeline/tables.py: {REGENERATE}"
    )


def test_no_ml_staging_model_outlives_its_table() -> None:
    assert tables.stale_dbt_files() == [], f"not in the registry: {REGENERATE}"


def test_only_the_ml_staging_models_read_the_ml_sources() -> None:
    """Models (and their unit tests) read an `ml` table through its staging model
    (ref('stg_ml__<table>')), which casts it to the registry's types, never the source
    itself. Exposures may name a source: the HTML report reads tables no mart carries."""
    reads = {
        ".sql": re.compile(r"source(_or_empty)?\(\s*['\"]ml['\"]"),
        ".yml": re.compile(r"input:\s*source\(\s*['\"]ml['\"]"),
    }
    staging = {path for path in tables.dbt_files() if path.suffix == ".sql"}
    for path in sorted(DBT_MODELS.rglob("*")):
        if path.suffix in reads and path not in staging:
            assert not reads[path.suffix].search(path.read_text()), f"{path} reads an ml source"
    staged = {table.name for table in tables.ML_TABLES if table.staged}
    assert {path.stem.removeprefix("stg_ml__") for path in staging} == staged


def test_model_runs_unions_every_runs_table_of_the_registry() -> None:
    sql = (DBT_MODELS / "marts" / "flywheel" / "model_runs.sql").read_text()
    listed = re.search(r"set runs_tables = \[(.*?)\]", sql, flags=re.DOTALL)
    assert listed, "model_runs.sql no longer lists its runs tables"
    names = re.findall(r"'(\w+)'", listed[1])
    assert names == [table.name for table in tables.RUNS.values()]
    assert all(tables.RUNS[name.removesuffix("_runs")].staged for name in names)


def test_staged_tables_describe_every_column_and_declare_their_grain() -> None:
    for table in tables.ML_TABLES:
        if not table.staged:
            continue
        assert table.key and set(table.grain) <= set(table.column_names), table.relation
        undescribed = [column.name for column in table.columns if not column.description]
        assert not undescribed, f"{table.relation}: no description for {undescribed}"


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside parentheses and backticks."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if char == "`":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    return [*parts, text[start:]]


def _documented_ml_tables() -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, TYPE)] from the first table of the `ml` section of contracts.md."""
    text = CONTRACTS.read_text()
    section = text[text.index("## Insight outputs (schema `ml`") :]
    rows = section[section.index("| table | columns |") :].split("\n\n")[0].splitlines()[2:]
    documented: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        _, names, columns, _ = re.split(r"(?<!\\)\|", row)
        columns = _split_top(columns.strip(), " — ")[0]
        parsed = []
        for item in _split_top(columns, ","):
            match = re.fullmatch(r"(\w+) ([A-Z]+)(?: \(.*\))?", item.strip(), flags=re.DOTALL)
            assert match, f"contracts.md, ml table {names.strip()}: no type in {item.strip()!r}"
            parsed.append((match[1], match[2]))
        for name in re.findall(r"`([a-z_]+)`", names):
            documented[name] = parsed
    return documented


def test_docs_state_every_ml_table_and_column_with_its_registry_type() -> None:
    documented = _documented_ml_tables()
    declared = {table.name: table for table in tables.ML_TABLES}
    assert set(documented) == set(declared)
    for name, columns in documented.items():
        expected = [(c.name, c.type) for c in declared[name].columns]
        assert columns == expected, f"docs/contracts.md ml.{name}"


# --- the Python assets ----------------------------------------------------------------------


def test_every_python_asset_depends_on_exactly_the_tables_it_reads() -> None:
    for assets_def, reads in READS.items():
        expected = {table.asset_key for table in reads}
        for spec in assets_def.specs:
            assert {dep.asset_key for dep in spec.deps} == expected, spec.key
    defined = {
        value
        for module in ASSET_MODULES
        for value in vars(module).values()
        if isinstance(value, dg.AssetsDefinition)
    }
    assert defined == set(READS)


def _referenced_tables(module: ModuleType) -> set[tables.Table]:
    tree = ast.parse(inspect.getsource(module))
    return {
        REGISTERED[node.attr]
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "tables"
        and node.attr in REGISTERED
    }


def test_asset_modules_read_only_declared_tables_and_name_none_by_string() -> None:
    relations = {table.relation for table in REGISTERED.values()}
    for module in ASSET_MODULES:
        own = {key for a in READS if a in vars(module).values() for key in a.keys}
        reads = {t for a, r in READS.items() if a in vars(module).values() for t in r}
        undeclared = {
            t.relation for t in _referenced_tables(module) - reads if t.asset_key not in own
        }
        assert not undeclared, f"{module.__name__} reads {undeclared} outside its *_READS"
        literals = {
            node.value
            for node in ast.walk(ast.parse(inspect.getsource(module)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        named = {r for r in relations for text in literals if r in text}
        assert not named, f"{module.__name__} names {named} by string: use flywheel_pipeline.tables"


def test_every_ml_table_is_written_by_its_declared_writer_and_nothing_else() -> None:
    written = {key for assets_def in READS for key in assets_def.keys if key.path[0] == "ml"}
    assert written == {table.asset_key for table in tables.ML_TABLES}
    for table in tables.ML_TABLES:
        writers = [getattr(m, table.writer) for m in ASSET_MODULES if hasattr(m, table.writer)]
        assert len(writers) == 1 and table.asset_key in writers[0].keys, table.relation
    for table in REGISTERED.values():
        assert (table.schema == "ml") == (table.writer != tables.DBT_WRITER), table.relation


def test_column_lists_of_the_models_match_the_registry() -> None:
    assert tables.LEAD_SCORES.column_names == lead_scoring.SCORE_COLUMNS
    assert tables.DEAL_SCORES.column_names == deal_scoring.SCORE_COLUMNS
    assert tables.CUSTOMER_VALUE.column_names == customer_value.VALUE_COLUMNS
    assert tables.SEARCH_OPPORTUNITIES.column_names == search_opportunities.OPPORTUNITY_COLUMNS
    assert tables.SEARCH_CTR_CURVE.column_names == search_opportunities.CURVE_COLUMNS
    assert tables.CONVERSATION_TOPIC_ASSIGNMENTS.column_names == topics.ASSIGNMENT_COLUMNS
    gap_columns = {"is_content_gap", "gap_evidence", *content_gaps.PAGE_COLUMNS}
    assert {*topics.TOPIC_COLUMNS, *gap_columns} == set(tables.CONVERSATION_TOPICS.column_names)
    assert tables.RECOMMENDATION_OUTCOMES.column_names == _lift.OUTCOME_COLUMNS
    runs = {tuple(table.types.items()) for table in tables.RUNS.values()}
    assert len(runs) == 1  # every model's runs table has the same columns


# --- metric kinds ---------------------------------------------------------------------------


def _is_metric_tuple(node: ast.AST) -> bool:
    """`("metric", value, baseline)` as the models build run rows (not a pipeline step such as
    `("cat", OneHotEncoder(...), columns)`)."""
    if not (isinstance(node, ast.Tuple) and len(node.elts) == 3):
        return False
    name, value = node.elts[0], node.elts[1]
    step = isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
    return (
        isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and not (step and value.func.id[:1].isupper())
    )


@pytest.mark.parametrize(
    "module", [topics, lead_scoring, deal_scoring, customer_value, search_opportunities]
)
def test_every_metric_a_model_reports_has_its_kind(module: ModuleType) -> None:
    tree = ast.parse(inspect.getsource(module))
    named = {node.elts[0].value for node in ast.walk(tree) if _is_metric_tuple(node)}
    assert named and named <= set(module.METRIC_KINDS), named - set(module.METRIC_KINDS)
    assert set(module.METRIC_KINDS.values()) <= set(tables.METRIC_KINDS)
    assert module.MODEL_NAME in tables.RUNS


# --- what a writer writes -------------------------------------------------------------------

DAY = dt.date(2026, 9, 30)


def _scores(**columns) -> pd.DataFrame:
    frame = pd.DataFrame({"contact_id": ["a", "b"], "lead_score": [0.2, 0.7], "data_through": DAY})
    return frame.assign(**columns)


def test_conform_casts_to_the_declared_types_in_order() -> None:
    frame = _scores()[["data_through", "lead_score", "contact_id"]]
    typed = tables.LEAD_SCORES.conform(frame)
    assert list(typed.columns) == tables.LEAD_SCORES.column_names
    assert typed["contact_id"].tolist() == ["a", "b"]
    # whole floats (pandas' NaN for a missing integer) fit an integer column
    curve = tables.SEARCH_CTR_CURVE.conform(
        pd.DataFrame(
            {
                "position": [1.0, 2.0],
                "expected_ctr": [0.3, 0.2],
                "prior_ctr": [0.28, 0.15],
                "impressions": [10, 0],
                "data_through": DAY,
            }
        )
    )
    assert curve["position"].tolist() == [1, 2]


def test_an_empty_frame_writes_typed_columns() -> None:
    typed = tables.LEAD_SCORES.conform(pd.DataFrame(columns=tables.LEAD_SCORES.column_names))
    with duckdb.connect() as conn:
        tables.write_table(conn, tables.LEAD_SCORES, typed)
        written = conn.execute("select column_name, column_type from (describe ml.lead_scores)")
        assert dict(written.fetchall()) == tables.LEAD_SCORES.types


def test_a_table_written_in_batches_is_the_table_written_at_once() -> None:
    table = tables.CONVERSATION_TOPIC_ASSIGNMENTS
    frame = pd.DataFrame(
        {
            "conversation_id": ["a", "b", "c", "d", "e"],
            "topic_id": pd.array([1, None, 2, 1, 3], dtype="Int64"),
            "data_through": DAY,
        }
    )
    with duckdb.connect() as conn:
        tables.write_table(conn, table, frame)
        once = conn.execute(f"select * from {table.relation}").df()
        assert tables.write_table_in_batches(conn, table, tables.frame_batches(frame, 2)) == 5
        batched = conn.execute(f"select * from {table.relation}").df()
        tables.write_table_in_batches(conn, table, tables.frame_batches(frame.iloc[:0]))
        empty = conn.execute(f"select column_name, column_type from (describe {table.relation})")
        assert dict(empty.fetchall()) == table.types
    pd.testing.assert_frame_equal(once, batched)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            _scores().drop(columns=["lead_score"]),
            r"ml\.lead_scores: the frame lacks \['lead_score'\]",
        ),
        (_scores(extra=1), r"ml\.lead_scores: .*undeclared \['extra'\]"),
        (_scores(lead_score=["high", "low"]), r"ml\.lead_scores\.lead_score: .*VARCHAR .*DOUBLE"),
        (_scores(data_through=[1, 2]), r"ml\.lead_scores\.data_through: .*BIGINT .*DATE"),
    ],
)
def test_a_writer_that_drifts_fails_naming_the_table_and_column(
    frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(TableContractError, match=message):
        tables.LEAD_SCORES.conform(frame)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (1.5, r"ml\.search_ctr_curve\.position: 1 fraction"),  # in an integer column
        (1e30, r"ml\.search_ctr_curve\.position: .*out of range"),  # does not cast
    ],
)
def test_a_value_the_column_cannot_hold_fails_naming_its_column(
    position: float, message: str
) -> None:
    frame = pd.DataFrame(
        {
            "position": [position],
            "expected_ctr": [0.3],
            "prior_ctr": [0.28],
            "impressions": [10],
            "data_through": DAY,
        }
    )
    with pytest.raises(TableContractError, match=message):
        tables.SEARCH_CTR_CURVE.conform(frame)


def test_deps_of_keeps_the_order_and_drops_repeats() -> None:
    keys = tables.deps_of(tables.ORDERS, tables.CONTACTS, tables.ORDERS)
    assert keys == [dg.AssetKey(["staging", "stg_crm__orders"]), tables.CONTACTS.asset_key]
    assert tables.LEAD_SCORES.relation == "ml.lead_scores"
    assert tables.LEAD_SCORES.quoted == '"ml"."lead_scores"'
