"""The links in the top bar: the policy decides which pages a user may open, this
module only names them. (The only place under `http/` that asks the policy.)"""

from __future__ import annotations

from econsult.security.policy import Action, Principal, may

# (what the user may do, link, label), in the order the bar shows them.
_LINKS: tuple[tuple[Action, str, str], ...] = (
    (Action.submit_consult, "/consults/new", "New consult"),
    (Action.submit_consult, "/consults", "My consults"),
    (Action.work_queue, "/queue", "Queue"),
    (Action.view_turnaround, "/dashboard", "Dashboard"),
    (Action.view_worklist, "/worklist", "Work list"),
    (Action.manage_rota, "/rota", "Rota"),
    (Action.manage_targets, "/targets", "Targets"),
    (Action.manage_checklists, "/checklists", "Checklists"),
    (Action.manage_users, "/admin/users", "Users"),
    (Action.manage_users, "/admin/clients", "API clients"),
    (Action.review_audit, "/audit", "Audit"),
    (Action.own_account, "/account", "Account"),
)


def nav_links(user: Principal) -> list[tuple[str, str]]:
    return [(href, label) for action, href, label in _LINKS if may(user, action)]


def home_of(user: Principal) -> str:
    """Where a user lands after logging in: the first page the bar offers them."""
    links = nav_links(user)
    if not links:
        return "/login"
    # A GP's day starts at their list, not at a blank form.
    return next((href for href, _ in links if href == "/consults"), links[0][0])
