"""A Salesforce org simulator for development, tests, benchmarks and demos (never production).

It plays Salesforce on the wire: HTTPS with a local CA, OAuth 2.0 JWT bearer, the REST API
(sObjects, query, composite, collections, limits, emailSimple), assignment rules, limits, a change
log for Change Data Capture, and fault injection. It imports nothing from the product.

Run it with `python -m simulator` (or `leadfleet sim serve`); in tests use
`simulator.testing.running_simulator`. Modules, by responsibility:

- server: the process (TLS files, org, ASGI app, uvicorn in a thread); options: start-up options
- gateway: faults, request log, session and limit checks, one transaction per request
- routing / rest / composite / actions: the REST resources; admin: the /__sim/ control API
- org: the org's state; store: SQLite; schema: the field catalogue; fieldvalues: JSON <-> storage
- dml: validated record writes; assignment: the Lead assignment rule; transaction: one request's work
- changelog: committed changes for CDC; query: SOQL over REST (the planner is soql.py)
- oauth, tls, ids, clock, limits, faults, requestlog, seed: what their names say
"""
