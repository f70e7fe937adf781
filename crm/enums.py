from django.db import models


class AccountKind(models.TextChoices):
    COMPANY = "company", "Company"
    PERSON = "person", "Person"
    GOVERNMENT = "government", "Government"
    INSTITUTION = "institution", "Institution"


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    NEW = "new", "New"
    ACTIVE = "active", "Active"
    LAPSED = "lapsed", "Lapsed"
    REACTIVATED = "reactivated", "Reactivated"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    VISIT = "visit", "Visit"
    POST = "post", "Post"


class Frequency(models.TextChoices):
    ANY = "any", "Any time"
    WEEKLY = "weekly", "At most weekly"
    MONTHLY = "monthly", "At most monthly"
    QUARTERLY = "quarterly", "At most quarterly"


class ContactRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    BILLING = "billing", "Billing"
    TECHNICAL = "technical", "Technical"
    SITE_CONTACT = "site_contact", "Site contact"
    USER = "user", "User"


class InteractionKind(models.TextChoices):
    CALL = "call", "Call"
    VISIT = "visit", "Visit"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"


# The contact channel an interaction kind uses; notes reach nobody and need no consent.
INTERACTION_CHANNEL: dict[str, str | None] = {
    InteractionKind.CALL: Channel.PHONE,
    InteractionKind.VISIT: Channel.VISIT,
    InteractionKind.EMAIL: Channel.EMAIL,
    InteractionKind.MEETING: Channel.VISIT,
    InteractionKind.NOTE: None,
}


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "We reached out"
    INBOUND = "inbound", "The customer reached out"
