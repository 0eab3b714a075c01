"""Database URLs as lrkit shows them: without their password, in messages, reports and JSON."""

from __future__ import annotations

import re

# user:secret@host: SQLAlchemy ends a password at its first @ (an @ in it is written %40), but
# one typed without that ends at the last @ before the query (a ? that starts a name=value),
# so all of it is left out
_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@\s]*):(?:[^\s?]|\?(?![\w.-]+=))*@")
# ?password=secret (and sslpassword=), as libpq and SQLAlchemy also read them
_QUERY_PASSWORD = re.compile(r"(?P<sep>[?&])(?:ssl)?password=[^&\s#]*(?P<more>&?)", re.IGNORECASE)


def without_password(text: str) -> str:
    """``text`` with the password of every URL in it left out (``user:secret@host`` as
    ``user@host``, ``?password=secret`` dropped), so that a command line or an error can be
    shown and shared.

    Example:
        >>> without_password("lrkit search --storage postgresql://me:s3cr%40t@db:5432/lrkit")
        'lrkit search --storage postgresql://me@db:5432/lrkit'
        >>> without_password("postgresql://me:pw@db/lrkit?application_name=a@b")
        'postgresql://me@db/lrkit?application_name=a@b'
        >>> without_password("postgresql://me:p@ss:w/rd#1@db:5432/lrkit")  # not percent-encoded
        'postgresql://me@db:5432/lrkit'
        >>> without_password("postgresql://me:pa?ss@db/lrkit?sslmode=require")
        'postgresql://me@db/lrkit?sslmode=require'
        >>> without_password("postgresql://me@db/lrkit?password=pw&sslmode=require")
        'postgresql://me@db/lrkit?sslmode=require'
        >>> without_password("postgresql://me@db/lrkit?sslmode=require&password=pw")
        'postgresql://me@db/lrkit?sslmode=require'
        >>> without_password("sqlite:///runs/study.db")
        'sqlite:///runs/study.db'
    """
    text = _PASSWORD.sub(r"\g<head>@", text)
    return _QUERY_PASSWORD.sub(_drop_parameter, text)


def _drop_parameter(match: re.Match[str]) -> str:
    """``?password=x&a=b`` -> ``?a=b``; ``?a=b&password=x`` -> ``?a=b``; ``?password=x`` ->
    nothing."""
    return match["sep"] if match["more"] else ""
