"""Text generation that streams: each new token's text as soon as it is sampled.

`generate_text` runs a causal LM's own cached generation step (`generate_step`,
the one `model.generate()` compiles) with a keras-hub sampler, and hands each new
piece of text to a callback as its token is sampled (how each backend gets the
tokens out: `keras_pn.generation_backend`). Greedy decoding gives the tokens
`model.generate()` gives; a sampler built with a seed gives the same text on every
run. Beam search cannot stream (the best beam changes until the end): its text
arrives in one piece.

>>> from keras_pn.models import GPTByteTokenizer, GPTCausalLM, GPTCausalLMPreprocessor
>>> from keras_pn.models import GPTBackbone
>>> from keras_pn.testing import TINY_GPT
>>> model = GPTCausalLM(GPTBackbone(**TINY_GPT),
...     GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=32))
>>> pieces = []
>>> result = generate_text(model, "ab", max_new_tokens=4,
...     sampler=make_sampler("top_k", seed=1), on_text=pieces.append)
>>> len(result.new_token_ids) <= 4 and "".join(pieces) == result.completion
True
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable

import keras
import keras_hub
import numpy as np

from keras_pn import generation_backend

SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam")
DEFAULT_NEW_TOKENS = 128
# Text a byte-level tokenizer decodes from an unfinished UTF-8 character.
_INCOMPLETE = "\ufffd"


class GenerationError(ValueError):
    """A generation request the model cannot serve; the message says how to fix it."""


def make_sampler(
    name: str,
    *,
    temperature: float = 1.0,
    top_k: int = 5,
    top_p: float = 0.9,
    num_beams: int = 5,
    seed: int | None = None,
) -> keras_hub.samplers.Sampler:
    """A keras-hub sampler by name (one of `SAMPLERS`).

    >>> type(make_sampler("top_p", top_p=0.5, seed=0)).__name__
    'TopPSampler'
    """
    if name not in SAMPLERS:
        raise GenerationError(
            f"Unknown sampler {name!r}. Fix: use one of {', '.join(SAMPLERS)}."
        )
    if not temperature > 0:
        raise GenerationError(
            f"temperature={temperature} must be > 0. Fix: pass e.g. 1.0 (lower is "
            "more conservative)."
        )
    if name == "top_k" and top_k < 1:
        raise GenerationError(f"top_k={top_k} must be >= 1. Fix: pass e.g. 5.")
    if name == "top_p" and not 0 < top_p <= 1:
        raise GenerationError(f"top_p={top_p} must be in (0, 1]. Fix: pass e.g. 0.9.")
    if name == "beam" and num_beams < 1:
        raise GenerationError(f"num_beams={num_beams} must be >= 1. Fix: pass e.g. 5.")
    samplers = keras_hub.samplers
    if name == "greedy":
        return samplers.GreedySampler(temperature=temperature)
    if name == "top_k":
        return samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    if name == "top_p":
        return samplers.TopPSampler(p=top_p, seed=seed, temperature=temperature)
    if name == "random":
        return samplers.RandomSampler(seed=seed, temperature=temperature)
    return samplers.BeamSampler(num_beams=num_beams, temperature=temperature)


@dataclasses.dataclass
class Generation:
    """What `generate_text` produced.

    Attributes:
        prompt_token_ids: the prompt as the model saw it (start token included).
        new_token_ids: the generated tokens (the stop token, if reached, last).
        text: the prompt and its completion, decoded as `model.generate()` does.
        completion: the text `on_text` received, in order (`text` less the
            decoded prompt, unless a tokenizer rewrote text already shown).
    """

    prompt_token_ids: list[int]
    new_token_ids: list[int]
    text: str
    completion: str


class _StreamingSampler(keras_hub.samplers.Sampler):
    """`sampler`, reporting each token it picks to `on_token` (an int).

    On JAX and TensorFlow the task's compiled generate function runs, and each
    token reaches Python through a host callback; on torch the steps run in a
    Python loop.
    """

    def __init__(self, sampler, on_token):
        super().__init__(temperature=sampler.temperature)
        self.sampler = sampler
        self.on_token = on_token
        self.compiled = generation_backend.streams_compiled()

    @property
    def variables(self):
        return self.sampler.variables

    def compute_probabilities(self, logits):
        return self.sampler.compute_probabilities(logits)

    def get_next_token(self, probabilities):
        token = self.sampler.get_next_token(probabilities)
        if self.compiled:
            token = generation_backend.send_to_host(self._report, token)
        return token

    def _report(self, token):
        self.on_token(int(np.asarray(token).reshape(-1)[0]))

    def run_loop(self, cond, body, model=None, loop_vars=None, maximum_iterations=None):
        if self.compiled:
            return super().run_loop(cond, body, model, loop_vars, maximum_iterations)
        for _ in range(int(maximum_iterations)):
            if not bool(keras.ops.convert_to_numpy(cond(*loop_vars))):
                break
            loop_vars = body(*loop_vars)
            prompt, index = loop_vars[0], int(keras.ops.convert_to_numpy(loop_vars[2]))
            self.on_token(int(keras.ops.convert_to_numpy(prompt[0, index - 1])))
        return loop_vars


class _TextStream:
    """Turns token ids into the text they add, as a tokenizer decodes the whole."""

    def __init__(self, tokenizer, prompt_ids, stop_ids, on_text):
        self.tokenizer = tokenizer
        self.prompt_ids = list(prompt_ids)
        self.stop_ids = set(stop_ids)
        self.special_ids = set(getattr(tokenizer, "special_token_ids", []) or [])
        self.on_text = on_text
        self.new_ids: list[int] = []
        self.prefix = self.decode([])
        self.emitted = ""

    def decode(self, new_ids):
        ids = [i for i in self.prompt_ids + list(new_ids) if i not in self.special_ids]
        text = self.tokenizer.detokenize(np.asarray(ids, "int32")) if ids else ""
        return _as_str(text)

    def __call__(self, token_id):
        self.new_ids.append(token_id)
        if token_id in self.stop_ids:
            return
        completion = self.completion()
        if completion.endswith(_INCOMPLETE):
            return  # wait for the rest of a multi-byte character
        self.push(completion)

    def completion(self):
        return self.decode(self.new_ids)[len(self.prefix) :]

    def push(self, completion):
        # Text already shown cannot change: only an extension of it is sent.
        if completion.startswith(self.emitted) and len(completion) > len(self.emitted):
            piece = completion[len(self.emitted) :]
            self.emitted = completion
            if self.on_text is not None:
                self.on_text(piece)

    def finish(self):
        """Send what is left; return the whole text, decoded as `generate()` does."""
        self.push(self.completion())
        return self.decode(self.new_ids)


def _as_str(text):
    if isinstance(text, (bytes, np.bytes_)):
        return bytes(text).decode("utf-8", errors="replace")
    if hasattr(text, "numpy"):
        return _as_str(text.numpy())
    if isinstance(text, np.ndarray):
        return _as_str(text.item())
    return str(text)


def check_prompt(prompt):
    """Refuse an empty prompt (the model would continue nothing but a start token)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise GenerationError(
            f"The prompt is empty ({prompt!r}). Fix: pass the text to continue, "
            "e.g. --prompt='def fibonacci(n):'."
        )


