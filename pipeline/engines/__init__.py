"""Engines behind one protocol (`base.Engine`): extractive (model-free), vllm (offline), server (HTTP)."""
