"""The `leadfleet` command: one typer app with a sub-command per capability."""

from __future__ import annotations

import typer

from cli import (
    config,
    demo,
    dlq,
    doctor,
    flywheel,
    policy,
    report,
    route,
    sim,
    status,
    template,
    ttfr,
)

app = typer.Typer(
    name="leadfleet",
    help="Lead routing, time to first response and outreach templates for a Salesforce org.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(policy.app, name="policy")
app.add_typer(config.app, name="config")
app.add_typer(dlq.app, name="dlq")
app.add_typer(flywheel.app, name="flywheel")
route.register(app)
ttfr.register(app)
template.register(app)
sim.register(app)
demo.register(app)
report.register(app)
status.register(app)
doctor.register(app)
