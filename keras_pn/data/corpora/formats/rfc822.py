"""E-mail messages (RFC 822), raw or wrapped in a JSON object (SpamAssassin ham).

Each message keeps its Subject and its text/plain parts, decoded from MIME
(quoted-printable, base64, charsets); headers, HTML parts and attachments are
dropped, and so is a trailing mailing-list footer. One document per message.
"""

import email
import email.header
import email.policy
import json
import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, decode_bytes, read_bytes

# A line of underscores followed by "... mailing list" closes most list messages.
_LIST_FOOTER = re.compile(
    r"\n_{20,}\s*\n[^\n]*(?:mailing list|list)[^\n]*\n.*\Z", re.DOTALL | re.IGNORECASE
)


def _part_text(part, already_decoded):
    transfer = part.get("Content-Transfer-Encoding", "").strip().lower()
    if already_decoded and transfer in ("", "7bit", "8bit", "binary"):
        # The message came as a str (JSON): its 8-bit text is already Unicode.
        payload = part.get_payload(decode=False)
        return payload if isinstance(payload, str) else ""
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return decode_bytes(payload)


def message_text(raw):
    """Returns 'Subject\\n\\nplain text body' of one RFC 822 message (str or bytes)."""
    already_decoded = isinstance(raw, str)
    if already_decoded:
        message = email.message_from_string(raw, policy=email.policy.compat32)
    else:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    bodies = [
        _part_text(part, already_decoded)
        for part in message.walk()
        if part.get_content_type() == "text/plain"
        and not part.is_multipart()
        and part.get("Content-Disposition", "").split(";")[0].strip().lower()
        != "attachment"
    ]
    body = _LIST_FOOTER.sub("", "\n\n".join(bodies))
    try:
        subject = str(
            email.header.make_header(
                email.header.decode_header(message.get("Subject", ""))
            )
        )
    except (LookupError, UnicodeDecodeError, ValueError):
        subject = str(message.get("Subject", ""))
    return f"{subject}\n\n{body}".strip() if subject else body.strip()


def parse(root, files, *, json_field=None):
    """Yields one `Document` per message, grouped by file path.

    Args:
        root: Extraction directory.
        files: Member paths.
        json_field: If set, each file is a JSON object whose field holds the message.
    """
    for rel in files:
        data = read_bytes(Path(root) / rel)
        raw = json.loads(data)[json_field] if json_field else data
        yield Document(message_text(raw), rel)
