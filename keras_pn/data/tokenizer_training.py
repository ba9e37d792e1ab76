"""Train the run's SentencePiece tokenizer on the generic mix, and resolve tokenizers.

One SentencePiece model is trained per run on the generic mix and shared by every model
of the run (the paper: 32k vocabulary trained on c4). Choices, all lossless on the text
we have:

* **unigram** model type: SentencePiece's default and what T5's c4 vocabulary uses (the
  paper trains on c4 with SentencePiece); it trains fast at 32k and its likelihood-based
  segmentation is slightly better than BPE on rare words. ``model_type="bpe"`` is
  accepted.
* **ids** ``pad=0 "<pad>"``, ``unk=1 "<unk>"``, ``bos=2 "<s>"``, ``eos=3 "</s>"`` (the
  keras_pn contract: padding with zeros is padding with ``<pad>``).
* **byte_fallback** on: no ``<unk>`` ever; unseen characters become byte pieces.
* **identity normalization**, ``remove_extra_whitespaces=False``, ``"\\n"`` and
  ``"\\t"`` as user-defined symbols and whitespace-only pieces allowed: code indentation
  and line structure survive a round trip (``decode(encode(x)) == x``), which matters
  for a generic mix that is half technical documentation and source code.
* **deterministic**: a fixed random seed for SentencePiece's sentence sampling, a fixed
  input order and a fixed thread count give byte-identical protos (the thread count
  changes the result, so it is recorded, and defaults to 1).

Example:

>>> from keras_pn.data.tokenizer_training import special_token_ids, train_sentencepiece
>>> texts = ["the cat sat on the mat\\nand the dog sat too"] * 50
>>> texts += ["x = f(1)\\n\\ty = 2"] * 50
>>> proto = train_sentencepiece(texts, vocabulary_size=300, hard_vocab_limit=False)
>>> special_token_ids(proto)
{'pad': 0, 'unk': 1, 'bos': 2, 'eos': 3}
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from keras_pn.file_io import atomic_write_bytes, iter_jsonl

logger = logging.getLogger(__name__)

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
PAD_PIECE, UNK_PIECE, BOS_PIECE, EOS_PIECE = "<pad>", "<unk>", "<s>", "</s>"

# SentencePiece skips training "sentences" longer than its max_sentence_length (4192
# bytes by default) silently; documents are therefore cut at line boundaries into chunks
# of at most this size.
_MAX_CHUNK_BYTES = 2048
_WARN_LINE_BYTES = 2**20


def _is_file_list(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike)):
        return True
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(
            isinstance(v, os.PathLike)
            or (
                isinstance(v, str)
                and len(v) < 4096
                and "\n" not in v
                and os.path.isfile(v)
            )
            for v in value
        )
    )


def _iter_text_inputs(text_files_or_iterable: Any) -> Iterator[str]:
    """Yields documents from JSONL files (``text`` field), plain text files, or strings.

    A path or a list/tuple whose entries are all existing files is read as files;
    anything else is iterated as document strings.
    """
    if not _is_file_list(text_files_or_iterable):
        for text in text_files_or_iterable:
            if not isinstance(text, str):
                raise TypeError(
                    f"Expected document strings, got {type(text).__name__}. Pass "
                    "JSONL/text file paths or an iterable of document strings."
                )
            yield text
        return
    paths = text_files_or_iterable
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(os.fspath, paths):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Tokenizer training input {path!r} does not exist."
            )
        if path.endswith(".jsonl"):
            for _, record in iter_jsonl(path, error=ValueError):
                text = record.get("text") if isinstance(record, dict) else None
                if isinstance(text, str):
                    yield text
        else:
            with open(path, "rb") as f:
                data = f.read()
            if b"\x00" in data:
                raise ValueError(
                    f"Tokenizer training input {path!r} contains NUL bytes: it looks "
                    "like a binary file, not text. Fix: pass UTF-8 text or JSONL "
                    "files."
                )
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                logger.warning(
                    "%s is not valid UTF-8 (byte %d); undecodable bytes are replaced "
                    "by U+FFFD for tokenizer training.",
                    path,
                    e.start,
                )
                text = data.decode("utf-8", errors="replace")
            yield text


def _cut_long_line(line: str, max_bytes: int) -> Iterator[str]:
    """Cuts one line into pieces of at most max_bytes UTF-8 bytes, in linear time.

    The line is encoded once and cut at character boundaries (never before a UTF-8
    continuation byte), so a 50 MB line costs about as much as reading it.
    """
    data = line.encode("utf-8", "surrogatepass")
    # Lines of a few KB (minified code) are common and cut quietly; a huge one is
    # more likely a broken file, so it is reported.
    log = logger.warning if len(data) >= _WARN_LINE_BYTES else logger.debug
    log(
        "A %d-byte line without line breaks was cut into pieces of at most %d bytes "
        "for tokenizer training.",
        len(data),
        max_bytes,
    )
    start = 0
    while start < len(data):
        stop = min(start + max_bytes, len(data))
        while stop < len(data) and stop > start + 1 and (data[stop] & 0xC0) == 0x80:
            stop -= 1  # Back off to the first byte of a character.
        yield data[start:stop].decode("utf-8", "surrogatepass")
        start = stop


def _chunk_document(text: str, max_bytes: int = _MAX_CHUNK_BYTES) -> Iterator[str]:
    """Cuts a document into training chunks at line boundaries, each <= max_bytes."""
    current, size = [], 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8", "surrogatepass"))
        if size + n > max_bytes and current:
            yield "".join(current)
            current, size = [], 0
        if n > max_bytes:  # One very long line: cut on characters.
            *pieces, line = _cut_long_line(line, max_bytes)
            yield from pieces
            n = len(line.encode("utf-8", "surrogatepass"))
        current.append(line)
        size += n
    if current:
        chunk = "".join(current)
        if chunk.strip():
            yield chunk


def train_sentencepiece(
    text_files_or_iterable: Any,
    vocabulary_size: int,
    output_path: str | os.PathLike | None = None,
    *,
    model_type: str = "unigram",
    input_sentence_size: int = 200_000,
    seed: int = 0,
    num_threads: int = 1,
    byte_fallback: bool = True,
    character_coverage: float = 0.9999,
    hard_vocab_limit: bool = True,
) -> bytes:
    """Trains the run's SentencePiece model and returns its serialized proto.

    Args:
        text_files_or_iterable: JSONL file paths (the ``text`` field of each line is one
            document), plain text file paths (one document per file), or an iterable of
            document strings.
        vocabulary_size: total vocabulary including the 4 special pieces and, with
            byte_fallback, the 256 byte pieces (so it must be > 260 with byte_fallback).
            32,000 for paper scale, e.g. 8,000 for the tiny presets.
        output_path: where to write the proto (``.model``/``.spm``), atomically; None
            writes nothing.
        model_type: ``"unigram"`` (default) or ``"bpe"``.
        input_sentence_size: cap on the number of training chunks (of at most 2 KB each)
            that SentencePiece samples, seeded, from the input; bounds time and memory.
        seed: SentencePiece's random generator seed (sentence sampling).
        num_threads: trainer threads. The result depends on it; keep it fixed for
            reproducibility.
        byte_fallback: encode unseen characters as UTF-8 byte pieces instead of
            ``<unk>``.
        character_coverage: share of characters covered by character pieces.
        hard_vocab_limit: if False, a smaller vocabulary is allowed when the text is too
            small.

    Returns:
        The serialized ModelProto (bytes), loadable by ``sentencepiece``,
        ``tensorflow_text`` and
        ``keras_hub.tokenizers.SentencePieceTokenizer(proto=...)``.

    Example:

    >>> texts = ["a b c d e f g\\nh i j"] * 100
    >>> proto = train_sentencepiece(texts, 280, hard_vocab_limit=False)
    >>> len(proto) > 0
    True
    """
    import sentencepiece as spm

    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"model_type must be 'unigram' or 'bpe', got {model_type!r}.")
    minimum = 4 + 2 + (256 if byte_fallback else 0)
    if vocabulary_size <= minimum:
        raise ValueError(
            f"vocabulary_size={vocabulary_size} leaves no room for learned pieces: the "
            f"special, newline/tab and byte pieces take {minimum}. Use a larger "
            "vocabulary_size."
        )

    n_docs = [0]
    # An error raised while reading the input (a binary or malformed file) would be
    # swallowed by SentencePiece's C++ trainer; it is kept here and re-raised.
    input_errors: list[Exception] = []

    def sentences() -> Iterator[str]:
        try:
            for text in _iter_text_inputs(text_files_or_iterable):
                if text and text.strip():
                    n_docs[0] += 1
                    yield from _chunk_document(text)
        except Exception as e:  # noqa: BLE001 - re-raised below, unchanged
            input_errors.append(e)

    spm.set_random_generator_seed(seed)
    buffer = io.BytesIO()
    logger.info(
        "Training a %s SentencePiece model, vocabulary %d.", model_type, vocabulary_size
    )
    try:
        _train(
            spm,
            sentences(),
            buffer,
            vocabulary_size,
            model_type,
            byte_fallback,
            character_coverage,
            input_sentence_size,
            num_threads,
            hard_vocab_limit,
        )
    except RuntimeError as e:
        if input_errors:
            raise input_errors[0] from None
        if n_docs[0] == 0:
            raise ValueError(
                "No non-empty document in the tokenizer training input. Fix: pass "
                "JSONL files whose records have a non-empty 'text' field, text files, "
                "or non-empty document strings."
            ) from None
        raise RuntimeError(
            f"SentencePiece training failed: {e} If the vocabulary is too large for "
            "the text, lower vocabulary_size or pass hard_vocab_limit=False."
        ) from e
    if input_errors:
        raise input_errors[0]
    proto = buffer.getvalue()
    if output_path is not None:
        output_path = os.fspath(output_path)
        atomic_write_bytes(output_path, proto)
        logger.info(
            "Wrote the SentencePiece model to %s (sha256 %s).",
            output_path,
            tokenizer_sha256(proto)[:12],
        )
    return proto


def _train(
    spm,
    sentences,
    buffer,
    vocabulary_size,
    model_type,
    byte_fallback,
    character_coverage,
    input_sentence_size,
    num_threads,
    hard_vocab_limit,
) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_writer=buffer,
        vocab_size=vocabulary_size,
        model_type=model_type,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        pad_piece=PAD_PIECE,
        unk_piece=UNK_PIECE,
        bos_piece=BOS_PIECE,
        eos_piece=EOS_PIECE,
        byte_fallback=byte_fallback,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        user_defined_symbols=["\n", "\t"],
        split_digits=True,
        character_coverage=character_coverage,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True,
        max_sentence_length=4 * _MAX_CHUNK_BYTES,
        num_threads=num_threads,
        hard_vocab_limit=hard_vocab_limit,
        minloglevel=2,
    )


def sentencepiece_proto(tokenizer: Any) -> bytes:
    """Returns the serialized SentencePiece proto of a tokenizer in any usual form.

    Args:
        tokenizer: proto bytes, a path to a ``.model``/``.spm`` file, or an object with
            a ``proto`` attribute (``keras_hub.tokenizers.SentencePieceTokenizer`` and
            its subclasses, such as ``keras_pn.models.GPTTokenizer``).

    Example:

    >>> texts = ["a b c d e f g\\nh i j"] * 100
    >>> proto = train_sentencepiece(texts, 280, hard_vocab_limit=False)
    >>> sentencepiece_proto(proto) == proto
    True
    """
    if isinstance(tokenizer, (bytes, bytearray)):
        return bytes(tokenizer)
    if isinstance(tokenizer, (str, os.PathLike)):
        with open(tokenizer, "rb") as f:
            return f.read()
    proto = getattr(tokenizer, "proto", None)
    if isinstance(proto, (bytes, bytearray)):
        return bytes(proto)
    raise TypeError(
        f"Cannot get a SentencePiece proto from {type(tokenizer).__name__}. Pass the "
        "proto bytes, the path of the .model file, or a keras_hub "
        "SentencePieceTokenizer."
    )


def tokenizer_sha256(tokenizer: Any) -> str:
    """Hex sha256 of the tokenizer's proto: the identity recorded next to token ids."""
    return hashlib.sha256(sentencepiece_proto(tokenizer)).hexdigest()


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """Returns ``{"pad", "unk", "bos", "eos"}`` ids of a SentencePiece tokenizer.

    Raises:
        ValueError: when bos, eos or pad is disabled (-1): windows need all three.
    """
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=sentencepiece_proto(tokenizer))
    ids = {
        "pad": sp.pad_id(),
        "unk": sp.unk_id(),
        "bos": sp.bos_id(),
        "eos": sp.eos_id(),
    }
    missing = [name for name in ("pad", "bos", "eos") if ids[name] < 0]
    if missing:
        raise ValueError(
            f"The SentencePiece model has no {', '.join(missing)} piece. Train it with "
            "keras_pn.data.tokenizer_training.train_sentencepiece (pad=0, unk=1, "
            "bos=2, eos=3)."
        )
    return ids


def vocabulary_size(tokenizer: Any) -> int:
    """Number of pieces of a SentencePiece tokenizer."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(
        model_proto=sentencepiece_proto(tokenizer)
    ).get_piece_size()


def iter_training_chunks(text_files_or_iterable: Iterable[Any]) -> Iterator[str]:
    """The exact chunks fed to the trainer (for inspection and tests)."""
    for text in _iter_text_inputs(text_files_or_iterable):
        if text and text.strip():
            yield from _chunk_document(text)
