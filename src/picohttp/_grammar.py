"""The HTTP grammar the pure modules share: tokens, field values, escapes, charsets.

One definition each, so the parser, the serializer, the forms parser and the
handler wrappers cannot drift apart on what a token or a safe header value is.
Pure: compiled patterns and a table, no I/O.
"""

from __future__ import annotations

import codecs
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Optional

#: RFC 9110 5.6.2: a token (a method, a field name, a parameter name).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A byte no response field value may carry: controls (HTAB excepted) and DEL.
BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_HEXDIGITS = "0123456789abcdefABCDEF"
#: Every two-character percent-escape -> its byte, built once at import (the hot
#: path does one dict lookup per escape, as urllib.parse does).
ESCAPES = {a + b: bytes.fromhex(a + b) for a in _HEXDIGITS for b in _HEXDIGITS}


#: Codecs Python knows that are no charset a client may name for a body: idna and
#: punycode decode host names (and only with errors="strict"), undefined always
#: raises, the escape codecs read backslashes as Python string escapes.
NOT_CHARSETS = frozenset(("idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"))


def text_codec(name: str, any_text: bool = False) -> Optional[str]:
    """The Python codec of a charset a client named, or ``None`` if it names no text one.

    ``any_text``: any text encoding Python has will do, ``NOT_CHARSETS`` included (a
    response's charset is the application's own choice, and its errors are its own).
    """
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # base64, rot13, zlib_codec...: codecs Python knows that are not text encodings.
    if not getattr(info, "_is_text_encoding", True):
        return None
    if info.name in NOT_CHARSETS and not any_text:
        return None
    return info.name


def content_type_charset(content_type: Optional[str], any_text: bool = False) -> Optional[str]:
    """The ``charset`` parameter of a Content-Type, if it names a text codec Python knows
    (one a client may name; ``any_text``: any, as ``text_codec``)."""
    if not content_type or "charset" not in content_type.lower():
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return text_codec(value.strip().strip('"').strip(), any_text)
    return None
