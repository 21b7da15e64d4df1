"""Evaluation against the demo's planted truths (demo mode only).

This is the one package outside the simulator that reads schema ``demo_truth``: it scores what
the pipeline published against what the simulator planted. Production code never imports it.
"""
