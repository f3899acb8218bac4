"""Confirming a proposal places it whole or not at all: in ONE transaction every retail part
becomes a reservation (the reservations service: the pool's lock, its free units, a hold) and
every wholesale part an IOC limit buy at the part's price (the orders service: funds held,
matching after the commit). If any part is refused, everything rolls back and the demand goes
back to ``submitted`` (for the next round) with the reason. Locks follow the services' order:
the demand, the pools of the retail parts, the buyer's funds, the instruments."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from accounts.models import Organisation, User
from catalog.locks import pools_lock
from config.errors import ExchangeError
from marketplace.models import Demand, DemandStatus, PartKind, Proposal, ProposalPart, ProposalStatus, Side, TimeInForce
from marketplace.services.listings import writer_check
from marketplace.services.orders import OrderTerms, order_place_within
from marketplace.services.reservations import ReservationTerms, reservation_place_within

STALE_PROPOSAL = "proposal_expired"
CANCELLED_BY_BUYER = gettext_noop("Cancelled by the buyer.")  # stored in English, shown translated


class _Refused(ExchangeError):
    """A part (or the proposal as a whole) refused at confirmation: roll everything back."""

    status = 409


def _demand_lock(*, organisation: Organisation, demand_id: int) -> Demand:
    demand = Demand.objects.for_org(organisation).select_for_update(of=("self",)).filter(pk=demand_id).first()
    if demand is None:
        raise ExchangeError(gettext("No such demand."), code="not_found", status=404)
    return demand


def _open_proposal(demand: Demand) -> Proposal | None:
    return Proposal.objects.select_for_update(of=("self",)).filter(demand=demand, status=ProposalStatus.OPEN).first()


def _save(demand: Demand) -> None:
    demand.save(update_fields=["status", "status_changed_at", "status_changed_by", "reason"])


def _place(*, actor, organisation: Organisation, demand: Demand, proposal: Proposal, now) -> None:
    if proposal.expires_at <= now:
        raise _Refused(gettext("The proposal has expired."), code=STALE_PROPOSAL)
    parts = list(proposal.parts.select_related("instrument").order_by("pk"))
    if any(p.start < now for p in parts):
        raise _Refused(gettext("The proposal's start has passed."), code=STALE_PROPOSAL)
    retail = [p for p in parts if p.kind == PartKind.RETAIL]
    wholesale = sorted((p for p in parts if p.kind == PartKind.WHOLESALE), key=lambda p: (p.instrument_id, p.pk))
    pools_lock(pool_ids=[p.pool_id for p in retail])  # every pool first, in key order, as each sale does
    for part in retail:
        terms = ReservationTerms(listing_id=part.listing_id, units=part.units, start=part.start, end=part.end)
        try:
            part.reservation = reservation_place_within(
                actor=actor, organisation=organisation, terms=terms, idempotency_key=_part_key(demand, part)
            )
        except ExchangeError as refusal:
            raise _Refused(_part_says(part, refusal), code=refusal.code) from refusal
    for part in wholesale:
        terms = OrderTerms(instrument=part.instrument.code, side=Side.BUY, type="limit", qty=part.units,
                           tif=TimeInForce.IOC, price=part.price)  # fmt: skip
        try:
            part.order = order_place_within(
                actor=actor, organisation=organisation, terms=terms, idempotency_key=_part_key(demand, part)
            )
        except ExchangeError as refusal:
            raise _Refused(_part_says(part, refusal), code=refusal.code) from refusal
    ProposalPart.objects.bulk_update(parts, ["reservation", "order"])  # what each part became, in one statement
    proposal.status, proposal.decided_at = ProposalStatus.CONFIRMED, now
    proposal.save(update_fields=["status", "decided_at"])
    demand.transition_to(DemandStatus.CONFIRMED, actor=actor, at=now)
    _save(demand)


def _part_key(demand: Demand, part) -> str:
    return f"demand:{demand.pk}:part:{part.pk}"


def _part_says(part, refusal: ExchangeError) -> str:
    what = (
        gettext("listing #%(id)s") % {"id": part.listing_id} if part.kind == PartKind.RETAIL else part.instrument.code
    )
    return gettext("%(what)s refused %(units)s unit(s): %(detail)s") % {
        "what": what,
        "units": part.units,
        "detail": refusal.detail,
    }


def proposal_confirm(*, actor: User | None, organisation: Organisation, demand_id: int) -> Demand:
    """Confirm the demand's open proposal: every part placed in one transaction, or none. A
    refusal (a part's reason code, or ``proposal_expired``) sends the demand back to
    ``submitted`` with the reason and is raised (409). Confirming a confirmed demand changes
    nothing; one without an open proposal is ``not_proposed``."""
    writer_check(actor=actor, organisation=organisation, what="confirm demands")
    try:
        with transaction.atomic(durable=True):
            demand = _demand_lock(organisation=organisation, demand_id=demand_id)
            if demand.status == DemandStatus.CONFIRMED:
                return demand
            proposal = _open_proposal(demand) if demand.status == DemandStatus.PROPOSED else None
            if proposal is None:
                raise ExchangeError(
                    gettext("This demand has no proposal to confirm (it is %(status)s).")
                    % {"status": demand.get_status_display()},
                    code="not_proposed",
                    status=409,
                )
            _place(actor=actor, organisation=organisation, demand=demand, proposal=proposal, now=timezone.now())
            return demand
    except _Refused as refusal:
        _back_to_round(actor=actor, organisation=organisation, demand_id=demand_id, reason=refusal.detail)
        raise ExchangeError.on_field(
            "proposal",
            refusal.code,
            gettext("Nothing was placed: %(why)s The demand goes back to the next scheduling round.")
            % {"why": refusal.detail},
            status=409,
        ) from refusal


def _back_to_round(*, actor, organisation: Organisation, demand_id: int, reason: str) -> None:
    from marketplace.services.scheduling.demands import _round_soon

    now = timezone.now()
    with transaction.atomic(durable=True):
        demand = _demand_lock(organisation=organisation, demand_id=demand_id)
        proposal = _open_proposal(demand)
        if demand.status != DemandStatus.PROPOSED or proposal is None:
            return
        proposal.status, proposal.decided_at, proposal.reason = ProposalStatus.REFUSED, now, reason[:300]
        proposal.save(update_fields=["status", "decided_at", "reason"])
        demand.transition_to(DemandStatus.SUBMITTED, actor=actor, at=now, reason=reason)
        _save(demand)
        transaction.on_commit(_round_soon)


@transaction.atomic(durable=True)
def demand_cancel(*, actor: User | None, organisation: Organisation, demand_id: int) -> Demand:
    """Withdraw a demand that is waiting or proposed (its proposal lapses with it). Cancelling a
    cancelled demand changes nothing; a confirmed, expired or unplaceable one is
    ``demand_finished``."""
    writer_check(actor=actor, organisation=organisation, what="confirm demands")
    demand = _demand_lock(organisation=organisation, demand_id=demand_id)
    if demand.status == DemandStatus.CANCELLED:
        return demand
    if not demand.is_open:
        raise ExchangeError(
            gettext("The demand is already %(status)s.") % {"status": demand.get_status_display()},
            code="demand_finished",
            status=409,
        )
    now = timezone.now()
    proposal = _open_proposal(demand)
    if proposal is not None:
        proposal.status, proposal.decided_at = ProposalStatus.CANCELLED, now
        proposal.save(update_fields=["status", "decided_at"])
    demand.transition_to(DemandStatus.CANCELLED, actor=actor, at=now, reason=CANCELLED_BY_BUYER)
    _save(demand)
    return demand
