from celery import shared_task

from catalog.services import capacity_load_compact, pools_suspend_silent


@shared_task(acks_late=True, reject_on_worker_lost=True)
def pools_suspend_silent_task() -> list[int]:
    """Periodic: suspend connected pools silent for 15 minutes (idempotent; re-checks under lock)."""
    return pools_suspend_silent()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def capacity_load_compact_task() -> int:
    """Periodic: fold the capacity load's change rows into one per pool, class and range."""
    return capacity_load_compact()
