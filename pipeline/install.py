"""How to install the optional parts, in words that work from a fresh host.

docpipe's distribution is `docpipe-cite` (pyproject.toml); the import package stays `pipeline` and the command
`docpipe`. PyPI's `docpipe` and `pipeline` are unrelated projects, and `docpipe-cite` is not published there,
so a hint never says `pip install 'docpipe[…]'`: it names the third-party packages an extra stands for (real
PyPI projects), and the source install of the extra. `EXTRAS` must equal pyproject's optional dependencies
(tests/test_cli_help.py checks).
"""

from __future__ import annotations

DISTRIBUTION = "docpipe-cite"
EXTRAS = {"vllm": ("vllm>=0.24",), "ray": ("ray[data]>=2.40",), "pdfium": ("pypdfium2>=4.30",),
          "ocr": ("rapidocr==3.10.0", "onnxruntime>=1.17", "pypdfium2>=4.30")}


def install_hint(extra: str) -> str:
    """`pip install 'pypdfium2>=4.30'` (docpipe's [pdfium] extra; from its source folder: …)."""
    packages = " ".join(f"'{p}'" for p in EXTRAS[extra])
    return (f"pip install {packages} (docpipe's {extra} extra; from docpipe's source folder: "
            f"pip install -e '.[{extra}]')")
