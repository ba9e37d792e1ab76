"""Plain text files (optionally gzipped): one document per file, or per chunk.

Large files (glibc's 44 ChangeLogs) can be cut at paragraph boundaries into chunks of
about `chunk_chars` characters. The group is the file path (without its directory
prefix), so a chunked file stays in one split.
"""

from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text, split_paragraphs


def chunk(text, chunk_chars):
    """Cuts text at blank lines into pieces of about `chunk_chars` characters."""
    pieces, current, size = [], [], 0
    for para in split_paragraphs(text):
        current.append(para)
        size += len(para) + 2
        if size >= chunk_chars:
            pieces.append("\n\n".join(current))
            current, size = [], 0
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def parse(root, files, *, chunk_chars=None, transform=None):
    """Yields the documents of plain text files.

    Args:
        root: Extraction directory.
        files: Member paths.
        chunk_chars: If set, cut each file into chunks of about this many characters.
        transform: Optional function applied to each file's text first.
    """
    for rel in files:
        text = read_text(Path(root) / rel)
        if transform is not None:
            text = transform(text)
        for piece in chunk(text, chunk_chars) if chunk_chars else [text]:
            yield Document(piece, rel)
