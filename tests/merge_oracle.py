#!/usr/bin/env python3
"""`clues merge` against PEFT's add_weighted_adapter (ctest merge.oracle).

Makes a tiny random LLaMA with transformers and three LoRA adapters of one rank with
different lora_alpha (so different scalings) and random A and B (init_lora_weights=False),
then merges them with `clues merge` and with PEFT from PyPI on the same adapters, for TIES
(two densities, equal and unequal weights), linear (including a negative weight) and task
arithmetic (PEFT's "svd"). Merged A and B must equal PEFT's (task arithmetic: the update
B·A, which SVD fixes only up to signs), and the merged adapter must have PEFT's scaling.
Nothing is downloaded.

usage: merge_oracle.py CLUES_BINARY [WORKDIR]
"""
import json
import os
import subprocess

import torch

from oracle_common import check, finish, setup  # noqa: E402  (sets the offline environment first)
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

CLUES, WORK = setup("clues_merge_")


def base_model():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


adapters = []
for i, alpha in enumerate([8, 4, 16]):
    torch.manual_seed(100 + i)
    lc = LoraConfig(r=4, lora_alpha=alpha, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False,
                    lora_dropout=0.0)
    m = get_peft_model(base_model(), lc)
    d = os.path.join(WORK, f"adapter{i}")
    m.save_pretrained(d)
    adapters.append(d)


def peft_merge(weights, combination_type, density):
    model = PeftModel.from_pretrained(base_model(), adapters[0], adapter_name="a0")
    for i in (1, 2):
        model.load_adapter(adapters[i], adapter_name=f"a{i}")
    model.add_weighted_adapter(["a0", "a1", "a2"], weights, "m", combination_type=combination_type, density=density)
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, LoraLayer) and "m" in mod.lora_A:
            out[name] = (mod.lora_A["m"].weight.detach().clone(), mod.lora_B["m"].weight.detach().clone(),
                         mod.scaling["m"])
    return out


def clues_merge(method, weights, density, tag):
    out = os.path.join(WORK, tag)
    p = subprocess.run([CLUES, "merge", "--out", out, "--method", method, "--density", str(density), "--weights",
                        ",".join(str(w) for w in weights), *adapters], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"clues merge exited {p.returncode}")
    cfg = json.load(open(os.path.join(out, "adapter_config.json")))
    return load_file(os.path.join(out, "adapter_model.safetensors")), cfg["lora_alpha"] / cfg["r"]


cases = [
    ("ties", "ties", [1.0, 1.0, 1.0], 0.2),
    ("ties", "ties", [2.0, 0.5, 1.0], 0.5),
    ("linear", "linear", [0.3, 0.3, 0.4], 1.0),
    ("linear", "linear", [1.0, -0.5, 1.0], 1.0),
    ("task_arithmetic", "svd", [0.5, 0.5, 1.0], 1.0),
]
for k, (method, ct, weights, density) in enumerate(cases):
    ref = peft_merge(weights, ct, density)
    got, scaling = clues_merge(method, weights, density, f"merged{k}")
    what = f"{method} weights {weights} density {density}"
    check(len(got) == 2 * len(ref), f"{what}: {len(got)} tensors, PEFT has {2 * len(ref)}")
    worst = 0.0
    for name, (A, B, s) in ref.items():
        a = got.get(f"{name}.lora_A.weight")
        b = got.get(f"{name}.lora_B.weight")
        if a is None or b is None:
            check(False, f"{what}: {name} missing")
            continue
        if method == "task_arithmetic":
            worst = max(worst, ((b @ a) - (B @ A)).abs().max().item() / max((B @ A).abs().max().item(), 1e-12))
        else:
            worst = max(worst, (a - A).abs().max().item() / max(A.abs().max().item(), 1e-12),
                        (b - B).abs().max().item() / max(B.abs().max().item(), 1e-12))
    check(worst < 1e-5, f"{what}: max relative difference to PEFT {worst:.2e}")
    peft_scaling = next(iter(ref.values()))[2]
    check(abs(scaling - peft_scaling) < 1e-12, f"{what}: merged scaling {scaling} (PEFT {peft_scaling})")

# Different ranks are refused with the reason.
torch.manual_seed(7)
odd = get_peft_model(base_model(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], init_lora_weights=False))
odd_dir = os.path.join(WORK, "odd")
odd.save_pretrained(odd_dir)
p = subprocess.run([CLUES, "merge", "--out", os.path.join(WORK, "bad"), adapters[0], odd_dir], capture_output=True, text=True)
check(p.returncode == 2 and "rank" in p.stderr, f"adapters of two ranks: exit {p.returncode}, says {p.stderr.strip()[:120]!r}")

finish()
