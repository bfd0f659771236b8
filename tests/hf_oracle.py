#!/usr/bin/env python3
"""Model folders against independent implementations (ctest hf.oracle).

Makes tiny random LLaMA, Mistral and Qwen2 models with transformers (grouped-query
attention; llama3 rope scaling; q/k/v biases and tied embeddings), saves them with
save_pretrained in float32 and bfloat16, trains a tiny SentencePiece model on a
mixed-script text, and checks `clues tokenize`, `clues loss`, a short `clues run` and its
PEFT adapter against sentencepiece, transformers and PEFT from PyPI. Broken folders must
fail with exit 2 and a message naming the problem. Nothing is downloaded.

usage: hf_oracle.py CLUES_BINARY [WORKDIR]
"""
import json
import os
import random
import shutil
import subprocess

import torch

from oracle_common import check, finish, setup  # noqa: E402  (sets the offline environment first)
import sentencepiece as spm  # noqa: E402
import transformers  # noqa: E402
from peft import PeftModel  # noqa: E402

CLUES, WORK = setup("clues_hf_")
torch.manual_seed(0)
random.seed(0)


def clues(*args, expect=0):
    p = subprocess.run([CLUES, *args], capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stdout[-3000:], p.stderr[-3000:], sep="\n")
        raise SystemExit(f"clues {' '.join(args[:1])} exited {p.returncode}, expected {expect}")
    return p


# ---- data and tokenizer
WORDS = ("the quick brown fox jumps over lazy dog data model silo sample good bad über straße café naïve "
         "ελληνικά κείμενο 日本語 テキスト 中文 文本 русский текст 🙂 numbers 123 4567").split()
corpus = os.path.join(WORK, "corpus.txt")
with open(corpus, "w") as f:
    for _ in range(400):
        f.write(" ".join(random.choice(WORDS) for _ in range(random.randint(3, 12))) + "\n")
spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(WORK, "tok"), vocab_size=400, model_type="bpe",
                               character_coverage=1.0, byte_fallback=True, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
                               minloglevel=2)
sp = spm.SentencePieceProcessor(model_file=os.path.join(WORK, "tok.model"))
V = sp.get_piece_size()

texts = ["Hello wörld 🙂 日本語 κείμενο xyz", "straße café naïve — “quotes” and tabs\tend",
         "русский текст 123 4567 中文文本 テキスト", "the quick brown fox", "Ünïcödé ÆØÅ ĳ ﬁ 𝔘 emoji 🚀🙂 mixed"]
raw = os.path.join(WORK, "raw.txt")
with open(raw, "w") as f:
    f.write("\n".join(texts) + "\n")


def sample(i):
    return {"instruction": f"Translate sample {i}: " + random.choice(texts),
            "input": "" if i % 3 == 0 else " ".join(random.choice(WORDS) for _ in range(5)),
            "output": " ".join(random.choice(WORDS) for _ in range(random.randint(2, 9)))}


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


data = os.path.join(WORK, "data.jsonl")
rows = [sample(i) for i in range(12)]
write_jsonl(data, rows)


def alpaca(r):
    if r["input"]:
        return ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n### Instruction:\n" + r["instruction"] +
                "\n\n### Input:\n" + r["input"] + "\n\n### Response:")
    return ("Below is an instruction that describes a task. Write a response that appropriately completes the request."
            "\n\n### Instruction:\n" + r["instruction"] + "\n\n### Response:")


