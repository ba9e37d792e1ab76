"""Streaming generation: greedy equals `generate()`, seeds reproduce, experts, clear errors."""

import numpy as np
import pytest

from keras_pn import generation
from keras_pn.generation import GenerationError
from keras_pn.generation import generate_text
from keras_pn.generation import make_sampler
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import GPTCausalLMPreprocessor
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone
from keras_pn.models import ProjectedGPTCausalLMPreprocessor
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TINY_PN

PROMPT = "ab"  # 3 tokens with the start token; TINY_GPT's context is 32


@pytest.fixture(scope="module")
def gpt():
    return GPTCausalLM(
        GPTBackbone(**TINY_GPT),
        GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=32),
    )


@pytest.fixture(scope="module")
def decisive_gpt():
    """A seeded tiny GPT with token embeddings scaled 10x: its greedy choices have
    margins, so a compiled and an eager loop cannot split a near-tie differently."""
    import keras

    keras.utils.set_random_seed(3)
    model = GPTCausalLM(
        GPTBackbone(**TINY_GPT),
        GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=32),
    )
    for variable in model.backbone.weights:
        if "token_embedding" in variable.path:
            variable.assign(variable * 10.0)
    return model


@pytest.fixture(scope="module")
def pn():
    return ProjectedGPT(
        ProjectedGPTBackbone(**TINY_PN),
        ProjectedGPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=32),
    )


def test_greedy_streams_what_generate_returns(decisive_gpt):
    gpt = decisive_gpt
    pieces = []
    result = generate_text(gpt, PROMPT, max_new_tokens=12, sampler="greedy",
                           stop_at_end=False, on_text=pieces.append)
    assert len(result.new_token_ids) == 12
    assert result.prompt_token_ids == [2, ord("a"), ord("b")]
    gpt.compile(sampler="greedy")
    expected = gpt.generate(PROMPT, max_length=3 + 12, stop_token_ids=None)
    assert result.text == expected
    assert result.text == PROMPT + result.completion == PROMPT + "".join(pieces)
    # Streamed: pieces as tokens arrive (the byte tokenizer's invalid UTF-8 bytes
    # wait for the next token), not one piece at the end.
    assert 2 <= len(pieces) <= 12, pieces
    # With the end token (id 3): the same tokens, up to and with the first one.
    stopped = generate_text(gpt, PROMPT, max_new_tokens=12, sampler="greedy")
    ids = result.new_token_ids
    assert stopped.new_token_ids == (ids[: ids.index(3) + 1] if 3 in ids else ids)


@pytest.mark.parametrize("name", ["top_k", "top_p", "random"])
def test_a_seed_reproduces_the_text(gpt, name):
    def run(seed):
        sampler = make_sampler(name, seed=seed, top_k=50, top_p=0.95, temperature=2.0)
        return generate_text(gpt, PROMPT, max_new_tokens=16, sampler=sampler,
                             stop_at_end=False).new_token_ids

    first = run(7)
    assert len(first) == 16
    assert run(7) == first
    # A random tiny model is near uniform over 256 bytes: another seed differs.
    assert run(8) != first


def test_beam_returns_generates_text(gpt):
    pieces = []
    result = generate_text(gpt, PROMPT, max_new_tokens=6, stop_at_end=False,
                           sampler=make_sampler("beam", num_beams=3), on_text=pieces.append)
    gpt.compile(sampler=make_sampler("beam", num_beams=3))
    assert result.text == gpt.generate(PROMPT, max_length=9, stop_token_ids=None)
    assert pieces == [result.completion]


def test_projected_network_needs_an_expert_and_matches_its_generate(pn):
    pn.compile(sampler="greedy")
    for expert in (0, 3):
        result = generate_text(pn, PROMPT, max_new_tokens=8, expert=expert,
                               sampler="greedy", stop_at_end=False)
        assert result.text == pn.generate(PROMPT, expert=expert, max_length=11,
                                          stop_token_ids=None)
    with pytest.raises(GenerationError, match="needs an expert"):
        generate_text(pn, PROMPT, max_new_tokens=4)
    with pytest.raises(ValueError, match="does not exist"):
        generate_text(pn, PROMPT, max_new_tokens=4, expert=4)


