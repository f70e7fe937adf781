"""``manage.py seed_demo --scale small|large --seed N``: deterministic, realistic demo data.

Customers spread over the Lyon metropolitan area (one city-sized region), with geocoded
sites, contacts and assets; technicians with home bases and skills; reps, dispatchers and
managers. An active territory map tiles the region (region, areas, one sales territory per
rep): each rep owns a territory and the accounts whose primary site lies in it, the sales
manager manages the region, dispatchers and technicians belong to the areas and territories
they work in. The same seed gives the same data. ``large`` has 50,000 accounts.
"""

from __future__ import annotations

import datetime as dt
import random
import string
import time
import unicodedata
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from crm import services as crm_services
from crm.enums import AccountKind, ContactRole, LifecycleStage
from crm.models import Account, Asset, Contact, CustomerTier, Site, Tag
from field_service.models import Priority, Skill, WorkOrder, WorkOrderKind
from field_service.services import technician_profile_set, work_order_assign, work_order_create
from server.enums import Role
from server.models import User
from server.services import user_create
from territories import services as territory_services
from territories.demo_map import TYPES, demo_map
from territories.models import MemberRole, Membership, Territory, TerritoryModel
from territories.services.assignment import index_for

DEMO_PASSWORD = "fieldline-demo"  # noqa: S105 - printed for demo logins on purpose
REGION_LAT = (45.66, 45.84)
REGION_LNG = (4.74, 5.02)
REGION_TIME_ZONE = "Europe/Paris"
# The map's bounds: the region with a margin, so every geocoded site falls inside.
MAP_BOUNDS = (4.73, 45.65, 5.03, 45.85)
CITIES = [
    ("Lyon", "69001"),
    ("Lyon", "69003"),
    ("Lyon", "69007"),
    ("Villeurbanne", "69100"),
    ("Vénissieux", "69200"),
    ("Bron", "69500"),
    ("Caluire-et-Cuire", "69300"),
    ("Écully", "69130"),
    ("Saint-Priest", "69800"),
    ("Oullins", "69600"),
    ("Décines-Charpieu", "69150"),
    ("Tassin-la-Demi-Lune", "69160"),
]
STREETS = [
    "rue de la République",
    "avenue Jean Jaurès",
    "cours Lafayette",
    "rue Garibaldi",
    "boulevard des Belges",
    "rue Paul Bert",
    "avenue Berthelot",
    "rue du Président Édouard Herriot",
    "quai Perrache",
    "route de Vienne",
]
COMPANY_WORDS = [
    "Rhône",
    "Saône",
    "Fourvière",
    "Confluence",
    "Croix-Rousse",
    "Part-Dieu",
    "Gerland",
    "Bellecour",
    "Presqu'île",
    "Monplaisir",
]
COMPANY_KINDS = [
    "Boulangerie",
    "Clinique",
    "Hôtel",
    "Imprimerie",
    "Laboratoire",
    "Brasserie",
    "Pharmacie",
    "Garage",
    "Supermarché",
    "Cabinet",
    "École",
    "Résidence",
]
FIRST_NAMES = [
    "Camille",
    "Léa",
    "Hugo",
    "Lucas",
    "Chloé",
    "Manon",
    "Louis",
    "Inès",
    "Jules",
    "Emma",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Moreau",
    "Laurent",
]
EQUIPMENT = [
    ("Daikin", "VRV IV"),
    ("Carrier", "AquaSnap 30RB"),
    ("Viessmann", "Vitodens 200"),
    ("Schindler", "3300"),
    ("Otis", "Gen2"),
    ("Atlantic", "Alféa Extensa"),
    ("Legrand", "DX3 panel"),
    ("Grundfos", "Magna3"),
]
TIERS = [("A", "Strategic", 1), ("B", "Important", 2), ("C", "Standard", 3)]
TAGS = [
    ("key-account", "#b91c1c"),
    ("maintenance-contract", "#1d4ed8"),
    ("hvac", "#0f766e"),
    ("elevators", "#7c3aed"),
    ("heating", "#c2410c"),
    ("electrical", "#ca8a04"),
    ("public-sector", "#4b5563"),
    ("new-build", "#15803d"),
]
SKILLS = [
    ("hvac", "HVAC"),
    ("elevator", "Elevators"),
    ("boiler", "Boilers and heating"),
    ("electrical", "Electrical"),
    ("plumbing", "Plumbing"),
    ("refrigeration", "Refrigeration"),
]


@dataclass(frozen=True)
class Scale:
    accounts: int
    technicians: int
    reps: int
    dispatchers: int
    jobs_per_technician: int = 0  # today's and tomorrow's, assigned; as many again unassigned


