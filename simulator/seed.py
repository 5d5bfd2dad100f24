"""Deterministic org data: the same seed (and seed day) gives the same ids and rows.

Ids depend on the seed alone; timestamps are spread over the 30 days before the anchor (the
start of the simulator's current UTC day), so a seeded org always looks recently active.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.clock import format_datetime
from simulator.fieldvalues import to_storage
from simulator.ids import BASE62, IdAllocator, checksum_suffix, encode_base62, to_18
from simulator.schema import CATALOGUE, TIME_ZONES
from simulator.store import Store

FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon",
               "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
               "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Liam", "Maya", "Noah", "Olivia")  # fmt: skip
LAST_NAMES = ("Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
              "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Rossi",
              "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang")  # fmt: skip
WORDS = ("Acme", "Blue", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris",
         "Juniper", "Keystone", "Lumen", "Maple", "Nimbus", "Orbit", "Pioneer", "Quartz", "River",
         "Summit", "Tidal", "Union", "Vertex", "Willow", "Zenith", "Atlas", "Beacon", "Cobalt")  # fmt: skip
SUFFIXES = ("Labs", "Systems", "Logistics", "Health", "Capital", "Foods", "Robotics", "Media",
            "Energy", "Retail", "Analytics", "Software", "Industries", "Partners")  # fmt: skip
COUNTRIES = ("United States", "US", "USA", "Canada", "United Kingdom", "UK", "GB", "Germany", "DE",
             "France", "Netherlands", "Spain", "India", "Japan", "Singapore", "Australia",
             "Brazil", "Mexico")  # fmt: skip
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
INDUSTRIES = ("Banking", "Biotechnology", "Consulting", "Education", "Energy", "Finance",
              "Healthcare", "Insurance", "Manufacturing", "Media", "Retail", "Technology")  # fmt: skip
QUEUES = (("Lead Intake", "Lead_Intake"), ("NA Inbound", "NA_Inbound"),
          ("EMEA Inbound", "EMEA_Inbound"), ("APAC Inbound", "APAC_Inbound"),
          ("Enterprise Desk", "Enterprise_Desk"))  # fmt: skip
INTAKE_QUEUE = "Lead_Intake"


@dataclass(frozen=True)
class OrgIdentity:
    """Who the seeded org is: its id, its integration user and its default intake queue."""

    org_id: str
    pod: str
    integration_user_id: str
    username: str
    intake_queue_id: str


def pod_for(seed: int) -> str:
    """The two instance characters every id of this org carries."""
    rng = random.Random(f"pod-{seed}")
    return rng.choice(BASE62[1:]) + rng.choice(BASE62)


def org_id_for(seed: int) -> str:
    """The org's 18-character id (00D...)."""
    id15 = "00D" + pod_for(seed) + "0" + encode_base62(abs(seed) % 62**8 + 1, 9)
    return id15 + checksum_suffix(id15)


class _Rows:
    """Builds complete rows (every column) the way the server would have written them."""

    def __init__(self, creator: str) -> None:
        self.creator = creator
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CATALOGUE}

    def add(self, sobject: str, record_id: str, created: datetime, **values: Any) -> str:
        spec = CATALOGUE[sobject]
        row: dict[str, Any] = {}
        for field in spec.fields:
            raw = values.get(field.name, field.default)
            row[field.name] = None if raw is None else to_storage(field, raw)
        stamp = format_datetime(created)
        if spec.field("Name") and spec.by_lower["name"].derived:
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        if sobject == "Task":
            row["IsClosed"] = int(row["Status"] == "Completed")
            row["CompletedDateTime"] = values.get("CompletedDateTime")
        row.update(
            Id=record_id,
            CreatedDate=stamp,
            CreatedById=self.creator,
            LastModifiedDate=stamp,
            LastModifiedById=self.creator,
            SystemModstamp=stamp,
            IsDeleted=0,
        )
        self.rows[sobject].append(row)
        return record_id


