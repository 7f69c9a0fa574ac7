"""Stage cite: a model's quote → a `Citation` found in the source pages (computed, never trusted)."""
