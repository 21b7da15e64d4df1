"""The tables that cross a layer, declared once.

Every `ml` table the Python assets write, with its key, columns, DuckDB types and writer (the
asset definition that writes it), and by name the dbt relations the Python assets read. The
assets take their `deps` and the names they read from here, check what they write against it
(:meth:`Table.conform`), and dbt's side of schema `ml` is generated from it: the sources
(models/staging/_ml__sources.yml) and, for every table a model reads, its staging model
(models/staging/ml/stg_ml__<table>.sql and .yml: each column cast to its type, the contract
enforced, the grain tested):

    python -m flywheel_pipeline.tables --write-dbt      (make generate)

tests/test_tables.py fails when a generated file, docs/contracts.md or an asset's deps
disagree with this module.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.sql import identifier, relation_name
from flywheel_pipeline.warehouse import replace_table, replace_table_streaming

VARCHAR = "VARCHAR"
BIGINT = "BIGINT"
DOUBLE = "DOUBLE"
BOOLEAN = "BOOLEAN"
DATE = "DATE"
TIMESTAMP = "TIMESTAMP"

DBT_WRITER = "dbt"
DBT_STAGING_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "staging"
DBT_SOURCES_FILE = DBT_STAGING_DIR / "_ml__sources.yml"
DBT_ML_STAGING_DIR = DBT_STAGING_DIR / "ml"


class TableContractError(ValueError):
    """A frame that does not match its table's declared columns and types."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str = ""
    # Added after tables were written without it: the staging model reads it as a typed null
    # from a table that lacks it (until its asset writes the table again).
    optional: bool = False


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    key: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    writer: str = DBT_WRITER  # the asset definition (module attribute) that writes it
    description: str = ""
    # dbt reads it through a staging model stg_ml__<name> (False: read by Python only).
    staged: bool = False
    # The readers keep the latest row per key by this column, so rows of an older version may
    # stand beside it: the staging model's grain is the key × this column.
    latest_by: str | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def quoted(self) -> str:
        """The relation for SQL text, both parts quoted."""
        return relation_name(self.schema, self.name)

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.schema, self.name])

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def types(self) -> dict[str, str]:
        return {column.name: column.type for column in self.columns}

    @property
    def grain(self) -> tuple[str, ...]:
        """The key of its staging model: the key, × latest_by where readers keep the latest."""
        return (*self.key, self.latest_by) if self.latest_by else self.key

    @property
    def staging_model(self) -> str:
        return f"stg_ml__{self.name}"

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with exactly this table's columns, in order, cast to their types.

        Raises TableContractError, naming the table and column, when a column is missing or
        undeclared, holds another kind of value (text where a number belongs, a fraction in
        an integer column, ...) or does not cast. A column without any value takes its
        declared type, so that an empty frame still writes typed columns.
        """
        names = self.column_names
        missing = [name for name in names if name not in frame.columns]
        extra = [str(name) for name in frame.columns if name not in names]
        if missing or extra:
            problems = [f"lacks {missing}"] if missing else []
            problems += [f"has undeclared {extra}"] if extra else []
            raise TableContractError(
                f"{self.relation}: the frame {' and '.join(problems)} "
                "(columns are declared in flywheel_pipeline/tables.py)"
            )
        with duckdb.connect() as conn:
            conn.register("frame", frame)
            found = dict(
                conn.execute("select column_name, column_type from (describe frame)").fetchall()
            )
            for column in self.columns:
                self._check(conn, column, found[column.name])
            casts = ", ".join(
                f"cast({identifier(c.name)} as {c.type}) as {identifier(c.name)}"
                for c in self.columns
            )
            try:
                typed = conn.sql(f"select {casts} from frame").to_arrow_table()
            except duckdb.Error as error:
                culprit = next((c.name for c in self.columns if not _casts(conn, c)), "a column")
                raise TableContractError(f"{self.relation}.{culprit}: {error}") from error
        return typed.to_pandas(types_mapper=pd.ArrowDtype)

    def _check(self, conn: duckdb.DuckDBPyConnection, column: Column, found: str) -> None:
        have, want = _family(found), _family(column.type)
        if have == "null" or have in _ACCEPTS.get(want, {want}):
            if have == "float" and want == "integer":
                [(fractions,)] = conn.execute(
                    f"select count(*) from frame where {identifier(column.name)} "
                    f"<> round({identifier(column.name)})"
                ).fetchall()
                if fractions:
                    raise TableContractError(
                        f"{self.relation}.{column.name}: {fractions} fractional values in a "
                        f"{column.type} column"
                    )
            return
        raise TableContractError(
            f"{self.relation}.{column.name}: the frame holds {found} where the table "
            f"declares {column.type}"
        )


def _family(duckdb_type: str) -> str:
    name = duckdb_type.strip('"').upper()
    if name.startswith(("VARCHAR", "STRING", "TEXT")):
        return "text"
    if name in _INTEGERS:
        return "integer"
    if name in ("FLOAT", "DOUBLE") or name.startswith("DECIMAL"):
        return "float"
    if name.startswith("TIMESTAMP"):
        return "timestamp"
    return name.lower()  # boolean, date, null, ...


_INTEGERS = {
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"),
}
# Declared family -> the families a frame may bring for it: widening, or a timestamp from a day.
_ACCEPTS = {
    "integer": {"integer", "float"},  # float only when every value is whole (pandas' NaN)
    "float": {"float", "integer"},
    "timestamp": {"timestamp", "date"},
}


def _casts(conn: duckdb.DuckDBPyConnection, column: Column) -> bool:
    try:
        conn.execute(
            f"select count(cast({identifier(column.name)} as {column.type})) from frame"
        ).fetchall()
    except duckdb.Error:
        return False
    return True


def write_table(conn: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame) -> int:
    """Replace `table` with `frame`, checked and cast against its declaration first."""
    return replace_table(conn, table.relation, table.conform(frame))


def deps_of(*tables: Table) -> list[dg.AssetKey]:
    """The asset keys of the tables an asset reads, for its `deps` (order kept, no repeats)."""
    return list(dict.fromkeys(table.asset_key for table in tables))


def _dbt(schema: str, name: str) -> Table:
    return Table(schema, name)


def _ml(
    name: str,
    key: Iterable[str],
    writer: str,
    description: str,
    *columns: Column,
    staged: bool = True,
    latest_by: str | None = None,
) -> Table:
    return Table(
        "ml", name, tuple(key), columns, writer, " ".join(description.split()), staged, latest_by
    )


def _c(name: str, type_: str, description: str = "", *, optional: bool = False) -> Column:
    return Column(name, type_, " ".join(description.split()), optional)


_TYPES = {VARCHAR, BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP}


def _columns(table: str) -> tuple[Column, ...]:
    """Columns declared as a table, a line each: name, DuckDB type, description; a line
    that starts further in goes on with the description above it."""
    columns: list[list[str]] = []
    for line in textwrap.dedent(table).strip("\n").splitlines():
        if line[:1].isspace():
            columns[-1].append(line)
            continue
        name, type_, *description = line.split(maxsplit=2)
        if type_ not in _TYPES:
            raise ValueError(f"column {name}: unknown type {type_!r}")
        columns.append([name, type_, *description])
    return tuple(_c(name, type_, " ".join(description)) for name, type_, *description in columns)


DATA_THROUGH = _c("data_through", DATE, "Last day of the data the model saw.")


# --- dbt relations the Python assets read -------------------------------------------------

CONTACTS = _dbt("staging", "stg_crm__contacts")
ORDERS = _dbt("staging", "stg_crm__orders")
DEALS = _dbt("staging", "stg_crm__deals")
DEAL_STAGE_HISTORY = _dbt("staging", "stg_crm__deal_stage_history")
NPS_RESPONSES = _dbt("staging", "stg_crm__nps_responses")
REFERRALS = _dbt("staging", "stg_crm__referrals")
CONVERSATIONS = _dbt("staging", "stg_conversations__conversations")
GA4_PAGES = _dbt("staging", "stg_ga4__pages")
GA4_TRAFFIC = _dbt("staging", "stg_ga4__traffic_acquisition")
# per day × query × page × country × device
SEARCH_ROWS = _dbt("staging", "stg_gsc__search_analytics")
CONVERSATION_TEXTS = _dbt("intermediate", "int_conversations__texts")
IDENTITY_PERSONS = _dbt("intermediate", "int_identity__persons")
CAMPAIGN_DAYS = _dbt("intermediate", "int_ads__campaign_days")
# per day × query × page, country and device summed
QUERY_PAGES_DAILY = _dbt("intermediate", "int_search__query_pages_daily")
QUERY_PAGES_RECENT = _dbt("intermediate", "int_search__query_pages_recent")
DECISIONS = _dbt("intermediate", "int_recommendations__decisions")

# --- ml: the insight models' outputs ------------------------------------------------------

CONVERSATION_TOPIC_ASSIGNMENTS = _ml(
    "conversation_topic_assignments",
    ["conversation_id"],
    "conversation_topic_model",
    "The intent topic of every conversation (null: no topic fits); ids are kept across retrains.",
    *_columns(
        """
        conversation_id  VARCHAR  Conversation (stg_conversations__conversations).
        topic_id         BIGINT   Topic assigned (stg_ml__conversation_topics); null: no topic fits
                                  the conversation.
        """
    ),
    DATA_THROUGH,
    latest_by="data_through",
)
CONVERSATION_TOPICS = _ml(
    "conversation_topics",
    ["topic_id"],
    "conversation_topic_model",
    "Customer intents: a representative question, key terms, volume and 28-day trend (most "
    "common / fastest rising), and content-gap evidence.",
    *_columns(
        """
        topic_id                 BIGINT   Topic id from the topic model, kept across retrains, never
                                          reused.
        label                    VARCHAR  Short label: the representative question and key terms.
        representative_question  VARCHAR  A real (redacted) customer message near the topic's
                                          centre.
        top_terms                VARCHAR  Most characteristic terms, comma-separated.
        conversations            BIGINT   Conversations the model assigned to the topic.
        conversations_28d        BIGINT   Of those, started in the 28 days through data_through.
        conversations_prev_28d   BIGINT   Of those, started in the 28 days before.
        trend_28d                DOUBLE   Relative change, conversations_28d against
                                          conversations_prev_28d; null when the earlier window is
                                          empty.
        rank_volume              BIGINT   Rank by volume over the last 28 days (1 = most common).
        rank_rising              BIGINT   Rank by rise of the smoothed log volume (1 = fastest
                                          rising).
        max_topic_id             BIGINT   The highest topic id ever used.
        is_content_gap           BOOLEAN  High volume and no page answers it
                                          (insights/content_gaps.py).
        is_answered              BOOLEAN  A site page answers the topic (best_page).
        gap_evidence             VARCHAR  Why the topic is (or is not) a content gap, in words.
        best_page                VARCHAR  Path of the answering page, or for an unanswered topic of
                                          the closest page of any kind.
        best_page_similarity     DOUBLE   Similarity of best_page to the topic, 0–1.
        """
    ),
    DATA_THROUGH,
)
LEAD_SCORES = _ml(
    "lead_scores",
    ["contact_id"],
    "lead_scoring_model",
    "P(lead becomes a customer within 90 days) per open lead, as of data_through.",
    *_columns(
        """
        contact_id  VARCHAR  Scored CRM contact.
        lead_score  DOUBLE   P(customer within 90 days), 0–1.
        """
    ),
    DATA_THROUGH,
    latest_by="data_through",
)
DEAL_SCORES = _ml(
    "deal_scores",
    ["deal_id"],
    "deal_scoring_model",
    "Calibrated P(win) of every deal open at data_through (deal-stage predictor, "
    "flywheel_pipeline/insights/deal_scoring.py). Closed deals have no row.",
    *_columns(
        """
        deal_id          VARCHAR  Scored CRM deal.
        win_probability  DOUBLE   Calibrated P(win), 0–1.
        """
    ),
    DATA_THROUGH,
    latest_by="data_through",
)
CUSTOMER_VALUE = _ml(
    "customer_value",
    ["contact_id"],
    "customer_value_model",
    "Expected orders in the next 90 days, 365-day CLV and P(alive) per customer, keyed by "
    "the person's surviving contact_id like delight.customers ((M)BG/NBD + Gamma-Gamma, "
    "flywheel_pipeline/insights/customer_value.py).",
    *_columns(
        """
        contact_id            VARCHAR  Customer: the person's surviving contact_id, as in
                                       delight.customers.
        predicted_orders_90d  DOUBLE   Expected orders (purchase days) in the next 90 days.
        predicted_clv_365d    DOUBLE   Expected revenue over the next 365 days, undiscounted.
        p_alive               DOUBLE   P(the customer is still active), 0–1.
        """
    ),
    DATA_THROUGH,
    latest_by="data_through",
)
SEARCH_OPPORTUNITIES = _ml(
    "search_opportunities",
    ["query", "page", "opportunity_type"],
    "search_opportunity_model",
    "Search queries worth work, one row per query × page × opportunity_type over the 28 days "
    "ending data_through (flywheel_pipeline/insights/search_opportunities.py): "
    "ctr_underperformer (position <= 10, clicks significantly below the site's expected CTR "
    "at that position: a title/snippet rewrite candidate) and striking_distance (mean "
    "position 4–20: clicks it would get at target_position). Read by the recommendations "
    "and the HTML report; no mart carries it.",
    *_columns(
        """
        query                     VARCHAR  Search query, as Search Console reports it.
        page                      VARCHAR  Full page URL.
        opportunity_type          VARCHAR  ctr_underperformer or striking_distance.
        impressions_28d           BIGINT
        clicks_28d                BIGINT
        ctr                       DOUBLE   clicks_28d / impressions_28d.
        avg_position              DOUBLE   Impression-weighted mean position over the 28 days.
        expected_ctr              DOUBLE   The serving CTR curve at avg_position.
        target_position           BIGINT   Position the gain assumes (3) for striking_distance; null
                                           otherwise.
        estimated_click_gain_28d  DOUBLE   Extra clicks over 28 days: expected − actual clicks
                                           (ctr_underperformer); clicks at target_position on
                                           today's impressions − actual clicks (striking_distance, a
                                           lower bound). Always > 0.
        p_value                   DOUBLE   One-sided, Benjamini–Hochberg adjusted;
                                           ctr_underperformer only.
        """
    ),
    DATA_THROUGH,
    staged=False,
)
SEARCH_CTR_CURVE = _ml(
    "search_ctr_curve",
    ["position"],
    "search_opportunity_model",
    "The site's expected CTR by position 1–20 (impression-weighted median per position, "
    "shrunk towards the public prior, non-increasing), beside the public prior; the prior "
    "alone on a cold start.",
    *_columns(
        """
        position      BIGINT
        expected_ctr  DOUBLE
        prior_ctr     DOUBLE  Public CTR-by-position prior.
        impressions   BIGINT  Impressions of the query-pages fitted at this position (0: prior
                              only).
        """
    ),
    DATA_THROUGH,
    staged=False,
)

# --- ml: each model's evaluation history (flywheel.model_runs unions them) ----------------

# How a metric reads against its baseline (metric_kind): quality metrics in their direction;
# descriptive ones (data counts beside their stated minimum, rates of the data itself, flags)
# are never better or worse than a baseline.
HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"
DESCRIPTIVE = "descriptive"
METRIC_KINDS = (HIGHER_IS_BETTER, LOWER_IS_BETTER, DESCRIPTIVE)


def _runs(model: str, writer: str, description: str) -> Table:
    return _ml(
        f"{model}_runs",
        ["run_id", "metric"],
        writer,
        description,
        _c("run_id", VARCHAR, "A hash of the model and data_through: a rerun replaces its rows."),
        _c("model", VARCHAR, f"The insight model: {model}."),
        *_columns(
            """
            trained_at    TIMESTAMP  data_through at midnight: dated by the data, not the clock.
            train_rows    BIGINT     Rows the evaluated model was trained on.
            holdout_rows  BIGINT     Rows of the time split's holdout the metric is computed on.
            metric        VARCHAR    Holdout metric, or run fact (cold_start; minimum-data counts,
                                     with the stated minimum as their baseline_value).
            """
        ),
        _c(
            "metric_kind",
            VARCHAR,
            f"{' | '.join(METRIC_KINDS)}: how the metric reads against its baseline, declared "
            "beside the metric in the model's module.",
            optional=True,
        ),
        *_columns(
            """
            value           DOUBLE  The model's value of the metric on the holdout.
            baseline_value  DOUBLE  The same metric for the naive baseline (or the stated minimum,
                                    for data counts).
            """
        ),
        DATA_THROUGH,
        *_columns(
            """
            served_by       VARCHAR  model | baseline | rules; null without a challenger.
            serving_reason  VARCHAR  Why, in words: the primary metric of the model and of the
                                     baseline on the holdout.
            """
        ),
    )


CONVERSATION_TOPICS_RUNS = _runs(
    "conversation_topics",
    "conversation_topic_model",
    "Holdout evaluation of the conversation topic model, one row per run_id × metric, with "
    "a naive baseline. Each model writes its own runs table; the mart flywheel.model_runs "
    "unions them.",
)
LEAD_SCORING_RUNS = _runs(
    "lead_scoring",
    "lead_scoring_model",
    "Holdout evaluation of the lead scoring model, one row per run_id × metric, with a naive "
    "baseline.",
)
DEAL_SCORING_RUNS = _runs(
    "deal_scoring",
    "deal_scoring_model",
    "Holdout evaluation of the deal scoring model, one row per run_id × metric, with a naive "
    "baseline (the current stage's historical win rate).",
)
CUSTOMER_VALUE_RUNS = _runs(
    "customer_value",
    "customer_value_model",
    "Holdout evaluation of the customer value model (last 90 days), one row per run_id × "
    "metric, with a naive baseline (repeat rate so far × 90 days).",
)
SEARCH_CTR_CURVE_RUNS = _runs(
    "search_ctr_curve",
    "search_opportunity_model",
    "Time-split evaluation of the search CTR curve, one row per run_id × metric: the curve "
    "fitted on the previous 28 days predicts the latest 28 days' CTR (ctr_mae_weighted, "
    "impression-weighted), beside the public prior's error.",
)
# model name (MODEL_NAME of its insight module) -> its runs table
RUNS = {
    table.name.removesuffix("_runs"): table
    for table in (
        CONVERSATION_TOPICS_RUNS,
        LEAD_SCORING_RUNS,
        DEAL_SCORING_RUNS,
        CUSTOMER_VALUE_RUNS,
        SEARCH_CTR_CURVE_RUNS,
    )
}

# --- ml: recommendations ------------------------------------------------------------------

RECOMMENDATION_CANDIDATES = _ml(
    "recommendation_candidates",
    ["recommendation_id"],
    "recommendation_candidates",
    "Proposed actions with evidence, expected impact in one unit, priority and confidence, "
    "one row per recommendation_id (a deterministic hash of type, target and data_through); "
    "per-person actions as one list per type and run.",
    *_columns(
        """
        recommendation_id  VARCHAR    Deterministic id (hash of type, target and data_through).
        created_at         TIMESTAMP  When it was proposed (as of the data, not the wall clock).
        cycle              BIGINT     Pipeline cycle that proposed it.
        type               VARCHAR    Recommendation type (e.g. follow_up_lead, rewrite_title).
        target_type        VARCHAR    What target_id is (e.g. contact, deal, topic, query;
                                      contact_list or deal_list for a list, its members in
                                      stg_ml__recommendation_targets).
        target_id          VARCHAR    Id of the target.
        action             VARCHAR    What to do, in a sentence.
        rationale          VARCHAR    Why, with the evidence.
        brief              VARCHAR    What a person needs to do the work, one item a line; nullable.
        expected_impact    DOUBLE     Expected impact, in impact_unit.
        impact_unit        VARCHAR    Unit of expected_impact.
        priority           BIGINT     Rank among the candidates (1 = highest expected impact).
        confidence         DOUBLE     Confidence in the expected impact, 0–1.
        """
    ),
)
RECOMMENDATION_TARGETS = _ml(
    "recommendation_targets",
    ["recommendation_id", "target_id"],
    "recommendation_candidates",
    "Members of the list recommendations (target_type contact_list / deal_list of "
    "recommendation_candidates), one row per recommendation_id × target_id, with the random "
    "holdout drawn (seeded by the recommendation_id) when the list was proposed "
    "(flywheel_pipeline/recommendations/lists.py).",
    *_columns(
        """
        recommendation_id  VARCHAR  List recommendation (stg_ml__recommendation_candidates).
        target_type        VARCHAR  contact or deal.
        target_id          VARCHAR  Member of the list.
        position           BIGINT   1 = highest expected impact.
        reason             VARCHAR  Why the member is on the list (its rationale).
        expected_impact    DOUBLE   The member's expected impact.
        score              DOUBLE   The model's probability or value behind the member's impact.
        holdout            BOOLEAN  In the random holdout left alone to measure the lift.
        """
    ),
)
RECOMMENDATION_OUTCOMES = _ml(
    "recommendation_outcomes",
    ["recommendation_id", "metric"],
    "recommendation_outcomes",
    "Measured outcome of every done recommendation whose measurement window has ended in the "
    "data, one row per recommendation_id × metric, against comparable untouched targets "
    "(difference in differences) or the list's random holdout, with a 95 % interval "
    "(flywheel_pipeline/recommendations/outcomes.py).",
    *_columns(
        """
        recommendation_id  VARCHAR    Measured recommendation (stg_ml__recommendation_candidates).
        metric             VARCHAR    Outcome metric (e.g. query_ctr, conversion_90d).
        baseline_value     DOUBLE     Metric before the action.
        observed_value     DOUBLE     Metric over the measurement window.
        control_change     DOUBLE     Change of the comparable untouched targets over the same time.
        estimated_lift     DOUBLE     Relative lift (0.1 = +10 %) attributed to the action.
        ci_low             DOUBLE     Lower end of the 95 % interval of estimated_lift.
        ci_high            DOUBLE     Upper end of the 95 % interval of estimated_lift.
        n                  BIGINT     Targets the estimate rests on: the treated ones and the
                                      controls.
        method             VARCHAR    Estimator: difference in differences or matched cohort.
        measured_at        TIMESTAMP  Last day of the measurement window (the data's date, not the
                                      wall clock).
        """
    ),
    _c(
        "higher_is_better",
        BOOLEAN,
        "False where the action is meant to lower the metric (topic_conversations).",
        optional=True,
    ),
)

ML_TABLES: tuple[Table, ...] = (
    CONVERSATION_TOPIC_ASSIGNMENTS,
    CONVERSATION_TOPICS,
    LEAD_SCORES,
    DEAL_SCORES,
    CUSTOMER_VALUE,
    SEARCH_OPPORTUNITIES,
    SEARCH_CTR_CURVE,
    RECOMMENDATION_CANDIDATES,
    RECOMMENDATION_TARGETS,
    *RUNS.values(),
    RECOMMENDATION_OUTCOMES,
)

# --- dbt's side of schema ml, generated ---------------------------------------------------

_SOURCE_DESCRIPTION = (
    "Insight outputs written by the Python (scikit-learn) assets, schema `ml`. dbt reads a "
    "table through its staging model stg_ml__<table> (models/staging/ml, generated as well), "
    "which reads it as empty until its asset has written it (macro source_or_empty), so a "
    "cold start builds."
)
_GENERATED = (
    "Generated from flywheel_pipeline/tables.py: edit there, then run",
    "  python -m flywheel_pipeline.tables --write-dbt   (make generate)",
)
_OPTIONAL = "Null where the table was written before the column existed."
_LINE = 100  # a quoted one-line description at most
_FOLD = 92  # folded descriptions wrap here


def _description(indent: int, text: str) -> list[str]:
    """A `description:` entry: quoted on one line when it fits, else a folded block."""
    pad = " " * indent
    one_line = f'{pad}description: "{text}"'
    if len(one_line) <= _LINE and '"' not in text and "\\" not in text:
        return [one_line]
    body = textwrap.wrap(text, _FOLD - indent - 2, break_on_hyphens=False)
    return [f"{pad}description: >", *(f"{pad}  {line}" for line in body)]


def _column(indent: int, column: Column, description: str) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}- name: {column.name}", f"{pad}  data_type: {column.type.lower()}"]
    return lines + (_description(indent + 2, description) if description else [])


def dbt_sources_yaml(tables: Iterable[Table] = ML_TABLES) -> str:
    """The dbt sources file of schema `ml` (models/staging/_ml__sources.yml)."""
    lines = [
        *(f"# {line}" for line in _GENERATED),
        "version: 2",
        "",
        "sources:",
        "  - name: ml",
        *_description(4, _SOURCE_DESCRIPTION),
        "    schema: ml",
        "    tables:",
    ]
    for table in tables:
        lines += [f"      - name: {table.name}", *_description(8, table.description)]
        lines += [
            "        config:",
            "          meta:",
            "            dagster:",
            f'              asset_key: ["{table.schema}", "{table.name}"]',
            "        columns:",
        ]
        for column in table.columns:
            lines += _column(10, column, column.description)
            if column.optional:  # read by macro stg_ml
                lines += [
                    "            config:",
                    "              meta:",
                    "                optional: true",
                ]
    return "\n".join(lines) + "\n"


def dbt_staging_sql(table: Table) -> str:
    """The staging model of an `ml` table (models/staging/ml/stg_ml__<table>.sql)."""
    return "\n".join(
        [
            *(f"-- {line}" for line in _GENERATED),
            *textwrap.wrap(
                f"{table.relation}, every column declared for it in "
                "models/staging/_ml__sources.yml cast to its type (macro stg_ml, "
                "macros/stg_ml.sql).",
                _FOLD,
                initial_indent="-- ",
                subsequent_indent="-- ",
                break_on_hyphens=False,
            ),
            f"{{{{ stg_ml('{table.name}') }}}}",
            "",
        ]
    )


def _staging_description(table: Table) -> str:
    latest = (
        f"; readers keep the latest {table.latest_by} per {' × '.join(table.key)}"
        if table.latest_by
        else ""
    )
    return (
        f"{table.description} Read from {table.relation} (written by the asset "
        f"{table.writer}), every column cast to the type declared for it in "
        f"flywheel_pipeline/tables.py. One row per {' × '.join(table.grain)}{latest}. No "
        "dedupe_latest: the asset replaces the whole table on every write, no landing file is "
        "loaded twice. Empty, with these types, until the asset has run (macro source_or_empty)."
    )


def dbt_staging_yaml(table: Table) -> str:
    """The properties of an `ml` table's staging model: its description, grain, enforced
    contract (every column with its type) and the tests of its grain."""
    grain = f"[{', '.join(table.grain)}]"
    lines = [
        *(f"# {line}" for line in _GENERATED),
        "version: 2",
        "",
        "models:",
        f"  - name: {table.staging_model}",
        *_description(4, _staging_description(table)),
        "    config:",
        "      contract:",
        "        enforced: true",
        "      meta:",
        f"        grain: {grain}",
    ]
    if len(table.grain) > 1:
        lines += [
            "    data_tests:",
            "      - unique_combination_of_columns:",
            "          arguments:",
            f"            combination_of_columns: {grain}",
        ]
    lines += ["    columns:"]
    for column in table.columns:
        description = " ".join(filter(None, [column.description, column.optional and _OPTIONAL]))
        lines += _column(6, column, description)
        if column.name in table.grain:
            tests = ["unique", "not_null"] if len(table.grain) == 1 else ["not_null"]
            lines += ["        data_tests:", *(f"          - {test}" for test in tests)]
    return "\n".join(lines) + "\n"


def dbt_files(tables: Iterable[Table] = ML_TABLES) -> dict[Path, str]:
    """Every generated dbt file, by path: the sources and each staged table's model."""
    tables = tuple(tables)
    files = {DBT_SOURCES_FILE: dbt_sources_yaml(tables)}
    for table in tables:
        if table.staged:
            model = DBT_ML_STAGING_DIR / table.staging_model
            files[model.with_suffix(".sql")] = dbt_staging_sql(table)
            files[model.with_suffix(".yml")] = dbt_staging_yaml(table)
    return files


