"""factory_boy factories. Customer factories create rows directly: tests of services call the
services; these only build the world a test starts from."""

from __future__ import annotations

import factory
from django.contrib.auth.hashers import make_password

from crm.models import Account, Asset, Contact, CustomerTier, Interaction, Site, Tag
from server.enums import Role
from server.models import User, UserRole
from sync.ids import new_id

PASSWORD = "correct horse battery"
_PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = _PASSWORD_HASH
    display_name = factory.Faker("name")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: object) -> None:
        if create and extracted:
            UserRole.objects.bulk_create(
                [UserRole(user=self, role=role) for role in extracted]  # type: ignore[misc]
            )


class TierFactory(factory.django.DjangoModelFactory[CustomerTier]):
    class Meta:
        model = CustomerTier

    id = factory.LazyFunction(new_id)
    code = factory.Sequence(lambda n: f"T{n}")
    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 1)


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag

    id = factory.LazyFunction(new_id)
    name = factory.Sequence(lambda n: f"tag-{n}")


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    class Meta:
        model = Account

    id = factory.LazyFunction(new_id)
    name = factory.Sequence(lambda n: f"Account {n}")
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site

    id = factory.LazyFunction(new_id)
    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    is_primary = False
    latitude = 45.76
    longitude = 4.84
    time_zone = "Europe/Paris"


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    id = factory.LazyFunction(new_id)
    account = factory.SubFactory(AccountFactory)
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")


class AssetFactory(factory.django.DjangoModelFactory[Asset]):
    class Meta:
        model = Asset

    id = factory.LazyFunction(new_id)
    site = factory.SubFactory(SiteFactory)
    account = factory.SelfAttribute("site.account")
    serial_number = factory.Sequence(lambda n: f"SN-{n:06d}")
    model_name = "Vitodens 200"
    manufacturer = "Viessmann"


class InteractionFactory(factory.django.DjangoModelFactory[Interaction]):
    class Meta:
        model = Interaction

    id = factory.LazyFunction(new_id)
    account = factory.SubFactory(AccountFactory)
    author = factory.SelfAttribute("account.owner")
    kind = "note"
    occurred_at = factory.Faker("date_time_this_year", tzinfo=__import__("datetime").UTC)
    summary = "Talked about the boiler."
