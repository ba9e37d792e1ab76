"""Where keras_pn's MiniLM embedding time goes, vs sentence-transformers (same texts).

Usage: KERAS_BACKEND=jax python bench/profiles/embed_profile.py   (also tensorflow, torch)
Measured 2026-12-02, 2 Xeon cores, jax: keras_pn 8.31 s = tokenize 0.65 s + forward 7.66 s
(65,536 padded tokens); sentence-transformers 5.35 s (tokenize 0.30 s).
"""
import os, sys, time, statistics
_HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [os.path.dirname(_HERE), os.path.dirname(os.path.dirname(_HERE))]
import numpy as np
from embedding import make_texts
import keras, torch
from sentence_transformers import SentenceTransformer
from keras_pn.data.minilm_embedder import MiniLMEmbedder, minilm_model_dir, _to_numpy
texts = make_texts(2000, 0, long_every=25)
ours = MiniLMEmbedder(batch_size=64)
ref = SentenceTransformer(str(minilm_model_dir()), device="cpu")
ours.embed(texts); ref.encode(texts[:256], batch_size=64)
def med(f, n=3):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
t_tok = med(lambda: ours.tokenize(texts))
ids, lengths = ours.tokenize(texts)
order = np.argsort(-lengths, kind="stable")
batches = []
padded_tokens = 0
for s in range(0, len(order), 64):
    rows = order[s:s+64]; L = next(b for b in ours.buckets if b >= int(lengths[rows].max()))
    b = np.full((64, L), ours._pad_id, "int32"); b[:len(rows)] = ids[rows, :L]
    b[len(rows):, :2] = ids[rows[0], [0, lengths[rows[0]] - 1]]
    batches.append({"token_ids": b, "padding_mask": b != ours._pad_id, "segment_ids": np.zeros_like(b)})
    padded_tokens += 64 * L
t_fwd = med(lambda: [_to_numpy(ours.model.predict_on_batch(x)) for x in batches])
t_all = med(lambda: ours.embed(texts))
# sentence-transformers: tokenization alone and forward alone
feats = [ref.tokenize(texts[s:s+64]) for s in range(0, 2000, 64)]
t_st_tok = med(lambda: [ref.tokenize(texts[s:s+64]) for s in range(0, 2000, 64)])
def st_fwd():
    with torch.inference_mode():
        for f in feats: ref.forward(dict(f))
t_st_fwd = med(st_fwd)
t_st_all = med(lambda: ref.encode(texts, batch_size=64))
st_tokens = sum(int(f["input_ids"].numel()) for f in feats)
print(f"backend={keras.config.backend()} torch_threads={torch.get_num_threads()}")
print(f"keras_pn: total {t_all:.2f}s = tokenize {t_tok:.2f}s + forward {t_fwd:.2f}s ({padded_tokens} padded tokens, {padded_tokens/t_fwd:,.0f} tok/s), real tokens {int(lengths.sum())}")
print(f"sentence-transformers: total {t_st_all:.2f}s; tokenize {t_st_tok:.2f}s; forward (unsorted batches) {t_st_fwd:.2f}s ({st_tokens} padded tokens, {st_tokens/t_st_fwd:,.0f} tok/s)")
