import subprocess
import sys


def test_import_pipeline_imports_no_heavy_engine():
    code = (
        "import sys, pipeline, pipeline.cli, pipeline.run.core, pipeline.engines.base, pipeline.engines.extractive;"
        "heavy = [m for m in ('vllm', 'torch') if m in sys.modules]; print(heavy); assert not heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_dash_m_pipeline_shows_help():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True)
    assert "Exit" in out.stdout and "codes" in out.stdout and "run" in out.stdout and "plan" in out.stdout