def check_length(model, prompt, max_new_tokens=None):
    """`(prompt token ids, max_new_tokens)`; refuses a request beyond the context.

    `max_new_tokens=None` is `DEFAULT_NEW_TOKENS`, or fewer where the context
    ends first.
    """
    context = int(model.backbone.max_sequence_length)
    ids = prompt_token_ids(model, prompt)
    if max_new_tokens is None:
        max_new_tokens = max(min(DEFAULT_NEW_TOKENS, context - len(ids)), 0)
    if len(ids) >= context:
        raise GenerationError(
            f"The prompt is {len(ids)} tokens: it fills the model's context of "
            f"{context} tokens and leaves no room for new ones. Fix: shorten the "
            f"prompt below {context} tokens."
        )
    if max_new_tokens < 1:
        raise GenerationError(
            f"max_new_tokens={max_new_tokens} must be >= 1. Fix: pass e.g. "
            f"--max_new_tokens={context - len(ids)}."
        )
    if len(ids) + max_new_tokens > context:
        fix = f"pass --max_new_tokens={context - len(ids)} or less, or a shorter prompt"
        raise GenerationError(
            f"The prompt is {len(ids)} tokens and max_new_tokens={max_new_tokens}: "
            f"{len(ids) + max_new_tokens} tokens do not fit the model's context of "
            f"{context} tokens (its learned positions end there). Fix: {fix}."
        )
    return ids, max_new_tokens


