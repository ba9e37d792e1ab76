"""Generate text from a preset, streaming each token to the terminal as it is sampled.

    python -m recipes.generate --preset=pn_tiny_python --prompt="def add(a, b):"
    python -m recipes.generate --preset=runs/slm_licenses/preset --prompt="Permission is" \
        --sampler=top_p --top_p=0.9 --temperature=0.8 --seed=0 --max_new_tokens=64
    python -m recipes.generate --preset=pn_tiny_generic --expert=3 --prompt="The"

A projected network (`ProjectedGPT` preset) needs `--expert`: it is projected to
that expert first (the same logits, a small GPT's cost per token). Samplers are
keras-hub's; a seed makes `top_k`, `top_p` and `random` reproducible. `beam`
prints its text when the search ends. Stdout holds only the prompt and the text.
"""

import sys
import time

from absl import flags

from keras_pn import generation
from recipes import cli

flags.DEFINE_string("preset", None, "A preset directory or a built-in / zoo preset name.", required=True)
flags.DEFINE_string("prompt", None, "The text to continue.", required=True)
flags.DEFINE_integer(
    "max_new_tokens", None,
    f"At most this many new tokens; the prompt and they must fit the model's context "
    f"(default: {generation.DEFAULT_NEW_TOKENS}, or fewer where the context ends first).")
flags.DEFINE_enum("sampler", "top_k", generation.SAMPLERS, "keras-hub sampler.")
flags.DEFINE_float("temperature", 1.0, "Softmax temperature (> 0; lower is more conservative).")
flags.DEFINE_integer("top_k", 5, "Candidates kept by --sampler=top_k.")
flags.DEFINE_float("top_p", 0.9, "Probability mass kept by --sampler=top_p.")
flags.DEFINE_integer("num_beams", 5, "Beams of --sampler=beam.")
flags.DEFINE_integer("seed", None, "Sampling seed: the same seed gives the same text (default: a fresh one).")
flags.DEFINE_integer("expert", None, "The expert of a projected-network preset (required there).")
flags.DEFINE_boolean("stop_at_end", True, "Stop at the tokenizer's end token.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    generation.check_prompt(FLAGS.prompt)  # before loading the model
    sampler = generation.make_sampler(
        FLAGS.sampler,
        temperature=FLAGS.temperature,
        top_k=FLAGS.top_k,
        top_p=FLAGS.top_p,
        num_beams=FLAGS.num_beams,
        seed=FLAGS.seed,
    )
    model = generation.load_for_generation(FLAGS.preset, expert=FLAGS.expert)
    _, max_new_tokens = generation.check_length(model, FLAGS.prompt, FLAGS.max_new_tokens)

    def show(piece):
        sys.stdout.write(piece)
        sys.stdout.flush()

    start = time.perf_counter()
    show(FLAGS.prompt)
    result = generation.generate_text(
        model,
        FLAGS.prompt,
        max_new_tokens=max_new_tokens,
        sampler=sampler,
        stop_at_end=FLAGS.stop_at_end,
        on_text=show,
    )
    show("\n")
    seconds = time.perf_counter() - start
    stopped = " (end token)" if len(result.new_token_ids) < max_new_tokens else ""
    print(f"[{len(result.new_token_ids)} new tokens{stopped} in {seconds:.1f} s]", file=sys.stderr)


if __name__ == "__main__":
    cli.run(main)
