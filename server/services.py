from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from server import realtime
from server.enums import Role
from server.models import User, UserRole


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None = None,
    password_hash: str | None = None,
    roles: Iterable[Role],
    display_name: str = "",
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    if password_hash is not None:
        user.password = password_hash  # already hashed, e.g. one hash shared by demo users
    else:
        user.set_password(password)
    user.save()
    UserRole.objects.bulk_create([UserRole(user=user, role=role) for role in sorted(set(roles))])
    return user


def user_deactivated(user: User) -> None:
    """After ``user`` is deactivated (in the admin): once that commits, close every socket of
    theirs (code 4401, as for a revoked device). Their tokens are refused from then on, and the
    push worker sends them nothing."""
    realtime.publish_on_commit(
        realtime.user_group(user.pk), "device.revoked", {"reason": "user deactivated"}
    )


def users_rescoped(user_ids: Iterable[int]) -> None:
    """After commit, tell these users' open sockets that their scope keys changed (roles,
    territory memberships): each reads its keys again, joins the new groups and leaves the
    old, and a device pulls what they bring."""
    for user_id in sorted(set(user_ids)):
        realtime.publish_on_commit(realtime.user_group(user_id), "scope.changed")
