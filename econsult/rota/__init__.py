"""The on-call rota and the specialty catalogue: who is on call, absences, target
windows (staff edit them; routing reads them)."""
