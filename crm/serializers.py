"""Input and output shapes of the customer API. No business rules here: services own them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crm.enums import (
    AccountKind,
    Channel,
    ContactRole,
    Direction,
    Frequency,
    InteractionKind,
    LifecycleStage,
)
from crm.models import (
    Account,
    Asset,
    Contact,
    ContactPreference,
    CustomerTier,
    Interaction,
    Promise,
    Site,
    Tag,
)
from crm.permissions import visible_for_account
from server.api import StrictInputSerializer
from server.models import User

MASK = "••••"


def mask(value: str) -> str:
    """Keep the last four characters of a long value, nothing of a short one."""
    if not value:
        return value
    return MASK + value[-4:] if len(value) > 8 else MASK


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key to a customer record, resolved only among records the actor may see, so a
    foreign id reads as "does not exist"."""

    def __init__(self, model: type[Any], **kwargs: Any) -> None:
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        return visible_for_account(self.model, self.context["actor"])


# ---- outputs ---------------------------------------------------------------------------------


class TierOutput(serializers.ModelSerializer):
    class Meta:
        model = CustomerTier
        fields = ["id", "code", "name", "rank"]


class TagOutput(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class SiteOutput(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "account",
            "name",
            "is_primary",
            "street",
            "city",
            "postal_code",
            "region",
            "country",
            "latitude",
            "longitude",
            "time_zone",
            "access_notes",
            "created_at",
            "updated_at",
            "archived_at",
        ]


class AccountOutput(serializers.ModelSerializer):
    tier = TierOutput(allow_null=True)
    tags = TagOutput(many=True)
    sites = SiteOutput(many=True)
    national_id = serializers.SerializerMethodField()
    bank_account = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "kind",
            "tier",
            "lifecycle_stage",
            "owner",
            "tags",
            "phone",
            "email",
            "website",
            "notes",
            "national_id",
            "bank_account",
            "territory",
            "sites",
            "created_at",
            "updated_at",
            "archived_at",
        ]

    def _sensitive(self, value: str) -> str:
        return value if self.context.get("can_view_sensitive") else mask(value)

    def get_national_id(self, account: Account) -> str:
        return self._sensitive(account.national_id)

    def get_bank_account(self, account: Account) -> str:
        return self._sensitive(account.bank_account)


class ContactOutput(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "account",
            "first_name",
            "last_name",
            "title",
            "roles",
            "phone",
            "email",
            "created_at",
            "updated_at",
            "archived_at",
        ]


class AssetOutput(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = [
            "id",
            "account",
            "site",
            "parent",
            "serial_number",
            "model_name",
            "manufacturer",
            "install_date",
            "warranty_end",
            "contract_end",
            "created_at",
            "updated_at",
            "archived_at",
        ]


class PromiseOutput(serializers.ModelSerializer):
    class Meta:
        model = Promise
        fields = [
            "id",
            "interaction",
            "account",
            "description",
            "due_date",
            "done_at",
            "created_at",
        ]


class InteractionOutput(serializers.ModelSerializer):
    promises = PromiseOutput(many=True)

    class Meta:
        model = Interaction
        fields = [
            "id",
            "account",
            "contact",
            "site",
            "kind",
            "direction",
            "author",
            "occurred_at",
            "summary",
            "check_in_at",
            "check_in_latitude",
            "check_in_longitude",
            "check_out_at",
            "check_out_latitude",
            "check_out_longitude",
            "promises",
            "created_at",
            "updated_at",
            "archived_at",
        ]


class PreferenceOutput(serializers.ModelSerializer):
    class Meta:
        model = ContactPreference
        fields = [
            "id",
            "account",
            "contact",
            "channel",
            "frequency",
            "opted_out",
            "consent_at",
            "consent_source",
            "recorded_by",
        ]


# ---- inputs ----------------------------------------------------------------------------------


class AccountInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=AccountKind.choices, required=False)
    tier = serializers.PrimaryKeyRelatedField(
        queryset=CustomerTier.objects.filter(archived_at__isnull=True),
        allow_null=True,
        required=False,
    )
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), allow_null=True, required=False
    )
    tags = serializers.PrimaryKeyRelatedField(
        queryset=Tag.objects.filter(archived_at__isnull=True), many=True, required=False
    )
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    website = serializers.URLField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    national_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=64, required=False, allow_blank=True)


class ContactInput(StrictInputSerializer):
    account = serializers.CharField(max_length=36)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ContactRole.choices), required=False, max_length=10
    )
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)


class SiteInput(StrictInputSerializer):
    account = serializers.CharField(max_length=36)
    name = serializers.CharField(max_length=200)
    is_primary = serializers.BooleanField(required=False)
    street = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, min_length=2, required=False, allow_blank=True)
    latitude = serializers.FloatField(min_value=-90, max_value=90, allow_null=True, required=False)
    longitude = serializers.FloatField(
        min_value=-180, max_value=180, allow_null=True, required=False
    )
    time_zone = serializers.CharField(max_length=64, required=False)
    access_notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class AssetInput(StrictInputSerializer):
    site = ScopedRelatedField(Site)
    # DRF moves declared fields off the class, so this does not shadow Field.parent.
    parent = ScopedRelatedField(Asset, allow_null=True, required=False)  # type: ignore[assignment]
    serial_number = serializers.CharField(max_length=100)
    model_name = serializers.CharField(max_length=100)
    manufacturer = serializers.CharField(max_length=100, required=False, allow_blank=True)
    install_date = serializers.DateField(required=False, allow_null=True)
    warranty_end = serializers.DateField(required=False, allow_null=True)
    contract_end = serializers.DateField(required=False, allow_null=True)


class PromiseInput(StrictInputSerializer):
    description = serializers.CharField(max_length=500)
    due_date = serializers.DateField()


class PromiseUpdateInput(StrictInputSerializer):
    description = serializers.CharField(max_length=500, required=False)
    due_date = serializers.DateField(required=False)
    done = serializers.BooleanField(required=False)


class InteractionInput(StrictInputSerializer):
    account = serializers.CharField(max_length=36)
    contact = ScopedRelatedField(Contact, allow_null=True, required=False)
    site = ScopedRelatedField(Site, allow_null=True, required=False)
    kind = serializers.ChoiceField(choices=InteractionKind.choices)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    occurred_at = serializers.DateTimeField(required=False)
    summary = serializers.CharField(max_length=20000)
    check_in_at = serializers.DateTimeField(required=False, allow_null=True)
    check_in_latitude = serializers.FloatField(required=False, allow_null=True)
    check_in_longitude = serializers.FloatField(required=False, allow_null=True)
    check_out_at = serializers.DateTimeField(required=False, allow_null=True)
    check_out_latitude = serializers.FloatField(required=False, allow_null=True)
    check_out_longitude = serializers.FloatField(required=False, allow_null=True)
    promises = PromiseInput(many=True, required=False)


class PreferenceInput(StrictInputSerializer):
    opted_out = serializers.BooleanField()
    frequency = serializers.ChoiceField(choices=Frequency.choices, required=False)
    consent_source = serializers.CharField(max_length=200)
    contact = ScopedRelatedField(Contact, allow_null=True, required=False)


class TierInput(StrictInputSerializer):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100)
    rank = serializers.IntegerField(min_value=1, max_value=100)


class TagInput(StrictInputSerializer):
    name = serializers.CharField(max_length=64)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False, allow_blank=True)


CHANNELS = Channel.values
