"""Database URLs as lrkit shows them: without their password, in messages, reports and JSON."""

from __future__ import annotations

import re

# a password ends at the first @, as SQLAlchemy reads it (an @ in it is written %40)
_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@\s]*):[^@\s]*@")


def without_password(text: str) -> str:
    """``text`` with the password of every URL in it left out (``user:secret@host`` as
    ``user@host``), so that a command line or an error can be shown and shared.

    Example:
        >>> without_password("lrkit search --storage postgresql://me:s3cr%40t@db:5432/lrkit")
        'lrkit search --storage postgresql://me@db:5432/lrkit'
        >>> without_password("postgresql://me:pw@db/lrkit?application_name=a@b")
        'postgresql://me@db/lrkit?application_name=a@b'
        >>> without_password("sqlite:///runs/study.db")
        'sqlite:///runs/study.db'
    """
    return _PASSWORD.sub(r"\g<head>@", text)