def test_requests_that_cannot_be_served_say_how_to_fix_them(gpt):
    with pytest.raises(GenerationError, match="prompt is empty.*Fix: pass the text"):
        generate_text(gpt, " \n", max_new_tokens=4)
    with pytest.raises(GenerationError, match=r"3 tokens and max_new_tokens=30: 33 tokens "
                       r"do not fit the model's context of 32.*--max_new_tokens=29"):
        generate_text(gpt, PROMPT, max_new_tokens=30)
    with pytest.raises(GenerationError, match="fills the model's context"):
        generate_text(gpt, "x" * 40)
    with pytest.raises(GenerationError, match="must be >= 1"):
        generate_text(gpt, PROMPT, max_new_tokens=0)
    with pytest.raises(GenerationError, match="no experts"):
        generate_text(gpt, PROMPT, max_new_tokens=4, expert=1)
    # The default fills what the context leaves, up to DEFAULT_NEW_TOKENS.
    assert generation.check_length(gpt, PROMPT)[1] == 29
    bare = GPTCausalLM(gpt.backbone, preprocessor=None)
    with pytest.raises(GenerationError, match="no tokenizer"):
        generate_text(bare, PROMPT)
    for kwargs, match in [({"name": "nucleus"}, "Unknown sampler"),
                          ({"name": "top_k", "temperature": 0}, "temperature"),
                          ({"name": "top_p", "top_p": 1.5}, "top_p"),
                          ({"name": "top_k", "top_k": 0}, "top_k")]:
        with pytest.raises(GenerationError, match=match):
            make_sampler(**kwargs)


def test_a_multi_byte_character_arrives_whole():
    pieces = []
    stream = generation._TextStream(GPTByteTokenizer(), [2, ord("a")], [3], pieces.append)
    for byte in "é!".encode("utf-8"):
        stream(byte)
    stream(3)  # the end token adds no text
    assert pieces == ["é", "!"]
    assert stream.finish() == "aé!"


def test_the_generation_state_of_the_model_is_restored(gpt):
    gpt.compile(sampler="top_k")
    sampler = gpt.sampler
    generate_text(gpt, PROMPT, max_new_tokens=2, sampler="greedy")
    assert gpt.sampler is sampler and not gpt.run_eagerly


def test_a_projected_preset_is_projected_to_its_expert(pn, tmp_path):
    preset = str(tmp_path / "pn")
    pn.save_to_preset(preset)
    model = generation.load_for_generation(preset, expert=2)
    assert isinstance(model, GPTCausalLM)
    model.compile(sampler="greedy")
    pn.compile(sampler="greedy")
    assert model.generate(PROMPT, max_length=10) == pn.generate(PROMPT, expert=2, max_length=10)
    with pytest.raises(GenerationError, match="--expert=i"):
        generation.load_for_generation(preset)
    plain = str(tmp_path / "gpt")
    model.save_to_preset(plain)
    with pytest.raises(GenerationError, match="drop --expert"):
        generation.load_for_generation(plain, expert=0)
    np.testing.assert_equal(len(generation.prompt_token_ids(model, PROMPT)), 3)


def test_a_sampler_used_again_continues_its_seed(gpt):
    # One compiled function serves every sampler of these settings; each sampler
    # keeps its own seed state across calls.
    def run(sampler):
        return generate_text(gpt, PROMPT, max_new_tokens=8, sampler=sampler,
                             stop_at_end=False).new_token_ids

    a, b = (make_sampler("top_k", seed=2, top_k=40, temperature=3.0) for _ in range(2))
    first = run(a)
    assert run(b) == first
    second = run(a)
    assert second != first and run(b) == second


@pytest.mark.tensorflow_only
def test_tensorflow_streams_from_one_traced_function(gpt):
    # Traced once (one tf.function without XLA), then reused: not once per call.
    for seed in (1, 2, 3):
        generate_text(gpt, PROMPT, max_new_tokens=4, stop_at_end=False,
                      sampler=make_sampler("top_k", top_k=7, seed=seed))
    key = generation._sampler_key(make_sampler("top_k", top_k=7))
    _, function = vars(gpt)[generation._CACHE_ATTRIBUTE][key]
    assert function.experimental_get_tracing_count() == 1
