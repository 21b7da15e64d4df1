"""The demo business: a simulated clothing shop with a sales team for business accounts.

It delivers what the live sources deliver (landing files, GA4 reports, Search Console rows)
and plants known truths for evaluation (schema demo_truth):

    from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files
    business = simulate(DemoConfig(seed=42, scale=1.0, days=180))
    write_landing_files(business, Path("data/landing"))

Everything is deterministic for a seed and prefix-stable: `config.advanced(28)` reproduces the
shared history exactly and adds 28 new days. Planted action effects: see `effects`.
"""

from flywheel_pipeline.sources.demo.config import DemoBusiness, DemoConfig
from flywheel_pipeline.sources.demo.landing import write_landing_files
from flywheel_pipeline.sources.demo.simulator import simulate

__all__ = ["DemoBusiness", "DemoConfig", "simulate", "write_landing_files"]
