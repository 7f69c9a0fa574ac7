"""Stage merge: replies of a document's windows → one `DocResult` (parse + cite, reduce, clause merge)."""