# ---- token ids: clues (Debian's libsentencepiece) against PyPI's sentencepiece
small = dict(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
models = {
    "llama": (transformers.LlamaConfig(**small, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                              "high_freq_factor": 4.0,
                                                              "original_max_position_embeddings": 64}),
              transformers.LlamaForCausalLM),
    "mistral": (transformers.MistralConfig(**small, sliding_window=4096), transformers.MistralForCausalLM),
    "qwen2": (transformers.Qwen2Config(**{**small, "num_key_value_heads": 1}, tie_word_embeddings=True),
              transformers.Qwen2ForCausalLM),
}
folders = {}
for name, (cfg, cls) in models.items():
    torch.manual_seed(len(name))
    m = cls(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a mapping mistake shows
        for n, p in m.named_parameters():
            if "norm" in n or n.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    for dtype in ("float32", "bfloat16"):
        d = os.path.join(WORK, f"{name}_{dtype}")
        (m if dtype == "float32" else m.to(torch.bfloat16)).save_pretrained(d)
        shutil.copy(os.path.join(WORK, "tok.model"), os.path.join(d, "tokenizer.model"))
        folders[(name, dtype)] = d
        m = m.float()

p = clues("tokenize", "--model", folders[("llama", "float32")], "--data", raw, "--raw")
got = [list(map(int, line.split())) for line in p.stdout.splitlines()]
want = [[1] + sp.encode(t) for t in texts]
check(got == want, "token ids of a mixed-script text equal sentencepiece's (PyPI), BOS first")

p = clues("tokenize", "--model", folders[("llama", "float32")], "--data", data)
ok = True
for line, r in zip(p.stdout.splitlines(), rows):
    prompt, response = line.split(" | ")
    ok &= list(map(int, prompt.split())) == [1] + sp.encode(alpaca(r))
    ok &= list(map(int, response.split())) == sp.encode(r["output"]) + [2]
check(ok and len(p.stdout.splitlines()) == len(rows), "Alpaca samples: <BOS> prompt | response <EOS>, token for token")


# ---- byte-level BPE tokenizer.json (Llama-3 / Qwen2 style) against the tokenizers library
from tokenizers import Tokenizer, Regex, models as tmodels, pre_tokenizers, trainers  # noqa: E402

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
bpe_kinds = {
    "split": pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
    "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
}
tricky = texts + ["it's   spaced\t\tout 12345678 they'll  ", "<|eot|> added <|eot|>tokens<|begin_of_text|>", " lead"]
tricky_rows = [{"instruction": "line one\n\n  line two\n", "input": "it's   spaced\r\n\tout", "output": " x\n\ny 1234567"}]
for kind, pre in bpe_kinds.items():
    bt = Tokenizer(tmodels.BPE(ignore_merges=(kind == "split")))
    bt.pre_tokenizer = pre
    bt.train([corpus], trainers.BpeTrainer(vocab_size=500, special_tokens=["<|begin_of_text|>", "<|end_of_text|>", "<|eot|>"],
                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    d = os.path.join(WORK, f"bpe_{kind}")
    cfg = transformers.LlamaConfig(**{**small, "vocab_size": bt.get_vocab_size(), "bos_token_id": 0, "eos_token_id": 1})
    torch.manual_seed(7)
    transformers.LlamaForCausalLM(cfg).save_pretrained(d)
    bt.save(os.path.join(d, "tokenizer.json"))
    tricky_raw = os.path.join(WORK, f"tricky_{kind}.txt")
    with open(tricky_raw, "w") as f:
        f.write("\n".join(tricky) + "\n")
    got = [list(map(int, line.split())) for line in clues("tokenize", "--model", d, "--data", tricky_raw, "--raw").stdout.splitlines()]
    want = [[0] + bt.encode(t).ids for t in tricky]
    check(got == want, f"byte-level BPE ({kind} pre-tokenizer) token ids equal the tokenizers library's")
    tricky_jsonl = os.path.join(WORK, f"tricky_{kind}.jsonl")
    write_jsonl(tricky_jsonl, tricky_rows)
    line = clues("tokenize", "--model", d, "--data", tricky_jsonl).stdout.splitlines()[0]
    prompt, response = line.split(" | ")
    want_p, want_r = [0] + bt.encode(alpaca(tricky_rows[0])).ids, bt.encode(tricky_rows[0]["output"]).ids + [1]
    check(list(map(int, prompt.split())) == want_p and list(map(int, response.split())) == want_r,
          f"byte-level BPE ({kind}): newlines, CR and runs of spaces in a sample tokenize as the library does")
    if kind == "split":
        bpe_folder, bpe_tok = d, bt

# ---- losses against transformers
def hf_losses(model, seqs, starts):
    out = []
    with torch.no_grad():
        for ids, s in zip(seqs, starts):
            x = torch.tensor([ids])
            logits = model(x).logits.float()[0]
            tok = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="none")
            out.append(tok[s - 1:].mean().item())
    return out


def encodings(cfg, raw_text, enc=sp.encode):
    bos = [cfg.bos_token_id] if cfg.bos_token_id is not None else []
    eos = [cfg.eos_token_id] if cfg.eos_token_id is not None else []
    if raw_text:
        return [bos + enc(t) for t in texts], [1] * len(texts)
    seqs, starts = [], []
    for r in rows:
        prompt = bos + enc(alpaca(r))
        seqs.append(prompt + enc(r["output"]) + eos)
        starts.append(max(1, len(prompt)))
    return seqs, starts


for (name, dtype), d in sorted(folders.items()):
    ref = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=getattr(torch, dtype)).eval()
    tol = 1e-4 if dtype == "float32" else 3e-2
    for raw_text in (True, False):
        seqs, starts = encodings(ref.config, raw_text)
        want = hf_losses(ref, seqs, starts)
        args = ["loss", "--model", d, "--data", raw if raw_text else data, "--model.dtype", dtype] + (["--raw"] if raw_text else [])
        got = [float(x) for x in clues(*args).stdout.split()]
        err = max(abs(a - b) for a, b in zip(got, want)) if len(got) == len(want) else float("inf")
        check(err <= tol, f"{name} {dtype} {'raw text' if raw_text else 'Alpaca response'} losses equal transformers' "
                          f"(max |diff| {err:.2e} <= {tol:g})")

ref = transformers.AutoModelForCausalLM.from_pretrained(bpe_folder, dtype=torch.float32).eval()
seqs, starts = encodings(ref.config, False, lambda t: bpe_tok.encode(t).ids)
want = hf_losses(ref, seqs, starts)
got = [float(x) for x in clues("loss", "--model", bpe_folder, "--data", data).stdout.split()]
err = max(abs(a - b) for a, b in zip(got, want))
check(len(got) == len(want) and err <= 1e-4, f"BPE folder: Alpaca response losses equal transformers' (max |diff| {err:.2e})")

# pre-tokenized input: the same numbers as the text it came from
d = folders[("llama", "float32")]
seqs, starts = encodings(transformers.AutoConfig.from_pretrained(d), False)
pre = os.path.join(WORK, "pre.jsonl")
write_jsonl(pre, [{"input_ids": s, "response_mask": [0] * st + [1] * (len(s) - st)} for s, st in zip(seqs, starts)])
a = clues("loss", "--model", d, "--data", pre).stdout.split()
b = clues("loss", "--model", d, "--data", data).stdout.split()
check(a == b, "pre-tokenized JSONL (input_ids, response_mask) gives the text's losses exactly")

# ---- a run with a model folder, and its PEFT adapter
silo_a, silo_b = os.path.join(WORK, "a.jsonl"), os.path.join(WORK, "b.jsonl")
write_jsonl(silo_a, [sample(i) for i in range(16)])
write_jsonl(silo_b, [sample(i) for i in range(16, 28)])
val, anc = os.path.join(WORK, "val.jsonl"), os.path.join(WORK, "anchor.jsonl")
write_jsonl(val, [sample(i) for i in range(28, 34)])
write_jsonl(anc, [sample(i) for i in range(34, 40)])


def adapter_against_peft(d, adapter, what):
    """Loads OUT/adapter with PEFT; clues loss --adapter must give PEFT's losses, moved from the base's."""
    base = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    peft = PeftModel.from_pretrained(transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32),
                                     adapter).eval()
    seqs, starts = encodings(base.config, False)
    want = hf_losses(peft, seqs, starts)
    plain = hf_losses(base, seqs, starts)
    got = [float(x) for x in clues("loss", "--model", d, "--adapter", adapter, "--data", data).stdout.split()]
    err = max(abs(x - y) for x, y in zip(got, want))
    moved = max(abs(x - y) for x, y in zip(want, plain))
    check(err <= 1e-4 and moved > 1e-4,
          f"{what}: losses with the adapter equal PEFT's (max |diff| {err:.2e}); the adapter moved them by {moved:.2e}")
    return peft


