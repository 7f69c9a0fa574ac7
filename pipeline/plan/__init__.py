"""Stage plan: `Document` → `Plan` (exact token counts, a route, and the prompts of every request)."""
