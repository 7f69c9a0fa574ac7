import io

from rich.console import Console

from pipeline.config import RunConfig
from pipeline.run.progress import TerminalProgress
from pipeline.run.core import run
from tests.conftest import write_contracts


def test_terminal_progress_shows_documents_tokens_and_eta(tmp_path):
    folder = tmp_path / "in"
    write_contracts(folder, 2)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, color_system=None, width=150)
    run([folder], tmp_path / "out", RunConfig(tasks=("clauses",)), progress=TerminalProgress(console))
    text = screen.getvalue()
    assert "documents" in text and "2/2" in text and "prompt tokens" in text and "ETA" in text
    screen.seek(0)
    screen.truncate()
    run([folder], tmp_path / "out", RunConfig(tasks=("clauses",)), progress=TerminalProgress(console))
    assert "2 documents unchanged since an earlier run" in screen.getvalue()
    assert "documents" not in screen.getvalue().replace("2 documents unchanged", "")  # no empty bar
