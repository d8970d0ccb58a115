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
user with the data-scientist role. Nothing falls back to a default: a thread that never
set a user may not change anything, and a blank name or an unknown role is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fnmatch import fnmatch

from core.errors import PermissionDenied, TopicLabError, listed
from core.plain_text import hidden_characters


class IdentityError(TopicLabError):
    """A user name or role that cannot be used (blank, control characters, unknown role)."""


DATA_SCIENTIST = "data_scientist"
ACCOUNT_MANAGER = "account_manager"
SCORER = "scorer"  # a machine key of the scoring service: reads answers, changes nothing

# What each role may do. Reading (lookup, explore, compare) is open to every role, and so
# is downloading what it reads (Lookup's CSVs, `--format csv`): the same rows are on the
# page and in the JSON, so an `export` permission (never checked) guarded nothing.
PERMISSIONS: dict[str, frozenset[str]] = {
    DATA_SCIENTIST: frozenset(
        {"import", "train", "promote", "delete", "review", "label_topics", "feedback",
         "score", "manage_keys", "set_brands"}
    ),
    ACCOUNT_MANAGER: frozenset({"feedback", "set_brands"}),
    SCORER: frozenset(),
}


_MAX_NAME = 200


@dataclass(frozen=True)
class User:
    """Who acts: a name for the audit log and a role from PERMISSIONS (checked here, so no
    blank, invisible or unknown identity can be constructed)."""

    name: str
    role: str = DATA_SCIENTIST

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.role not in PERMISSIONS:
            raise IdentityError(f"Unknown role {self.role!r}; use one of "
                                f"{', '.join(sorted(PERMISSIONS))}.")

    def can(self, action: str) -> bool:
        return action in PERMISSIONS[self.role]


def check_name(name: object) -> str:
    """A user name for the audit log: not empty or blank, no control characters."""
    if not isinstance(name, str) or not name.strip():
        raise IdentityError(f"A user name must not be empty or blank (got {name!r}); set "
                            "TOPICLAB_USER to who you are.")
    bad = hidden_characters(name)
    if bad:
        raise IdentityError(f"The user name {name!r} holds control or invisible characters "
                            f"({bad}); use plain text.")
    if name != name.strip() or len(name) > _MAX_NAME:
        raise IdentityError(f"The user name {name[:40]!r}… must have no surrounding spaces "
                            f"and at most {_MAX_NAME} characters.")
    return name


def identity(name: str) -> str:
    """The key a person is looked up by: names and e-mail addresses compared without case
    (an identity provider gives "Ana@example.com" one day and "ana@example.com" the next;
    counted as two people, one person's verdicts counted twice). Stored and shown as given.
    Lower-cased as DuckDB's `lower` does, so SQL (`lower(created_by)`) agrees."""
    return name.lower()


def role_for(email: str | None, role_map: Mapping[str, Sequence[str]]) -> str | None:
    """The role whose patterns match this e-mail (case-insensitive), or None."""
    unknown = sorted(set(role_map) - set(PERMISSIONS))
    if unknown:
        raise IdentityError(f"Unknown {listed('role', unknown)} in "
                            f"[topiclab.roles]; use {', '.join(sorted(PERMISSIONS))}.")
    if not email:
        return None
    email = identity(email)
    for role in PERMISSIONS:
        if any(fnmatch(email, identity(pattern)) for pattern in role_map.get(role, ())):
            return role
    return None


def local_user() -> User:
    """The single user of an app or CLI without login: `TOPICLAB_USER` (default "local")
    with `TOPICLAB_ROLE` (default data scientist). A blank or control-character name and
    an unknown role are errors, not a silent fallback."""
    name = os.environ.get("TOPICLAB_USER", "local")
    role = os.environ.get("TOPICLAB_ROLE", DATA_SCIENTIST)
    if role not in PERMISSIONS:
        raise IdentityError(f"TOPICLAB_ROLE={role!r} is not a role; use one of "
                            f"{', '.join(sorted(PERMISSIONS))}.")
    try:
        return User(name, role)
    except IdentityError as err:
        raise IdentityError(f"TOPICLAB_USER: {err}") from None


_current: ContextVar[User | None] = ContextVar("topiclab_user", default=None)


def current_user() -> User:
    """Who is acting in this thread. Fails closed: work that never said who it acts for
    (a new thread, a library call without `set_user`) is refused rather than given the
    local data scientist's rights."""
    user = _current.get()
    if user is None:
        raise PermissionDenied(
            "No user is set for this work, so it may not change anything. The app and the "
            "CLI set one; in Python call "
            "`core.data.auth.set_user(core.data.auth.local_user())` (or use "
            "`with core.data.auth.use(user):`) first, in the thread that does the work.")
    return user


def set_user(user: User) -> None:
    """Make `user` the actor for the rest of this thread's work (one Streamlit run)."""
    _current.set(_a_user(user, "set_user"))


def _a_user(user: object, caller: str) -> User:
    """`user` if it is a User: a bare name (`use("ana")`) failed later, in the middle of
    the work, with an AttributeError, and it never went through User's checks."""
    if not isinstance(user, User):
        raise TypeError(f"{caller} needs a core.data.auth.User (e.g. "
                        f"core.data.auth.User('ana', 'data_scientist')), not {user!r}")
    return user


@contextmanager
def use(user: User) -> Iterator[User]:
    """Act as `user` inside the block (tests, a worker thread handed a user)."""
    token = _current.set(_a_user(user, "use"))
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
