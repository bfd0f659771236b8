#!/usr/bin/env python3
"""Tiny Hugging Face folders written with the standard library alone (no torch), for the
shell tests that need a model or adapter folder but no oracle:
  tiny_hf.py model DIR                  a LlamaForCausalLM folder: config.json and
                                        model.safetensors (vocab 64, hidden 16, 1 layer), no
                                        tokenizer (its data must be pre-tokenized)
  tiny_hf.py adapter DIR HIDDEN BASE    a PEFT LoRA adapter (r 2, q_proj and v_proj) of a
                                        1-layer model of that hidden size, naming BASE
  tiny_hf.py tokens FILE N              N pre-tokenized JSONL samples for the tiny model
"""
import json
import os
import random
import struct
import sys


def write_safetensors(path, tensors, seed):
    """tensors: [(name, shape, fill)], fill None for random values in [-0.1, 0.1]."""
    rng = random.Random(seed)
    header, blobs, off = {}, [], 0
    for name, shape, fill in tensors:
        n = 1
        for d in shape:
            n *= d
        values = [fill] * n if fill is not None else [rng.uniform(-0.1, 0.1) for _ in range(n)]
        data = struct.pack(f"<{n}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def model(d, vocab=64, hidden=16, inter=32):
    os.makedirs(d, exist_ok=True)
    json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden,
               "intermediate_size": inter, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
               "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "bos_token_id": 1,
               "eos_token_id": 2, "tie_word_embeddings": False, "torch_dtype": "float32"},
              open(os.path.join(d, "config.json"), "w"))
    p = "model.layers.0."
    tensors = [("model.embed_tokens.weight", [vocab, hidden], None), ("model.norm.weight", [hidden], 1.0),
               ("lm_head.weight", [vocab, hidden], None), (p + "input_layernorm.weight", [hidden], 1.0),
               (p + "post_attention_layernorm.weight", [hidden], 1.0)]
    tensors += [(p + f"self_attn.{x}_proj.weight", [hidden, hidden], None) for x in "qkvo"]
    tensors += [(p + "mlp.gate_proj.weight", [inter, hidden], None), (p + "mlp.up_proj.weight", [inter, hidden], None),
                (p + "mlp.down_proj.weight", [hidden, inter], None)]
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, seed=1)


def adapter(d, hidden, base):
    os.makedirs(d, exist_ok=True)
    json.dump({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
               "base_model_name_or_path": base}, open(os.path.join(d, "adapter_config.json"), "w"))
    tensors = []
    for x in "qv":
        n = f"base_model.model.model.layers.0.self_attn.{x}_proj."
        tensors += [(n + "lora_A.weight", [2, hidden], None), (n + "lora_B.weight", [hidden, 2], None)]
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, seed=hidden + len(d))


def tokens(path, n):
    rng = random.Random(3)
    with open(path, "w") as f:
        for _ in range(n):
            ids = [1] + [rng.randrange(3, 64) for _ in range(rng.randrange(6, 12))] + [2]
            mask = [0] * (len(ids) // 2) + [1] * (len(ids) - len(ids) // 2)
            f.write(json.dumps({"input_ids": ids, "response_mask": mask}) + "\n")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "model":
        model(sys.argv[2])
    elif what == "adapter":
        adapter(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif what == "tokens":
        tokens(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
