"""A plain PyTorch GPT: the hand-written reference of ``bench/vs_keras_hub.py``.

The same network as ``keras_pn.models.GPTBackbone`` + ``GPTCausalLM`` (and
nanoGPT): learned token and position embeddings, pre-norm blocks
``x + attn(ln(x))``, ``x + mlp(ln(x))``, causal attention through
``torch.nn.functional.scaled_dot_product_attention``, a tanh-GELU MLP, biases
everywhere, a final layer norm and an output projection tied to the token
embedding. Trained like ``keras_pn.training.trainer.compile_for_training``
trains: Adam with linear warm-up then cosine decay, global gradient-norm
clipping at 5.0, cross-entropy on logits.

No Keras here: this module is imported by the benchmarks only, and can be run
alone for a quick tokens/s figure::

    python bench/torch_reference.py --steps=20
    python bench/torch_reference.py --device=cuda --dtype=bfloat16 --compile \
        --vocab=32000 --layers=7 --heads=8 --width=1024 --mlp=4096 --seq=1024
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):  # (B, T, D)
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, Q)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, width, heads, mlp, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.fc = nn.Linear(width, mlp)
        self.out = nn.Linear(mlp, width)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    """``GPT(vocab, layers, heads, width, mlp, max_len)``; ``forward(ids) -> logits``."""

    def __init__(self, vocab, layers, heads, width, mlp, max_len, eps=1e-5):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(max_len, width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp, eps) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, eps=eps)
        # keras_pn's initialisation: N(0, 0.02), residual writers / sqrt(2 L).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name.endswith(("proj.weight", "out.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):  # (B, T) int64
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()  # tied output projection


def warmup_cosine(peak, warmup, total, final_fraction=0.1):
    """``keras_pn.training.optimizer.WarmupCosineSchedule`` as a LambdaLR factor."""
    total = max(total, warmup + 1)

    def factor(step):
        if step < warmup:
            return min(step / max(warmup, 1), 1.0)
        progress = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class Trainer:
    """One training step, the way ``compile_for_training`` trains a Keras model.

    ``step(ids, targets)`` runs forward, backward, clipping and the Adam update
    and returns the loss as a Python float (a host sync, like ``train_on_batch``).
    ``compile=True`` wraps the forward + loss in ``torch.compile``; ``dtype``
    other than float32 runs the forward under ``torch.autocast`` (weights and
    optimizer state stay float32, as under Keras' ``mixed_bfloat16`` policy).
    """

    def __init__(self, model, learning_rate=1e-4, total_steps=10_000, clipnorm=5.0,
                 dtype=torch.float32, compile=False):
        self.model = model
        device = next(model.parameters()).device
        self.device_type = device.type
        self.dtype = dtype
        self.clipnorm = clipnorm
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        warmup = min(1000, max(1, total_steps // 10))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(1.0, warmup, total_steps)
        )

        def loss_fn(ids, targets):
            with torch.autocast(self.device_type, dtype=dtype, enabled=dtype != torch.float32):
                logits = self.model(ids)
            return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

        self.loss_fn = torch.compile(loss_fn) if compile else loss_fn

    def step(self, ids, targets):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(ids, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clipnorm)
        self.optimizer.step()
        self.schedule.step()
        return loss.item()


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def build(vocab, layers, heads, width, mlp, seq, device="cpu", dtype=torch.float32,
          compile=False, total_steps=10_000, seed=0):
    """Returns ``(model, trainer)`` on ``device``."""
    torch.manual_seed(seed)
    model = GPT(vocab, layers, heads, width, mlp, seq).to(device)
    return model, Trainer(model, total_steps=total_steps, dtype=dtype, compile=compile)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--mlp", type=int, default=512)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    model, trainer = build(args.vocab, args.layers, args.heads, args.width, args.mlp,
                           args.seq, args.device, getattr(torch, args.dtype), args.compile)
    ids = torch.randint(4, args.vocab, (args.batch, args.seq + 1), device=args.device)
    x, y = ids[:, :-1], ids[:, 1:]
    for _ in range(3):
        trainer.step(x, y)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = trainer.step(x, y)
    seconds = (time.perf_counter() - start) / args.steps
    print(f"# {count_parameters(model):,} parameters; {seconds * 1e3:.1f} ms/step, "
          f"{args.batch * args.seq / seconds:,.0f} tokens/s, loss {loss:.3f}")


if __name__ == "__main__":
    main()
