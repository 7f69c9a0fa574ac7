"""docpipe: folders of long PDFs in, page-cited summaries and clause extractions out.

Importing this package is cheap: it pulls in neither vllm nor torch (engines load them lazily).
The stages, one module each: ingest → plan → prompts → engines → cite/assemble → render, driven by runner.
"""

__version__ = "0.1.0"
