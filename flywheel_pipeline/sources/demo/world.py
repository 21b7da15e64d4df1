"""The demo world's memory of what the team did in it: done recommendations → applied actions.

A done recommendation changes the world from the day it is done: the simulator applies the
planted effect of its action (``effects.ACTION_EFFECTS``) to its target. Which planted thing a
recommendation targets is the world's business, so this module may read the planted truths:

- a topic action (``create_content``, ``fix_content``) names a topic the pipeline discovered;
  the world takes the planted topic most of that topic's conversations belong to
  (``demo_truth.conversation_topics``);
- a list action (target type ``*_list``) touches the members of its list the team contacted:
  those not kept in the random holdout (``ml.recommendation_targets``);
- any other action targets what it names (a query, a campaign pair, a contact or a deal).

The actions are kept in ``<demo folder>/applied_actions.csv``; the demo asset reads it on every
run, so the business goes on with the effects switched on from their dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from flywheel_pipeline.sources.demo.effects import KNOWN_ACTIONS
from flywheel_pipeline.warehouse import relation_exists

APPLIED_ACTIONS_FILE = "applied_actions.csv"
APPLIED_COLUMNS = ["action_type", "target_id", "applied_on", "recommendation_id"]


def applied_actions_path(demo_dir: Path) -> Path:
    return Path(demo_dir) / APPLIED_ACTIONS_FILE


def read_applied_actions(demo_dir: Path) -> tuple[tuple[str, str, str], ...]:
    """``(action_type, target_id, applied_on)`` of every action the world has applied."""
    path = applied_actions_path(demo_dir)
    if not path.exists():
        return ()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return tuple(
        frame[["action_type", "target_id", "applied_on"]].itertuples(index=False, name=None)
    )


def record_applied_actions(demo_dir: Path, actions: pd.DataFrame) -> Path:
    """Add ``actions`` (APPLIED_COLUMNS) to the world's record; recording the same action of the
    same recommendation again changes nothing."""
    path = applied_actions_path(demo_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    known = (
        pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.exists()
        else pd.DataFrame(columns=APPLIED_COLUMNS)
    )
    merged = pd.concat([known, actions[APPLIED_COLUMNS].astype(str)], ignore_index=True)
    merged = merged.drop_duplicates().sort_values(APPLIED_COLUMNS, ignore_index=True)
    partial = path.with_name(path.name + ".partial")
    merged.to_csv(partial, index=False, lineterminator="\n")
    partial.replace(path)
    return path


def _planted_topics(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Discovered topic id → the planted topic most of its conversations belong to."""
    if not (
        relation_exists(conn, "ml.conversation_topic_assignments")
        and relation_exists(conn, "demo_truth.conversation_topics")
    ):
        return {}
    rows = conn.execute(
        """
        select topic_id, topic_key
        from (
            select cast(a.topic_id as varchar) as topic_id, t.topic_key,
                   row_number() over (
                       partition by a.topic_id order by count(*) desc, t.topic_key
                   ) as rank
            from ml.conversation_topic_assignments as a
            join demo_truth.conversation_topics as t using (conversation_id)
            where a.topic_id is not null
            group by a.topic_id, t.topic_key
        )
        where rank = 1
        """
    ).fetchall()
    return dict(rows)


def _list_members(conn: duckdb.DuckDBPyConnection, recommendation_ids: list[str]) -> pd.DataFrame:
    if not recommendation_ids or not relation_exists(conn, "ml.recommendation_targets"):
        return pd.DataFrame(columns=["recommendation_id", "target_id"])
    return conn.execute(
        "select recommendation_id, target_id from ml.recommendation_targets "
        "where not holdout and list_contains(?, recommendation_id) "
        "order by recommendation_id, target_id",
        [recommendation_ids],
    ).df()


def applied_actions_of(
    conn: duckdb.DuckDBPyConnection, done: pd.DataFrame, done_on: dt.date
) -> pd.DataFrame:
    """The world's actions (APPLIED_COLUMNS) for ``done`` recommendations (recommendation_id,
    type, target_type, target_id) done on ``done_on``. Types the world has no effect for
    apply nothing."""
    done = done[done["type"].isin(KNOWN_ACTIONS)]
    rows: list[tuple[str, str, str, str]] = []
    topics = _planted_topics(conn) if done["target_type"].eq("topic").any() else {}
    lists = done[done["target_type"].str.endswith("_list")]
    members = _list_members(conn, sorted(lists["recommendation_id"]))
    kind = dict(zip(lists["recommendation_id"], lists["type"], strict=True))
    for member in members.itertuples(index=False):
        rows.append((kind[member.recommendation_id], member.target_id, member.recommendation_id))
    for rec in done[~done["target_type"].str.endswith("_list")].itertuples(index=False):
        target = topics.get(str(rec.target_id)) if rec.target_type == "topic" else rec.target_id
        if target is not None:
            rows.append((rec.type, str(target), rec.recommendation_id))
    frame = pd.DataFrame(rows, columns=["action_type", "target_id", "recommendation_id"])
    frame["applied_on"] = done_on.isoformat()
    return frame[APPLIED_COLUMNS]
