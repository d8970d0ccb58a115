"""Who is acting, and what their role allows: checked in core, not only in the UI.

With Streamlit's login configured (`[auth]` in `.streamlit/secrets.toml`), the app signs
people in and maps their e-mail to a role with `[topiclab.roles]` in the same file:

    [topiclab.roles]
    data_scientist = ["ana@example.com", "*@data.example.com"]
    account_manager = ["*@example.com"]

Patterns are shell-style (`fnmatch`), checked in PERMISSIONS order, the most powerful
role first; someone matching no pattern gets no role and cannot use the app. The app
sets the user for each script run (`set_user`); the CLI acts as the local user (or
`TOPICLAB_USER` / `TOPICLAB_ROLE`). Without login configured there is a single local
user with the data-scientist role.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fnmatch import fnmatch

from core.errors import PermissionDenied

DATA_SCIENTIST = "data_scientist"
ACCOUNT_MANAGER = "account_manager"

# What each role may do. Reading (lookup, explore, compare) is open to every role.
PERMISSIONS: dict[str, frozenset[str]] = {
    DATA_SCIENTIST: frozenset(
        {"import", "train", "promote", "delete", "review", "label_topics", "feedback", "export",
         "score", "manage_keys"}
    ),
    ACCOUNT_MANAGER: frozenset({"feedback", "export"}),
}


@dataclass(frozen=True)
class User:
    name: str
    role: str = DATA_SCIENTIST

    def can(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())


def role_for(email: str | None, role_map: Mapping[str, Sequence[str]]) -> str | None:
    """The role whose patterns match this e-mail (case-insensitive), or None."""
    unknown = sorted(set(role_map) - set(PERMISSIONS))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown} in [topiclab.roles]; "
                         f"use {sorted(PERMISSIONS)}")
    if not email:
        return None
    email = email.lower()
    for role in PERMISSIONS:
        if any(fnmatch(email, pattern.lower()) for pattern in role_map.get(role, ())):
            return role
    return None


def local_user() -> User:
    """The single user of an app or CLI without login."""
    role = os.environ.get("TOPICLAB_ROLE", DATA_SCIENTIST)
    if role not in PERMISSIONS:
        role = ACCOUNT_MANAGER  # an unknown role gets the least rights
    return User(os.environ.get("TOPICLAB_USER", "local"), role)


_current: ContextVar[User | None] = ContextVar("topiclab_user", default=None)


def current_user() -> User:
    return _current.get() or local_user()


def set_user(user: User) -> None:
    """Make `user` the actor for the rest of this thread's work (one Streamlit run)."""
    _current.set(user)


@contextmanager
def use(user: User) -> Iterator[User]:
    token = _current.set(user)
    try:
        yield user
    finally:
        _current.reset(token)


def require(action: str) -> User:
    """Raise PermissionDenied unless the current user's role allows `action`."""
    user = current_user()
    if not user.can(action):
        raise PermissionDenied(
            f"{user.name} ({user.role.replace('_', ' ')}) may not {action.replace('_', ' ')}; "
            "ask a data scientist."
        )
    return user
