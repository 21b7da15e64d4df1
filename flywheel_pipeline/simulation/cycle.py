"""One cycle of one arm: run the pipeline on the cycle's days, then (treated arm) accept and do
the top K recommendations at the cycle's simulated time and tell the world what they touch."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from flywheel_pipeline.recommendations.assets import recommendation_candidates
from flywheel_pipeline.runner import run_everything
from flywheel_pipeline.simulation.plan import TREATED, SimulationPlan
from flywheel_pipeline.sources.demo.world import applied_actions_of, record_applied_actions
from flywheel_pipeline.sources.files.decisions import decision_time, write_decision_file
from flywheel_pipeline.warehouse import connect

# The recommendation asset's op, configured with the cycle it proposes in.
CANDIDATES_OP = recommendation_candidates.op.name


class SimulationError(RuntimeError):
    pass


def top_proposals(conn, cycle: int, k: int) -> pd.DataFrame:
    """The ``k`` highest-priority recommendations proposed in ``cycle`` nobody decided on."""
    return conn.execute(
        "select recommendation_id, type, target_type, target_id, priority "
        "from flywheel.recommendations where status = 'proposed' and cycle = ? "
        "order by priority, recommendation_id limit ?",
        [cycle, k],
    ).df()


def accept_and_do(plan: SimulationPlan, cycle: int) -> pd.DataFrame:
    """Accept and do the top K proposals of ``cycle`` in the treated arm: one decision file
    dated at the cycle's simulated time, and the world's applied actions from that day."""
    settings = plan.settings(TREATED, cycle)
    decided_at = decision_time(settings)
    with connect(settings.duckdb_path) as conn:
        chosen = top_proposals(conn, cycle, plan.accept_top)
        actions = applied_actions_of(conn, chosen, decided_at.date())
    note = f"flywheel simulate: cycle {cycle}, top {plan.accept_top}"
    write_decision_file(
        settings.landing_dir,
        f"simulate-cycle-{cycle:03d}",
        [
            (rec_id, status, decided_at, note)
            for rec_id in chosen["recommendation_id"]
            for status in ("accepted", "done")
        ],
    )
    record_applied_actions(settings.demo_dir, actions)
    return chosen


def run_cycle(plan: SimulationPlan, arm: str, cycle: int, log) -> pd.DataFrame:
    """Run ``arm``'s pipeline for ``cycle`` (cycle 0: the whole history; later: only the new
    days of the partitioned sources) and return the recommendations done in it."""
    settings = plan.settings(arm, cycle)
    days: tuple[dt.date, dt.date] | None = None
    if cycle > 0:
        days = plan.window(cycle)
    result = run_everything(
        settings,
        on_progress=log,
        days=days,
        op_config={CANDIDATES_OP: {"cycle": cycle}},
        log_name=f"simulate-cycle-{cycle:03d}.log",
        ephemeral=True,
    )
    if not result.success:
        raise SimulationError(f"{arm} arm, cycle {cycle}: the run failed; see {result.log_path}")
    if arm != TREATED or plan.accept_top == 0:
        return pd.DataFrame(columns=["recommendation_id", "type"])
    return accept_and_do(plan, cycle)