for name in ("llama", "qwen2"):
    d = folders[(name, "float32")]
    out_dir = os.path.join(WORK, f"run_{name}")
    clues("run", "--model", d, "--silo", silo_a, "--silo", silo_b, "--validation", val, "--anchor", anc, "--out", out_dir,
          "--train.rounds", "2", "--train.local_steps", "3", "--train.batch_size", "4", "--train.lr", "5e-3",
          "--model.lora_targets", "q,v,down", "--model.max_seq_len", "256", "--compare.rows", "none", "--progress", "60")
    adapter = os.path.join(out_dir, "adapter")
    peft = adapter_against_peft(d, adapter, name)
    lora_b = [p for n, p in peft.named_parameters() if "lora_B" in n]
    check(len(lora_b) == 2 * 3 and all(p.abs().sum() > 0 for p in lora_b),
          f"{name}: PeftModel.from_pretrained loads OUT/adapter: 6 trained lora_B (q, v, down in 2 layers)")
    # per-sample LoRA gradients: clues's engines against PyTorch autograd through PEFT
    from safetensors.torch import load_file
    seqs, starts = encodings(transformers.AutoConfig.from_pretrained(d), False)
    want_g = {}
    lora = {n.replace(".default", ""): p for n, p in peft.named_parameters() if "lora_" in n}
    for p in lora.values():
        p.requires_grad_(True)
    for i, (ids, st) in enumerate(zip(seqs, starts)):
        peft.zero_grad()
        x = torch.tensor([ids])
        logits = peft(x).logits.float()[0]
        torch.nn.functional.cross_entropy(logits[st - 1:-1], x[0, st:]).backward()
        for n, p in lora.items():
            want_g.setdefault(n, []).append(p.grad.detach().clone())
    for engine in ("batched", "loop"):
        gfile = os.path.join(WORK, f"grads_{name}_{engine}.safetensors")
        clues("loss", "--model", d, "--adapter", adapter, "--data", data, "--grads", gfile, "--engine", engine)
        got_g = load_file(gfile)
        errs = [((got_g[n] - torch.stack(v)).abs().max() / torch.stack(v).abs().max()).item() for n, v in want_g.items()]
        check(sorted(got_g) == sorted(want_g) and max(errs) < 1e-4,
              f"{name}: per-sample LoRA gradients ({engine} engine) equal PyTorch autograd's through PEFT "
              f"(max relative difference {max(errs):.1e} over {len(errs)} tensors)")
    with open(os.path.join(out_dir, "report.json")) as f:
        rep = json.load(f)
    check(sum(s["kept"] for s in rep["silos"].values()) > 0, f"{name}: the run kept samples and finished (report.json)")

