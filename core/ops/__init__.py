"""Ops: training, sweeps, deployment, pipeline, drift and A/B over the store."""
