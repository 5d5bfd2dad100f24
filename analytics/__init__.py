"""Analytics: KPIs from the flywheel records, the reports and dashboard, alerts and the SLA sweeper."""
