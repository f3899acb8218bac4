"""Operations that write catalog and grid-connection data. Every interface (pages, API, admin,
commands, tasks) calls these; the package's modules group them by subject."""

from catalog.services.capacity import (
    Offer,
    Supply,
    capacity_commit,
    capacity_load_compact,
    capacity_load_fold,
    capacity_lock_many,
    capacity_move_many,
    capacity_offer_many,
    capacity_release,
    capacity_release_many,
    capacity_supply_lock,
)
from catalog.services.heartbeats import HeartbeatResult, heartbeat_record
from catalog.services.keys import POOL_KEY_KIND, pool_key_create, pool_key_revoke, pool_key_rotate
from catalog.services.pools import (
    SILENCE_SUSPENDS_AFTER,
    pool_apply,
    pool_reject,
    pool_resume,
    pool_suspend,
    pool_verify,
    pool_withdraw,
    pools_suspend_silent,
)
from catalog.services.reference_data import reference_data_load
from catalog.services.standing import (
    capacity_draw,
    capacity_offer_standing,
    capacity_undraw,
    capacity_withdraw_standing,
    standing_free,
    standing_free_by_hour,
)

__all__ = [
    "Offer",
    "Supply",
    "POOL_KEY_KIND",
    "SILENCE_SUSPENDS_AFTER",
    "HeartbeatResult",
    "capacity_commit",
    "capacity_draw",
    "capacity_load_compact",
    "capacity_load_fold",
    "capacity_lock_many",
    "capacity_move_many",
    "capacity_offer_many",
    "capacity_offer_standing",
    "capacity_release",
    "capacity_release_many",
    "capacity_undraw",
    "capacity_withdraw_standing",
    "capacity_supply_lock",
    "heartbeat_record",
    "pool_apply",
    "pool_key_create",
    "pool_key_revoke",
    "pool_key_rotate",
    "pool_reject",
    "pool_resume",
    "pool_suspend",
    "pool_verify",
    "pool_withdraw",
    "pools_suspend_silent",
    "reference_data_load",
    "standing_free",
    "standing_free_by_hour",
]
