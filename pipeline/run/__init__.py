"""Running the stages over many documents: the one batch core and its callers (local, Ray)."""
