"""Engines behind one protocol (`base.Engine`): extractive (model-free), keyword (a trivial
baseline), vllm (offline), server (HTTP)."""
