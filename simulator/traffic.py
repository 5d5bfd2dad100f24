"""`python -m simulator.traffic`: people using the org — web leads arriving, then reps answering.

It works the org over REST as a person would: its own JWT bearer exchange with the connected
app's key, leads created by a seeded marketing user, calls and emails logged by the rep who owns
the lead (or another rep while the lead still sits in a queue). It never sends leadfleet's
``Sforce-Call-Options`` header, so every change it makes is one leadfleet must react to.

The plan (simulator/traffic_plan.py) is fixed by the seed; the run (`Traffic`) replays it on the
clock and prints one JSON line per action.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from simulator import traffic_data as data
from simulator.traffic_org import OrgConnection, RestOrg, TrafficError
from simulator.traffic_plan import LeadPlan, TrafficPlan, build_plan

__all__ = [
    "OrgPort",
    "People",
    "Person",
    "Traffic",
    "TrafficReport",
    "account_domains",
    "discover_people",
    "main",
]


# -- running a plan against an org ---------------------------------------------------------


class OrgPort(Protocol):
    """What the run needs from the org, acting as a named user."""

    def query(self, soql: str, *, as_user: str) -> list[dict[str, Any]]:
        """Every record a SOQL query returns."""
        ...

    def create(self, sobject: str, fields: dict[str, Any], *, as_user: str) -> str:
        """Create a record; its id."""
        ...

    def get(
        self, sobject: str, record_id: str, fields: Sequence[str], *, as_user: str
    ) -> dict[str, Any]:
        """Some fields of one record."""
        ...


@dataclass(frozen=True)
class Person:
    """A user the traffic acts as."""

    id: str
    username: str
    email: str


@dataclass(frozen=True)
class People:
    """Who creates leads (a marketing user) and who answers them (every other active user)."""

    intake: Person
    reps: tuple[Person, ...]

    def by_id(self, user_id: str) -> Person | None:
        """An active rep by user id."""
        return next((rep for rep in self.reps if rep.id == user_id), None)


def discover_people(org: OrgPort, integration_username: str) -> People:
    """Active users of the org, the integration user excluded; the first one enters leads."""
    rows = org.query(
        "SELECT Id, Username, Email FROM User WHERE IsActive = true ORDER BY Username",
        as_user=integration_username,
    )
    people = [
        Person(str(r["Id"]), str(r["Username"]), str(r["Email"]))
        for r in rows
        if str(r["Username"]).lower() != integration_username.lower()
    ]
    if len(people) < 2:
        raise TrafficError("the org needs at least two active users besides the integration user")
    return People(intake=people[0], reps=tuple(people[1:]))


def account_domains(org: OrgPort, as_user: str) -> list[str]:
    """Email domains of the org's Accounts, from their Website (www. dropped)."""
    rows = org.query(
        "SELECT Website FROM Account WHERE Website != null ORDER BY Name", as_user=as_user
    )
    domains = set()
    for row in rows:
        host = str(row["Website"]).split("//", 1)[-1].split("/", 1)[0].lower()
        host = host.removeprefix("www.")
        if "." in host:
            domains.add(host)
    return sorted(domains)


@dataclass
class TrafficReport:
    """What a run did, by action."""

    counts: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, int]:
        """The counts as a JSON object."""
        return dict(sorted(self.counts.items()))


Emit = Callable[[dict[str, Any]], None]


def emit_json_line(event: dict[str, Any]) -> None:
    """One JSON line on stdout, timestamped."""
    line = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}
    print(json.dumps(line, ensure_ascii=False), flush=True)


