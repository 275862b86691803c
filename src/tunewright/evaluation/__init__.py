"""Evaluation: task metrics, batched generation, the general suite (forgetting)."""
