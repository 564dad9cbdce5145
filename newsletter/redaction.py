"""URLs as people see them: every password replaced by ***.

A database URL may carry its password in the user part (`postgresql://news:PW@host/db`, even
with an unencoded `@` or `/` in it) or as a query parameter (`?password=PW`, libpq's spelling);
errors, log lines and `newsletter config` show URLs only through `shown_url`.
"""

from __future__ import annotations

import re

HIDDEN = "***"
# Query parameters that hold a password (libpq: password, sslpassword; others: pass, pwd...).
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[a-z_]*password|passwd|pass|pwd|secret|token)=)[^&;#]*"
)


def shown_url(url: str) -> str:
    """`url` with the password of its user part and of its query replaced by ***."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _SECRET_PARAMETER.sub(rf"\g<1>{HIDDEN}", url)
    # The user part ends at the last `@` before the host: a password may hold `@` and `/`
    # unencoded, so the host starts after the last `@` of everything before the query.
    before_query, mark, query = rest.partition("?")
    user, at, host = before_query.rpartition("@")
    if at and ":" in user:
        before_query = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    shown = f"{scheme}://{before_query}{mark}{query}"
    return _SECRET_PARAMETER.sub(rf"\g<1>{HIDDEN}", shown)
