"""The Redis client behind Django's cache, kept for the process: what the throttle and the
matching wake-up call directly (one round trip each; Django's cache client makes a new Redis
client object per call, and offers no SET NX with an expiry)."""

_clients: dict[tuple, object] = {}


def cache_redis(cache=None):
    """A Redis client for ``cache`` (default: the default cache) if it is on Django's Redis
    backend, kept per set of servers (it holds a connection pool and is safe across threads);
    None for any other backend (local memory: not shared between processes)."""
    from django.core.cache import ConnectionProxy
    from django.core.cache import cache as default_cache
    from django.core.cache.backends.redis import RedisCache

    cache = default_cache if cache is None else cache
    if isinstance(cache, ConnectionProxy):  # django.core.cache.cache: this thread's default cache
        cache = cache._connections[cache._alias]
    if not isinstance(cache, RedisCache):
        return None
    servers = tuple(cache._servers)
    client = _clients.get(servers)
    if client is None:
        client = _clients[servers] = cache._cache.get_client(write=True)
    return client
