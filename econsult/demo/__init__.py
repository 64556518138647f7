"""The demo: accounts with a known password, a week of rota, and a history of
consults with realistic turnaround (`econsult demo`)."""