def stale_dbt_files() -> list[Path]:
    """Staging models of `ml` tables the registry no longer stages."""
    generated = set(dbt_files())
    return sorted(set(DBT_ML_STAGING_DIR.glob("stg_ml__*.*")) - generated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flywheel_pipeline.tables")
    parser.add_argument(
        "--write-dbt",
        "--write-dbt-sources",
        action="store_true",
        help="write the dbt sources of schema ml and the ml staging models from the registry "
        "(and delete staging models of tables it no longer stages); without it, print the "
        "sources",
    )
    args = parser.parse_args(argv)
    if not args.write_dbt:
        print(dbt_sources_yaml(), end="")
        return
    root = DBT_STAGING_DIR.parents[2]
    for path in stale_dbt_files():
        path.unlink()
        print(f"deleted {path.relative_to(root)}")
    for path, text in dbt_files().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(root)}")


# --- batched writes (conversation topic assignments) --------------------------------------

#: Rows conformed and appended at a time by :func:`write_table_in_batches`.
WRITE_BATCH_ROWS = 500_000


def frame_batches(frame: pd.DataFrame, rows: int = WRITE_BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """``frame`` in consecutive slices of ``rows`` rows (one empty slice for an empty frame,
    so that the written table still gets its columns)."""
    for start in range(0, max(len(frame), 1), rows):
        yield frame.iloc[start : start + rows]


def write_table_in_batches(
    conn: duckdb.DuckDBPyConnection, table: Table, frames: Iterable[pd.DataFrame]
) -> int:
    """Replace `table` with the concatenation of `frames`, each checked and cast against the
    table's declaration and appended on its own (one conformed batch in memory at a time);
    all or nothing, like :func:`write_table`."""
    return replace_table_streaming(
        conn, table.relation, (table.conform(frame) for frame in frames), columns=table.types
    )


if __name__ == "__main__":
    main()