class Traffic:
    """Replays a plan against the org on the clock; stop() ends it between two actions."""

    def __init__(
        self,
        plan: TrafficPlan,
        org: OrgPort,
        people: People,
        *,
        emit: Emit = emit_json_line,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self.plan = plan
        self.org = org
        self.people = people
        self.emit = emit
        self.clock = clock
        self.stopping = stop or threading.Event()
        self.lead_ids: dict[int, str] = {}
        self.report = TrafficReport()

    def stop(self) -> None:
        """Finish the action in hand and return from run()."""
        self.stopping.set()

    def run(self) -> TrafficReport:
        """Create the leads and the responses when the plan says; returns what was done."""
        started = self.clock()
        for at, kind, lead in self.plan.actions():
            wait = started + at - self.clock()
            if wait > 0 and self.stopping.wait(wait):
                break
            if self.stopping.is_set():
                break
            try:
                if kind == "create":
                    self._create(lead)
                elif lead.index in self.lead_ids:
                    self._respond(lead)
            except TrafficError as exc:
                self.report.counts["failures"] += 1
                self.emit({"event": f"{kind}_failed", "lead": lead.index, "error": str(exc)})
        self.report.counts["stopped"] = int(self.stopping.is_set())
        return self.report

    def _create(self, lead: LeadPlan) -> None:
        lead_id = self.org.create("Lead", lead.fields, as_user=self.people.intake.username)
        self.lead_ids[lead.index] = lead_id
        self.report.counts["leads_created"] += 1
        self.emit(
            {
                "event": "lead_created",
                "lead": lead.index,
                "lead_id": lead_id,
                "segment": lead.segment,
                "intent": lead.intent,
                "country_style": lead.country_style,
                "email_kind": lead.email_kind,
                "email_domain": str(lead.fields["Email"]).split("@")[1],
                "opted_out": lead.opted_out,
                "response": lead.response.kind,
            }
        )

    def responder(self, owner_id: str | None, rep_pick: int) -> Person:
        """The lead's owner when an active user owns it, else a rep picked by the plan."""
        owner = self.people.by_id(owner_id) if owner_id else None
        return owner or self.people.reps[rep_pick % len(self.people.reps)]

    def _respond(self, lead: LeadPlan) -> None:
        lead_id = self.lead_ids[lead.index]
        kind = lead.response.kind
        intake = self.people.intake
        current = self.org.get("Lead", lead_id, ("OwnerId", "Email"), as_user=intake.username)
        rep = self.responder(current.get("OwnerId"), lead.response.rep_pick)
        rng = random.Random(f"response-{self.plan.seed}-{lead.index}")
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lead_email = str(current.get("Email") or lead.fields["Email"])
        if kind == "call":
            record_id = self.org.create(
                "Task",
                {
                    "WhoId": lead_id,
                    "OwnerId": rep.id,
                    "Subject": "Call",
                    "Type": "Call",
                    "Status": "Completed",
                    "ActivityDate": now[:10],
                    "Description": rng.choice(data.CALL_NOTES),
                },
                as_user=rep.username,
            )
            sobject = "Task"
        elif kind == "outgoing_email":
            record_id = self.org.create(
                "EmailMessage",
                {
                    "RelatedToId": lead_id,
                    "Incoming": False,
                    "Status": "3",
                    "Subject": rng.choice(data.RESPONSE_SUBJECTS),
                    "TextBody": "Hello, thanks for your interest. When would suit you for a chat?",
                    "FromAddress": rep.email,
                    "ToAddress": lead_email,
                    "MessageDate": now,
                },
                as_user=rep.username,
            )
            sobject = "EmailMessage"
        else:
            record_id = self.org.create(
                "EmailMessage",
                {
                    "RelatedToId": lead_id,
                    "Incoming": True,
                    "Status": "0",
                    "Subject": rng.choice(data.INCOMING_SUBJECTS),
                    "TextBody": "Hi, just checking whether you received my request.",
                    "FromAddress": lead_email,
                    "ToAddress": rep.email,
                    "MessageDate": now,
                },
                as_user=intake.username,
            )
            sobject = "EmailMessage"
        self.report.counts[kind] += 1
        self.emit(
            {
                "event": "response_logged",
                "lead": lead.index,
                "lead_id": lead_id,
                "kind": kind,
                "sobject": sobject,
                "record_id": record_id,
                "rep_id": rep.id,
                "owner_was_rep": rep.id == current.get("OwnerId"),
            }
        )


# -- the command -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.traffic",
        description="Create realistic leads and rep responses in a simulated org over REST.",
    )
    parser.add_argument("--connection", type=Path,
                        help="the simulator's start-up JSON line, saved to a file "
                             "(instance_url, login_url, ca_bundle, consumer_key, username, "
                             "private_key_path)")  # fmt: skip
    parser.add_argument("--leads", type=int, default=200, help="leads to create (default 200)")
    parser.add_argument("--minutes", type=float, default=2.5,
                        help="how long the run lasts (default 2.5)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="seed of the plan (default 7)")
    parser.add_argument("--api-version", default="62.0", help="REST API version (default 62.0)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan as JSON lines without touching the org")  # fmt: skip
    args = parser.parse_args(argv)
    if args.leads < 1 or args.minutes <= 0:
        parser.error("--leads must be at least 1 and --minutes positive")
    if not args.dry_run and args.connection is None:
        parser.error("--connection is required unless --dry-run")
    return args


def _plan_lines(plan: TrafficPlan) -> Iterator[dict[str, Any]]:
    for lead in plan.leads:
        yield {
            "event": "planned",
            "lead": lead.index,
            "at_seconds": lead.at_seconds,
            "segment": lead.segment,
            "intent": lead.intent,
            "country_style": lead.country_style,
            "email_kind": lead.email_kind,
            "opted_out": lead.opted_out,
            "response": lead.response.kind,
            "response_after_seconds": lead.response.after_seconds,
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the traffic; 0 when every action succeeded, 1 when some failed, 2 on bad input."""
    args = parse_args(argv)
    if args.dry_run:
        for line in _plan_lines(build_plan(args.seed, args.leads, args.minutes)):
            emit_json_line(line)
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        connection = OrgConnection.from_file(args.connection)
    except TrafficError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    with RestOrg(connection, api_version=args.api_version) as org:
        try:
            people = discover_people(org, connection.username)
            domains = account_domains(org, people.intake.username)
        except TrafficError as exc:
            emit_json_line({"event": "traffic_failed", "error": str(exc)})
            return 1
        plan = build_plan(args.seed, args.leads, args.minutes, domains)
        emit_json_line(
            {
                "event": "traffic_started",
                "leads": args.leads,
                "minutes": args.minutes,
                "seed": args.seed,
                "account_domains": len(domains),
                "reps": len(people.reps),
            }
        )
        report = Traffic(plan, org, people, stop=stop).run()
    emit_json_line({"event": "traffic_done", **report.as_json()})
    return 1 if report.counts["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
