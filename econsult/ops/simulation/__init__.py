"""The parts of `econsult simulate` that do not touch the services.

Arrivals (`arrivals`), the specialist behaviour model (`behaviour`), a synthetic on-call
month (`rota_model`), statistics, CSVs and plots (`report`, `plots`) and a progress bar
(`progress`). The driver that feeds these through the real routing, escalation and
deadline code lives with the services; nothing here imports a service, the web or the
database, so each piece can be tested on its own and reused by the rota replay.
"""
