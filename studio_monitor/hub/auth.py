"""Bearer tokens and roles (PROTOCOL.md section 2): who is asking, and may they.

Secrets are compared as SHA-256 digests with `hmac.compare_digest`, against every known
token without stopping at a match, so the time taken says nothing about which token (or
how much of one) was right. A token is never logged: only its name is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final, Literal

from studio_monitor.errors import AuthError
from studio_monitor.hub.config import TokenSpec

Role = Literal["viewer", "operator", "agent"]

#: Roles a role brings with it: an operator may read too.
_IMPLIED: Final[dict[str, frozenset[str]]] = {
    "viewer": frozenset({"viewer"}),
    "operator": frozenset({"operator", "viewer"}),
    "agent": frozenset({"agent"}),
}

#: Query parameters that would put a token in a URL (and so in logs and histories).
TOKEN_PARAMS: Final = ("token", "access_token")


def effective_roles(token: TokenSpec) -> frozenset[str]:
    roles: set[str] = set()
    for role in token.roles:
        roles |= _IMPLIED.get(role, frozenset())
    return frozenset(roles)


class Authenticator:
    """Maps an `Authorization` header to the token it carries, in constant time."""

    def __init__(self, tokens: Sequence[TokenSpec]) -> None:
        self._tokens = [
            (hashlib.sha256(t.secret.encode()).digest(), t, effective_roles(t)) for t in tokens
        ]

    def identify(self, authorization: str | None) -> tuple[TokenSpec, frozenset[str]] | None:
        """The token and its roles, or None for a missing, malformed or unknown token."""
        if not authorization:
            return None
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogatepass")).digest()
        found: tuple[TokenSpec, frozenset[str]] | None = None
        for known, token, roles in self._tokens:
            if hmac.compare_digest(digest, known) and found is None:
                found = (token, roles)
        return found

    def require(self, authorization: str | None, role: Role) -> TokenSpec:
        """The token, if it holds `role`; else `AuthError` 401 (who are you) or 403 (not you)."""
        found = self.identify(authorization)
        if found is None:
            if not authorization:
                raise AuthError(
                    "unauthorized", "this needs a token: send Authorization: Bearer <token>"
                )
            raise AuthError("unauthorized", "the token is not valid for this hub")
        token, roles = found
        if role not in roles:
            raise AuthError("forbidden", f"token {token.name!r} does not have the {role} role")
        return token
