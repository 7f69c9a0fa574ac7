"""Stage render: results → files (result.json, summary.md, the review report, exports)."""
