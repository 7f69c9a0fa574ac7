"""The run store: what was done, under which key, and what a run must redo."""