SCALES = {
    "small": Scale(accounts=300, technicians=12, reps=6, dispatchers=2, jobs_per_technician=3),
    "large": Scale(accounts=50_000, technicians=500, reps=60, dispatchers=8),
}
EPOCH = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
JOB_DESCRIPTIONS = [
    "Boiler shows error E119 after restart",
    "Annual service visit",
    "Air handling unit noisy on start-up",
    "Replace the filter set",
    "Commission the new heat pump",
    "Water leak under the condensing unit",
    "Safety inspection before the heating season",
]
ID_ALPHABET = string.digits + string.ascii_lowercase


def _ascii(name: str) -> str:
    """``Léa`` -> ``lea``: e-mail local parts the address validator accepts."""
    decomposed = unicodedata.normalize("NFKD", name.lower())
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


class Command(BaseCommand):
    help = "Load deterministic demo data (refuses to run on a database that has customers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", choices=sorted(SCALES), default="small")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database already has customers.",
        )

    def handle(self, *args: Any, scale: str, seed: int, if_empty: bool, **options: Any) -> None:
        if Account.objects.exists() or User.objects.filter(username="admin").exists():
            if if_empty:
                self.stdout.write("Demo data already loaded; nothing to do.")
                return
            raise CommandError("The database already has data; seed_demo needs an empty one.")
        started = time.perf_counter()
        Seeder(random.Random(seed), SCALES[scale]).run()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {scale} demo data (seed {seed}) in {time.perf_counter() - started:.1f}s: "
                f"{Account.objects.count()} accounts, {Site.objects.count()} sites, "
                f"{Contact.objects.count()} contacts, {Asset.objects.count()} assets, "
                f"{WorkOrder.objects.count()} jobs."
            )
        )