def _policy_principals(
    policy_path: Path | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Users (id -> member details) and queues (id -> name) named by a routing policy file."""
    users: dict[str, dict[str, Any]] = {}
    queues: dict[str, str] = {}
    if policy_path is None or not policy_path.is_file():
        return users, queues
    policy = json.loads(policy_path.read_text(encoding="utf-8"))

    def note(raw: object, name: str, member: dict[str, Any] | None = None) -> None:
        if not isinstance(raw, str) or to_18(raw) is None:
            return
        record_id = to_18(raw) or raw
        if record_id.startswith("005"):
            users.setdefault(record_id, member or {"name": name})
        elif record_id.startswith("00G"):
            queues.setdefault(record_id, name)

    def walk(node: object, name: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, str(key))
        elif isinstance(node, list):
            for value in node:
                walk(value, name)
        else:
            note(node, name)

    for pool_name, pool in (policy.get("pools") or {}).items():
        for member in (pool or {}).get("members") or []:
            if isinstance(member, dict):
                note(member.get("id"), str(member.get("name") or pool_name), member)
    walk(policy.get("owners") or {}, "Owner")
    walk(policy.get("queues") or {}, "Queue")
    return users, queues


def _member_active(member: dict[str, Any]) -> bool:
    if member.get("active") is False or member.get("inactive") is True:
        return False
    return str(member.get("status", "active")).lower() not in ("inactive", "disabled")


def seed_org(
    store: Store, ids: IdAllocator, seed: int, anchor: datetime, policy_path: Path | None = None
) -> OrgIdentity:
    """Empty the store and fill it with the org for this seed; returns the org's identity."""
    rng = random.Random(seed)
    ids.reset(pod_for(seed))
    store.recreate()
    org_id = org_id_for(seed)
    domain = f"org{abs(seed)}.leadfleet-sim.example"
    integration_id = ids.new_id("005")
    rows = _Rows(integration_id)

    def past(max_days: int = 30) -> datetime:
        return anchor - timedelta(seconds=rng.randint(3600, max_days * 86400))

    username = f"integration@{domain}"
    genesis = anchor - timedelta(days=400)
    rows.add("User", integration_id, genesis, Username=username, FirstName="Integration",
             LastName="User", Email=f"integration@{domain}", IsActive=True,
             TimeZoneSidKey="America/Los_Angeles")  # fmt: skip
    active_users: list[str] = []
    for index in range(30):
        first, last = FIRST_NAMES[index % len(FIRST_NAMES)], rng.choice(LAST_NAMES)
        handle = f"{first}.{last}{index}".lower().replace("'", "").replace("ü", "u")
        user_id = rows.add("User", ids.new_id("005"), genesis + timedelta(days=index),
                           Username=f"{handle}@{domain}", FirstName=first, LastName=last,
                           Email=f"{handle}@{domain}", IsActive=index % 7 != 6,
                           TimeZoneSidKey=rng.choice(TIME_ZONES))  # fmt: skip
        if index % 7 != 6:
            active_users.append(user_id)
    policy_users, policy_queues = _policy_principals(policy_path)
    for number, (user_id, member) in enumerate(sorted(policy_users.items())):
        name = str(member.get("name") or f"Rep {number}")
        first, _, last = name.partition(" ")
        handle = f"policy.{number}"
        zone = member.get("time_zone") or member.get("timezone")
        rows.add("User", user_id, genesis, Username=f"{handle}@{domain}",
                 FirstName=first if last else None, LastName=last or first,
                 Email=f"{handle}@{domain}", IsActive=_member_active(member),
                 TimeZoneSidKey=zone if zone in TIME_ZONES else "America/New_York")  # fmt: skip
    queue_ids: list[str] = []
    for name, developer_name in QUEUES:
        queue_ids.append(rows.add("Group", ids.new_id("00G"), genesis, Name=name,
                                  DeveloperName=developer_name, Type="Queue"))  # fmt: skip
    for queue_id, name in sorted(policy_queues.items()):
        rows.add("Group", queue_id, genesis, Name=name[:40], DeveloperName=f"Q_{queue_id}",
                 Type="Queue")  # fmt: skip
    accounts: list[tuple[str, str, str]] = []
    for index in range(200):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)} {index}"
        slug = name.lower().replace(" ", "")
        owner = rng.choice(active_users)
        account_id = rows.add("Account", ids.new_id("001"), past(365), Name=name,
                              Website=f"https://www.{slug}.com", OwnerId=owner,
                              Industry=rng.choice(INDUSTRIES),
                              NumberOfEmployees=rng.choice((12, 45, 180, 650, 2400, 12000)),
                              BillingCountry=rng.choice(COUNTRIES))  # fmt: skip
        accounts.append((account_id, f"{slug}.com", owner))
    for _ in range(60):
        account_id, account_domain, owner = rng.choice(accounts)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        rows.add("Contact", ids.new_id("003"), past(200), FirstName=first, LastName=last,
                 Email=f"{first}.{last}@{account_domain}".lower().replace("'", ""),
                 AccountId=account_id, OwnerId=owner)  # fmt: skip
    leads: list[tuple[str, datetime, str]] = []
    for index in range(100):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if rng.random() < 0.3:
            _, company_domain, _ = rng.choice(accounts)
            company = company_domain.removesuffix(".com").title()
        else:
            company = f"{rng.choice(WORDS)} {rng.choice(SUFFIXES)}"
            company_domain = company.lower().replace(" ", "") + ".io"
        mail_domain = rng.choice(FREE_MAIL) if rng.random() < 0.1 else company_domain
        created = past()
        email = f"{first}.{last}{index}@{mail_domain}".lower().replace("'", "").replace("ü", "u")
        owner = rng.choice(active_users) if rng.random() < 0.7 else rng.choice(queue_ids)
        bounced = rng.random() < 0.03
        lead_id = rows.add("Lead", ids.new_id("00Q"), created, FirstName=first, LastName=last,
                           Company=company, Title=rng.choice(("CTO", "VP Sales", "Engineer",
                                                             "Head of Ops", "Founder", None)),
                           Email=email, Phone=f"+1 555 {rng.randint(1000000, 9999999)}",
                           Website=f"https://{company_domain}", City=None,
                           Country=rng.choice(COUNTRIES),
                           NumberOfEmployees=rng.choice((None, 8, 40, 220, 900, 5000, 20000)),
                           Industry=rng.choice(INDUSTRIES),
                           LeadSource=rng.choice(("Web", "Webinar", "Trade Show", "Partner Referral")),
                           Status=rng.choice(("Open - Not Contacted", "Working - Contacted")),
                           OwnerId=owner, HasOptedOutOfEmail=rng.random() < 0.05,
                           EmailBouncedDate=format_datetime(created) if bounced else None,
                           EmailBouncedReason="550 mailbox unavailable" if bounced else None,
                           Product_Interest__c=rng.choice(("Platform", "Analytics", "Integrations",
                                                           None)))  # fmt: skip
        leads.append((lead_id, created, owner if owner.startswith("005") else integration_id))
    for lead_id, created, owner in rng.sample(leads, 50):
        done = created + timedelta(minutes=rng.randint(5, 3000))
        status = "Completed" if rng.random() < 0.7 else "Not Started"
        rows.add("Task", ids.new_id("00T"), done, WhoId=lead_id, OwnerId=owner,
                 Subject=rng.choice(("Call", "Intro email", "Follow up")),
                 Type=rng.choice(("Call", "Email", "Meeting")), Status=status,
                 CompletedDateTime=format_datetime(done) if status == "Completed" else None,
                 ActivityDate=done.date().isoformat())  # fmt: skip
    for _ in range(30):
        account_id, _, owner = rng.choice(accounts)
        rows.add("Task", ids.new_id("00T"), past(), WhatId=account_id, OwnerId=owner,
                 Subject="Account review", Type="Other", Status="Not Started")  # fmt: skip
    for lead_id, created, _ in rng.sample(leads, 40):
        sent = created + timedelta(minutes=rng.randint(2, 2000))
        incoming = rng.random() < 0.25
        rows.add("EmailMessage", ids.new_id("02s"), sent, RelatedToId=lead_id,
                 Subject="Re: your enquiry" if incoming else "Thanks for reaching out",
                 TextBody="Hello", FromAddress="prospect@example.com" if incoming else username,
                 ToAddress=username if incoming else "prospect@example.com",
                 Incoming=incoming, MessageDate=format_datetime(sent),
                 Status="0" if incoming else "3")  # fmt: skip
    with store.transaction():
        for sobject, sobject_rows in rows.rows.items():
            store.insert_many(sobject, sobject_rows)
    intake = next(r["Id"] for r in rows.rows["Group"] if r["DeveloperName"] == INTAKE_QUEUE)
    return OrgIdentity(
        org_id=org_id,
        pod=pod_for(seed),
        integration_user_id=integration_id,
        username=username,
        intake_queue_id=intake,
    )
