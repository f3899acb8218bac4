"""Scheduling (trading standard §10, 算力调度): a buyer states a demand; a round places every
waiting demand at once across retail listings and wholesale asks with the pure solver
(``marketplace.scheduling``) and stores what it proposes; the buyer confirms, which places the
reservations and IOC orders in one transaction, or none of them."""

from marketplace.services.scheduling.confirm import demand_cancel, proposal_confirm
from marketplace.services.scheduling.demands import DemandTerms, demand_submit
from marketplace.services.scheduling.rounds import PROPOSAL_LIFETIME, problem_build, scheduling_round

__all__ = [
    "PROPOSAL_LIFETIME",
    "DemandTerms",
    "demand_cancel",
    "demand_submit",
    "problem_build",
    "proposal_confirm",
    "scheduling_round",
]
