"""Who is acting, and what their role allows: checked in core, not only in the UI.

The app sets the signed-in user for each script run (`use(user)`); the CLI acts as the
local user (or `TOPICLAB_USER` / `TOPICLAB_ROLE`). Without login configured there is a
single local user with the data-scientist role.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from core.errors import PermissionDenied

DATA_SCIENTIST = "data_scientist"
ACCOUNT_MANAGER = "account_manager"

# What each role may do. Reading (lookup, explore, compare) is open to every role.
PERMISSIONS: dict[str, frozenset[str]] = {
    DATA_SCIENTIST: frozenset(
        {"import", "train", "promote", "delete", "review", "label_topics", "feedback", "export",
         "score"}
    ),
    ACCOUNT_MANAGER: frozenset({"feedback", "export"}),
}


@dataclass(frozen=True)
class User:
    name: str
    role: str = DATA_SCIENTIST

    def can(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())


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
