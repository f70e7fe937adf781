"""Customers: accounts, contacts, sites, assets, interactions and promises.

Every model here syncs to devices, so ids are strings (devices create records offline) and
rows are archived rather than deleted. Writes go through ``crm.services`` only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.enums import (
    AccountKind,
    Channel,
    ContactRole,
    Direction,
    Frequency,
    InteractionKind,
    LifecycleStage,
)
from sync.ids import ID_MAX_LENGTH, new_id


class SyncedModel(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=new_id)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class CustomerTier(SyncedModel):
    """A configurable class of customer (A/B/C, or core/important/ordinary). Reference data."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    rank = models.PositiveSmallIntegerField(help_text="1 is the most important tier.")

    class Meta:
        ordering = ["rank", "code"]

    def __str__(self) -> str:
        return self.name


class Tag(SyncedModel):
    """A free label on accounts. Reference data."""

    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=7, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(SyncedModel):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=AccountKind.choices, default=AccountKind.COMPANY)
    tier = models.ForeignKey(
        CustomerTier, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.PROSPECT
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_accounts",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="accounts", through="AccountTag")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)
    # Sensitive: masked for roles without crm.view_sensitive, never written to logs.
    national_id = models.CharField(max_length=64, blank=True)
    bank_account = models.CharField(max_length=64, blank=True)
    # The code of the account's territory in the active territory model (through its primary
    # site), kept by the territories app; it scopes the account as ``territory:<code>``.
    territory = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["territory"]),
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["-created_at", "id"]),
            models.Index(fields=["updated_at"]),
            models.Index(fields=["name"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AccountKind.values), name="account_kind"),
            models.CheckConstraint(
                condition=Q(lifecycle_stage__in=LifecycleStage.values), name="account_stage"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AccountTag(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "tag"], name="account_tag_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.tag_id}"


class Contact(SyncedModel):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="contacts")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    title = models.CharField(max_length=100, blank=True)
    roles = models.JSONField(default=list, blank=True, help_text=f"Any of {ContactRole.values}")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["account", "last_name"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Site(SyncedModel):
    """A service location. ``latitude``/``longitude`` are WGS84 degrees; both null means the
    site is not geocoded (0, 0 is a real point)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    is_primary = models.BooleanField(default=False)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    access_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-is_primary", "name", "id"]
        indexes = [models.Index(fields=["account", "-is_primary"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(is_primary=True, archived_at__isnull=True),
                name="site_one_primary_per_account",
            ),
            models.CheckConstraint(
                condition=(
                    Q(latitude__isnull=True, longitude__isnull=True)
                    | Q(
                        latitude__gte=-90,
                        latitude__lte=90,
                        longitude__gte=-180,
                        longitude__lte=180,
                    )
                ),
                name="site_coordinates_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_geocoded(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class Asset(SyncedModel):
    """An installed unit at a site. ``account`` always equals ``site.account``."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="assets")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="assets")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    serial_number = models.CharField(max_length=100)
    model_name = models.CharField(max_length=100)
    manufacturer = models.CharField(max_length=100, blank=True)
    install_date = models.DateField(null=True, blank=True)
    warranty_end = models.DateField(null=True, blank=True)
    contract_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["serial_number", "id"]
        indexes = [models.Index(fields=["site"]), models.Index(fields=["account"])]
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "serial_number"], name="asset_serial_unique"
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="asset_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.serial_number}"


class Interaction(SyncedModel):
    """A call, visit, email, meeting or note. Visits may carry a GPS check-in and check-out."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="interactions")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="interactions"
    )
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="interactions"
    )
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.OUTBOUND
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="interactions"
    )
    occurred_at = models.DateTimeField()
    summary = models.TextField()
    check_in_at = models.DateTimeField(null=True, blank=True)
    check_in_latitude = models.FloatField(null=True, blank=True)
    check_in_longitude = models.FloatField(null=True, blank=True)
    check_out_at = models.DateTimeField(null=True, blank=True)
    check_out_latitude = models.FloatField(null=True, blank=True)
    check_out_longitude = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "id"]
        indexes = [models.Index(fields=["account", "-occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=InteractionKind.values), name="interaction_kind"
            ),
            models.CheckConstraint(
                condition=Q(check_out_at__isnull=True)
                | Q(check_in_at__isnull=False, check_out_at__gte=models.F("check_in_at")),
                name="interaction_checkout_after_checkin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class Promise(SyncedModel):
    """Something promised to the customer during an interaction, due on a date."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="promises")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="promises")
    description = models.CharField(max_length=500)
    due_date = models.DateField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["account", "due_date"])]

    def __str__(self) -> str:
        return self.description


class ContactPreference(SyncedModel):
    """How an account, or one of its contacts when ``contact`` is set, may be reached on a
    channel, with the consent behind it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="preferences")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="preferences"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.ANY)
    opted_out = models.BooleanField(default=False)
    consent_at = models.DateTimeField()
    consent_source = models.CharField(max_length=200)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["channel", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "channel"],
                condition=Q(contact__isnull=True),
                name="preference_account_channel_unique",
            ),
            models.UniqueConstraint(
                fields=["contact", "channel"],
                condition=Q(contact__isnull=False),
                name="preference_contact_channel_unique",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="preference_channel"
            ),
            models.CheckConstraint(
                condition=Q(frequency__in=Frequency.values), name="preference_frequency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} opted_out={self.opted_out}"
