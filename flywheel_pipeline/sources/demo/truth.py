"""The planted truths (schema demo_truth): for evaluation and tests only, never for production."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import TOPICS
from flywheel_pipeline.sources.demo.config import DOMAIN, DemoConfig
from flywheel_pipeline.sources.demo.effects import ACTION_EFFECTS
from flywheel_pipeline.sources.demo.queries import click_gain, expected_ctr


def topics_truth() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "topic_key": [t.key for t in TOPICS],
            "label": [t.label for t in TOPICS],
            "has_help_page": [t.help_page is not None for t in TOPICS],
            "help_page_path": [t.help_page for t in TOPICS],
            "is_content_gap": [t.help_page is None for t in TOPICS],
            "planned_page_path": [t.planned_page or None for t in TOPICS],
            "growth_per_year": [t.growth for t in TOPICS],
        }
    )


def conversation_topics_truth(specs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": specs["conversation_id"].to_numpy(),
            "topic_key": np.array([t.key for t in TOPICS], dtype=object)[specs["topic"].to_numpy()],
            "origin": specs["origin"].to_numpy(),
            "true_contact_id": specs["contact_id"].to_numpy(),
        }
    ).sort_values("conversation_id", ignore_index=True)


def leads_truth(df: pd.DataFrame, end_ns: np.datetime64) -> pd.DataFrame:
    converted_at = df["converted_at"].to_numpy()
    return pd.DataFrame(
        {
            "contact_id": df["contact_id"].to_numpy(),
            "p_convert_90d": np.round(df["p_convert_90d"].to_numpy(), 6),
            "converted_90d": df["converted_90d"].to_numpy(),
            "person_id": df["person_id"].to_numpy(),
            "is_business": df["is_b2b"].to_numpy(),
            # The realised conversion may lie after data_through: known here, not in the data.
            "converted_after_data_through": df["converted_90d"].to_numpy()
            & (converted_at >= end_ns),
        }
    ).sort_values("contact_id", ignore_index=True)


def queries_truth(queries: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query": queries["query"].to_numpy(),
            "page": DOMAIN + queries["page"].to_numpy(),
            "true_ctr_factor": queries["true_ctr_factor"].to_numpy(),
            "expected_ctr_at_position": np.round(expected_ctr(queries["position"].to_numpy()), 6),
            "true_click_gain": np.round(click_gain(queries), 4),
            "mean_position": queries["position"].to_numpy(),
            "should_position": queries["should_position"].to_numpy(),
            "searches_per_day": np.round(queries["search_volume"].to_numpy(), 3),
            "is_under_performer": queries["is_under_performer"].to_numpy(),
            "topic_key": queries["topic_key"].to_numpy(),
            # brand | product | help | gap: brand queries must never get a title rewrite
            "query_kind": queries["kind"].to_numpy(),
        }
    ).sort_values("query", ignore_index=True)


def run_truth(config: DemoConfig) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seed": [config.seed],
            "scale": [float(config.scale)],
            "days": [config.days],
            "start_date": [config.start_date],
            "end_date": [config.end_date],
            "applied_actions": [
                ";".join(f"{a}|{t}|{d}" for a, t, d in config.applied_actions) or None
            ],
        }
    )


def action_effects_truth() -> pd.DataFrame:
    return ACTION_EFFECTS.copy()