def prompt_token_ids(model, prompt):
    """The token ids the preprocessor feeds for `prompt`, start token included."""
    preprocessor = _preprocessor(model)
    ids = [int(i) for i in keras.ops.convert_to_numpy(preprocessor.tokenizer(prompt))]
    if preprocessor.add_start_token:
        ids = [int(preprocessor.tokenizer.start_token_id)] + ids
    return ids


def _preprocessor(model):
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None or getattr(preprocessor, "tokenizer", None) is None:
        raise GenerationError(
            "The model has no tokenizer (its preset carries no preprocessor), so "
            "text cannot be turned into tokens. Fix: load a trained preset that was "
            "saved with its tokenizer (every zoo preset and every `<workdir>/preset` "
            "is), or attach a preprocessor: `model.preprocessor = "
            "GPTCausalLMPreprocessor(tokenizer, sequence_length=...)`."
        )
    return preprocessor


def _inputs(model, prompt, max_length, expert):
    from keras_pn.models import ProjectedGPT

    preprocessor = _preprocessor(model)
    if isinstance(model, ProjectedGPT):
        if expert is None:
            raise GenerationError(
                "This is a projected network: generation needs an expert. Fix: pass "
                f"expert=i (0 <= i < {model.backbone.num_experts}; with "
                "recipes.generate, --expert=i), or project one first "
                "(`model.project(expert=i)`)."
            )
        from keras_pn.models.projected_gpt.projected_gpt_backbone import validate_expert

        expert = validate_expert(expert, model.backbone.num_experts)
        # "prompts" last: keras-hub reads the scalar-ness of the last key.
        return preprocessor.generate_preprocess(
            {"cluster_ids": expert, "prompts": [prompt]}, sequence_length=max_length
        )
    if expert is not None:
        raise GenerationError(
            f"expert={expert} was given but the model is a plain "
            f"{type(model).__name__}, with no experts. Fix: drop the expert."
        )
    return preprocessor.generate_preprocess([prompt], sequence_length=max_length)


def generate_text(
    model,
    prompt: str,
    *,
    max_new_tokens: int | None = None,
    sampler: keras_hub.samplers.Sampler | str = "greedy",
    expert: int | None = None,
    stop_at_end: bool = True,
    on_text: Callable[[str], object] | None = None,
) -> Generation:
    """Generate a completion of `prompt`, passing each new piece of text to `on_text`.

    Args:
        model: a `GPTCausalLM` or `ProjectedGPT` with a preprocessor.
        prompt: non-empty text.
        max_new_tokens: at most this many new tokens; the prompt and they must
            fit the model's context (`backbone.max_sequence_length`). `None`:
            `DEFAULT_NEW_TOKENS`, or fewer where the context ends first.
        sampler: a keras-hub sampler or a name from `SAMPLERS`.
        expert: the expert of a `ProjectedGPT` (required there, refused elsewhere).
        stop_at_end: stop at the tokenizer's end token.
        on_text: called with each new piece of text, in order (a beam sampler
            calls it once, at the end).

    Returns:
        a `Generation`.
    """
    check_prompt(prompt)
    if isinstance(sampler, str):
        sampler = make_sampler(sampler)
    preprocessor = _preprocessor(model)
    ids, max_new_tokens = check_length(model, prompt, max_new_tokens)
    tokenizer = preprocessor.tokenizer
    stop_ids = [int(tokenizer.end_token_id)] if stop_at_end else []
    stream = _TextStream(tokenizer, ids, stop_ids, on_text)
    inputs = _inputs(model, prompt, len(ids) + max_new_tokens, expert)
    beam = isinstance(sampler, keras_hub.samplers.BeamSampler)
    outputs = _run_generate_step(
        model,
        inputs,
        sampler if beam else _StreamingSampler(sampler, stream),
        stop_ids or None,
    )
    token_ids = keras.ops.convert_to_numpy(outputs["token_ids"])[0]
    mask = keras.ops.convert_to_numpy(outputs["padding_mask"])[0]
    generation_backend.wait_for_callbacks()
    # The returned tokens are the truth (beam search streamed none of them).
    stream.new_ids = [int(i) for i in token_ids[len(ids) :][mask[len(ids) :]]]
    text = stream.finish()
    return Generation(ids, stream.new_ids, text, stream.emitted)