# ---- merge mode: the silos fine-tune alone and the adapter is their TIES merge; PEFT loads
# it and gives clues's losses (the merged B is stored at the run's own scaling)
d = folders[("llama", "float32")]
out_dir = os.path.join(WORK, "run_merge")
clues("run", "--model", d, "--silo", silo_a, "--silo", silo_b, "--validation", val, "--anchor", anc, "--out", out_dir,
      "--collab", "merge", "--select.scope", "silo", "--train.rounds", "2", "--train.local_steps", "3",
      "--train.batch_size", "4", "--train.lr", "5e-3", "--model.lora_targets", "q,v", "--model.max_seq_len", "256",
      "--compare.rows", "none", "--progress", "60")
adapter_against_peft(d, os.path.join(out_dir, "adapter"), "merge mode (TIES-merged adapter)")

# full fine-tuning of the tied, biased Qwen2 model: OUT/model loads in transformers
d = folders[("qwen2", "float32")]
out_dir = os.path.join(WORK, "run_full")
clues("run", "--model", d, "--silo", silo_a, "--silo", silo_b, "--validation", val, "--anchor", anc, "--out", out_dir,
      "--train.rounds", "2", "--train.local_steps", "2", "--train.batch_size", "4", "--train.lr", "1e-3",
      "--model.finetune", "full", "--model.max_seq_len", "256", "--compare.rows", "none", "--progress", "60")
tuned = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(out_dir, "model"), dtype=torch.float32).eval()
base = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
seqs, starts = encodings(base.config, False)
want, plain = hf_losses(tuned, seqs, starts), hf_losses(base, seqs, starts)
got = [float(x) for x in clues("loss", "--model", os.path.join(out_dir, "model"), "--data", data).stdout.split()]
err = max(abs(x - y) for x, y in zip(got, want))
moved = max(abs(x - y) for x, y in zip(want, plain))
check(err <= 1e-4 and moved > 1e-4,
      f"qwen2 full fine-tuning: OUT/model loads in transformers with clues's losses (max |diff| {err:.2e}); moved {moved:.2e}")

# ---- broken folders: exit 2 and a message that names the problem
src = folders[("llama", "float32")]


def broken(tag, edit, expect_text):
    d = os.path.join(WORK, "broken_" + tag)
    shutil.copytree(src, d)
    edit(d)
    p = clues("loss", "--model", d, "--data", raw, "--raw", expect=2)
    check(expect_text in p.stderr, f"broken folder ({tag}): exit 2 with \"{expect_text}\" in: {p.stderr.strip()[:160]}")


def edit_config(**kv):
    def f(d):
        path = os.path.join(d, "config.json")
        c = json.load(open(path))
        c.update(kv)
        json.dump(c, open(path, "w"))
    return f


def shard_missing(d):
    os.rename(os.path.join(d, "model.safetensors"), os.path.join(d, "model-00001-of-00002.safetensors"))
    json.dump({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}},
              open(os.path.join(d, "model.safetensors.index.json"), "w"))


def truncate(d):
    path = os.path.join(d, "model.safetensors")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 1000)


broken("architecture", edit_config(architectures=["GPT2LMHeadModel"]), "GPT2LMHeadModel")
broken("shape", edit_config(intermediate_size=128), "has shape")
broken("shard", shard_missing, "model-00002-of-00002.safetensors")
broken("truncated", truncate, "truncated")
broken("no_weights", lambda d: os.remove(os.path.join(d, "model.safetensors")), "no model.safetensors")

finish()
