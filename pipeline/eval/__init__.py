"""Measured quality: score an engine's clause extraction against expert labels.

`cuad` reads a folder in CUAD's layout and places the expert's spans on pages; `score` holds CUAD's scoring
rules as pure functions; `report` turns scores into `eval.json` and `eval.md`; `evaluate` runs (or reuses)
the clause task and ties them together (`docpipe eval cuad`).
"""