# On the model, beside keras-hub's own `generate_function`: {sampler kind and
# settings: (streaming sampler, generate function)}. A compiled generate function
# is traced once per model and sampler settings, then reused with other seeds,
# callbacks and prompts of the same length.
_CACHE_ATTRIBUTE = "_keras_pn_generate_functions"


def _sampler_key(sampler):
    config = dict(sampler.get_config())
    config.pop("seed", None)  # the seed is state, copied in at each call
    return type(sampler), json.dumps(config, sort_keys=True, default=str)


def _copy_seed_state(source, target):
    for value, variable in zip(source.variables, target.variables):
        variable.assign(value)


def _run_generate_step(model, inputs, sampler, stop_token_ids):
    """`model.generate_step` with `sampler`, through the task's generate function.

    A streaming sampler runs compiled where the tokens can reach Python from inside
    (JAX; TensorFlow without XLA), eager elsewhere (so Python sees each step; on
    torch under `no_grad`); beam search runs as `generate()` runs it. The model's
    sampler and compile state are restored after.
    """
    saved = (model.sampler, model.generate_function, model.run_eagerly, model.jit_compile)
    # Through __dict__: not a Keras-tracked attribute (nor a torch submodule).
    functions = vars(model).setdefault(_CACHE_ATTRIBUTE, {})
    streaming = isinstance(sampler, _StreamingSampler)
    key = _sampler_key(sampler.sampler if streaming else sampler)
    try:
        if key not in functions:
            traced = sampler
            if streaming:
                # The function is traced with a sampler of its own (TensorFlow reads
                # its seed variables); each call copies the caller's seed state in.
                own = type(sampler.sampler).from_config(sampler.sampler.get_config())
                traced = _StreamingSampler(own, sampler.on_token)
            model.sampler = traced
            model.generate_function = None
            # Eager only where Python runs the steps itself (see _StreamingSampler).
            model.run_eagerly = streaming and not traced.compiled
            if streaming and not generation_backend.compiles_with_xla():
                model.jit_compile = False  # XLA cannot call back into Python
            functions[key] = (traced, model.make_generate_function())
        traced, generate_function = functions[key]
        if streaming:
            _copy_seed_state(sampler.sampler, traced.sampler)
            traced.on_token = sampler.on_token
        model.sampler = traced
        outputs = generate_function(inputs, stop_token_ids=stop_token_ids)
        if streaming:
            _copy_seed_state(traced.sampler, sampler.sampler)  # the caller's seed moves on
        return outputs
    finally:
        model.sampler, model.generate_function, model.run_eagerly, model.jit_compile = saved


def load_for_generation(preset, expert=None):
    """A preset's causal LM, ready to generate; a `ProjectedGPT` is projected first.

    Projecting first gives the logits `ProjectedGPT.generate(expert=...)` gives, at
    the cost of one small GPT per token.
    """
    from keras_pn.models import ProjectedGPT
    from keras_pn.models.causal_lm import CausalLM

    model = CausalLM.from_preset(preset)
    _preprocessor(model)
    if isinstance(model, ProjectedGPT):
        if expert is None:
            raise GenerationError(
                f"Preset '{preset}' is a projected network with "
                f"{model.backbone.num_experts} experts: generation needs one. Fix: "
                f"pass --expert=i (0 <= i < {model.backbone.num_experts}), e.g. the "
                "expert of your domain's most frequent cluster."
            )
        return model.project(expert=expert)
    if expert is not None:
        raise GenerationError(
            f"--expert={expert} was given but preset '{preset}' is a plain "
            f"{type(model).__name__}, with no experts. Fix: drop --expert."
        )
    return model
