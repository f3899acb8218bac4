"""The scheduler's pure core (trading standard §7, §10; docs/architecture.md, "Scheduling"): places
demands on retail listings and wholesale asks minimising price + energy at the time-of-use rate +
carbon weight × emissions, under every constraint, through an LP/MILP solved by HiGHS, with the
documented greedy rule as fallback. Pure Python + highspy (numpy), no Django import; the Django
side builds a `Problem`, calls `schedule`, shows the `Solution`."""

from marketplace.scheduling.checks import violations
from marketplace.scheduling.entry import schedule
from marketplace.scheduling.greedy import cheapest_single, greedy
from marketplace.scheduling.types import Demand, Offer, Part, Placement, Problem, Solution

__all__ = [
    "Demand",
    "Offer",
    "Part",
    "Placement",
    "Problem",
    "Solution",
    "cheapest_single",
    "greedy",
    "schedule",
    "violations",
]