class Seeder:
    def __init__(self, rng: random.Random, scale: Scale) -> None:
        self.rng = rng
        self.scale = scale
        self.password_hash = make_password(DEMO_PASSWORD)
        self.serials = 0

    def serial_number(self) -> int:
        """A random-looking nine-digit serial, never the same twice (a random draw collides
        with the unique serial constraint at half a million assets): multiplying a counter by
        a number coprime with 10**9 permutes 0..10**9-1."""
        self.serials += 1
        return (self.serials * 387_420_489) % 10**9

    def new_id(self) -> str:
        return "".join(self.rng.choice(ID_ALPHABET) for _ in range(16))

    def point(self) -> tuple[float, float]:
        # Denser in the centre: the mean of two uniform draws per axis.
        lat = sum(self.rng.uniform(*REGION_LAT) for _ in range(2)) / 2
        lng = sum(self.rng.uniform(*REGION_LNG) for _ in range(2)) / 2
        return round(lat, 6), round(lng, 6)

    def phone(self, prefix: str) -> str:
        pairs = " ".join(f"{self.rng.randint(10, 99)}" for _ in range(4))
        return f"+33 {prefix} {pairs}"

    def moment(self, days: int) -> dt.datetime:
        return EPOCH + dt.timedelta(minutes=self.rng.randrange(days * 24 * 60))

    @transaction.atomic
    def run(self) -> None:
        self.users()
        self.reference()
        self.territories()
        self.customers()
        # Every site and account's assignment, as history (accounts already carry their code).
        territory_services.territory_model_assign(actor=None, model_id=self.map.pk)
        self.jobs()

    def jobs(self) -> None:
        """Open work on the boards: each technician's jobs for today and tomorrow at sites of
        their territory, scheduled through the dispatch service as a dispatcher would (today's
        dispatched), and as many again waiting for a technician."""
        per_technician = self.scale.jobs_per_technician
        if not per_technician:
            return
        manager = User.objects.get(username="servicemanager")
        zone = ZoneInfo(REGION_TIME_ZONE)
        today = dt.datetime.now(zone).date()
        sites_of: dict[str, list[Site]] = {}
        for site in Site.objects.filter(is_primary=True, latitude__isnull=False).select_related(
            "account"
        ):
            sites_of.setdefault(site.account.territory, []).append(site)
        crews = Membership.objects.filter(role=MemberRole.TECHNICIAN).select_related(
            "user", "territory"
        )
        for membership in crews.order_by("user__username"):
            sites = sites_of.get(membership.territory.code, [])
            for n, site in enumerate(self.rng.sample(sites, k=min(len(sites), 2 * per_technician))):
                job = work_order_create(
                    actor=manager,
                    account=site.account,
                    site=site,
                    kind=self.rng.choice(WorkOrderKind.values),
                    priority=self.rng.choices(Priority.values, weights=[20, 50, 25, 5])[0],
                    description=self.rng.choice(JOB_DESCRIPTIONS),
                    estimated_minutes=self.rng.choice([30, 45, 60, 90, 120]),
                )
                if n >= per_technician:
                    continue  # waits on the board
                day = today + dt.timedelta(days=n % 2)
                start = dt.datetime.combine(day, dt.time(8 + 3 * (n // 2)), tzinfo=zone)
                work_order_assign(
                    actor=manager,
                    work_order=job,
                    technicians=[membership.user],
                    lead=membership.user,
                    start=start,
                    dispatch=day == today,
                    override_reason="Demo schedule",
                )

    def users(self) -> None:
        user_create(
            username="admin",
            password_hash=self.password_hash,
            roles=[Role.ADMIN],
            display_name="Admin",
            is_staff=True,
            is_superuser=True,
        )
        for username, role, name in [
            ("salesmanager", Role.SALES_MANAGER, "Sophie Garnier"),
            ("servicemanager", Role.SERVICE_MANAGER, "Marc Lefèvre"),
            ("finance", Role.FINANCE, "Nadia Benali"),
        ]:
            user_create(
                username=username, password_hash=self.password_hash, roles=[role], display_name=name
            )
        self.dispatchers = [
            user_create(
                username=f"dispatcher{n}",
                password_hash=self.password_hash,
                roles=[Role.DISPATCHER],
                display_name=f"Dispatcher {n}",
            )
            for n in range(1, self.scale.dispatchers + 1)
        ]
        self.reps = [
            user_create(
                username=f"rep{n}",
                password_hash=self.password_hash,
                roles=[Role.SALES_REP],
                display_name=f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}",
            )
            for n in range(1, self.scale.reps + 1)
        ]
        Skill.objects.bulk_create([Skill(code=code, name=name) for code, name in SKILLS])
        self.home_bases: list[tuple[User, tuple[float, float]]] = []
        for n in range(1, self.scale.technicians + 1):
            tech = user_create(
                username=f"tech{n}",
                password_hash=self.password_hash,
                roles=[Role.TECHNICIAN],
                display_name=f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}",
            )
            lat, lng = self.point()
            self.home_bases.append((tech, (lng, lat)))
            codes = self.rng.sample([code for code, _ in SKILLS], k=self.rng.randint(1, 3))
            technician_profile_set(
                user=tech,
                home_label=self.rng.choice(CITIES)[0],
                home_latitude=lat,
                home_longitude=lng,
                skills={code: self.rng.randint(1, 5) for code in codes},
            )

    def territories(self) -> None:
        admin = User.objects.get(username="admin")
        for code, (name, priority) in TYPES.items():
            territory_services.territory_type_create(
                actor=admin, code=code, name=name, priority=priority
            )
        self.map: TerritoryModel = territory_services.territory_model_create(
            actor=admin, name="Sales and service map 2026"
        )
        territory_services.territories_import(
            actor=admin,
            model_id=self.map.pk,
            collection=demo_map(self.rng, territories=len(self.reps), bounds=MAP_BOUNDS),
        )
        territory_services.territory_model_activate(actor=admin, model_id=self.map.pk)
        since = EPOCH.date()
        by_type: dict[str, list[Territory]] = {}
        for territory in Territory.objects.filter(territory_model=self.map).order_by("code"):
            by_type.setdefault(territory.type.code, []).append(territory)
        cells, areas = by_type["territory"], by_type["area"]
        self.owner_of: dict[str, User] = {}
        for rep, cell in zip(self.reps, cells, strict=True):
            territory_services.membership_add(
                actor=admin, territory=cell, user=rep, role=MemberRole.OWNER, valid_from=since
            )
            self.owner_of[cell.code] = rep
        territory_services.membership_add(
            actor=admin,
            territory=by_type["region"][0],
            user=User.objects.get(username="salesmanager"),
            role=MemberRole.MANAGER,
            valid_from=since,
        )
        for n, dispatcher in enumerate(self.dispatchers):
            for area in areas[n :: len(self.dispatchers)]:
                territory_services.membership_add(
                    actor=admin,
                    territory=area,
                    user=dispatcher,
                    role=MemberRole.DISPATCHER,
                    valid_from=since,
                )
        self.index, self.codes = index_for(self.map)
        by_code = {cell.code: cell for cell in cells}
        for tech, (lng, lat) in self.home_bases:
            key, _reason = self.index.assign_one(lng, lat)
            if key is not None:
                territory_services.membership_add(
                    actor=admin,
                    territory=by_code[self.codes[key]],
                    user=tech,
                    role=MemberRole.TECHNICIAN,
                    valid_from=since,
                )

    def territory_of(self, lng: float, lat: float) -> str:
        key, _reason = self.index.assign_one(lng, lat)
        return self.codes[key] if key is not None else ""

    def reference(self) -> None:
        self.tiers = [
            crm_services.tier_create(actor=None, code=code, name=name, rank=rank)
            for code, name, rank in TIERS
        ]
        self.tags = [crm_services.tag_create(actor=None, name=n, color=c) for n, c in TAGS]

    def customers(self) -> None:
        rng = self.rng
        accounts: list[Account] = []
        account_tags: dict[str, list[str]] = {}
        sites: list[Site] = []
        contacts: list[Contact] = []
        assets: list[Asset] = []
        tiers: list[CustomerTier] = self.tiers
        tags: list[Tag] = self.tags
        for n in range(self.scale.accounts):
            kind = rng.choices(list(AccountKind), weights=[70, 20, 5, 5])[0]
            name = (
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                if kind == AccountKind.PERSON
                else f"{rng.choice(COMPANY_KINDS)} {rng.choice(COMPANY_WORDS)} {n + 1}"
            )
            created = self.moment(300)
            account = Account(
                id=self.new_id(),
                name=name,
                kind=kind,
                tier=rng.choices(tiers, weights=[10, 30, 60])[0],
                lifecycle_stage=rng.choices(list(LifecycleStage), weights=[10, 10, 65, 10, 5])[0],
                owner=rng.choice(self.reps),
                phone=self.phone("4"),
                email=f"contact{n + 1}@example.fr",
                national_id=f"FR{rng.randrange(10**11):011d}" if kind != AccountKind.PERSON else "",
                bank_account=f"FR76{rng.randrange(10**23):023d}",
                created_at=created,
                updated_at=created,
            )
            accounts.append(account)
            account_tags[account.pk] = [
                t.pk for t in rng.sample(tags, k=rng.choice([0, 1, 1, 2, 3]))
            ]
            for s in range(rng.choice([1, 1, 1, 2, 2, 3])):
                city, postal = rng.choice(CITIES)
                geocoded = rng.random() > 0.03
                lat, lng = self.point() if geocoded else (None, None)
                site = Site(
                    id=self.new_id(),
                    account=account,
                    name="Main site" if s == 0 else f"Site {s + 1}",
                    is_primary=s == 0,
                    street=f"{rng.randint(1, 220)} {rng.choice(STREETS)}",
                    city=city,
                    postal_code=postal,
                    country="FR",
                    latitude=lat,
                    longitude=lng,
                    time_zone=REGION_TIME_ZONE,
                    access_notes=rng.choice(["", "Badge at reception", "Code 4512B", "Ring twice"]),
                    created_at=created,
                    updated_at=created,
                )
                sites.append(site)
                if s == 0 and lng is not None and lat is not None:
                    # The primary site places the account: its territory, and that
                    # territory's owner as the account's owner.
                    account.territory = self.territory_of(lng, lat)
                    account.owner = self.owner_of.get(account.territory, account.owner)
                parent: Asset | None = None
                for _ in range(rng.choice([0, 1, 1, 2, 3])):
                    maker, model = rng.choice(EQUIPMENT)
                    installed = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3800))
                    asset = Asset(
                        id=self.new_id(),
                        account=account,
                        site=site,
                        parent=parent if parent is not None and rng.random() < 0.2 else None,
                        serial_number=f"{maker[:3].upper()}-{self.serial_number():09d}",
                        model_name=model,
                        manufacturer=maker,
                        install_date=installed,
                        warranty_end=installed + dt.timedelta(days=365 * rng.choice([2, 3, 5])),
                        contract_end=(
                            installed + dt.timedelta(days=365 * rng.randint(3, 12))
                            if rng.random() < 0.6
                            else None
                        ),
                        created_at=created,
                        updated_at=created,
                    )
                    parent = parent or asset
                    assets.append(asset)
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                contacts.append(
                    Contact(
                        id=self.new_id(),
                        account=account,
                        first_name=first,
                        last_name=last,
                        title=rng.choice(["Facility manager", "Owner", "Director", "Accountant"]),
                        roles=sorted(rng.sample(ContactRole.values, k=rng.randint(1, 2))),
                        phone=self.phone("6"),
                        email=f"{_ascii(first)}.{_ascii(last)}{len(contacts)}@example.fr",
                        created_at=created,
                        updated_at=created,
                    )
                )
        crm_services.customers_bulk_import(
            actor=None,
            accounts=accounts,
            account_tags=account_tags,
            sites=sites,
            contacts=contacts,
            assets=assets,
        )
