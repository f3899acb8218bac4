"""A COPY, or an update, that does not wait for its result.

A COPY of many rows leaves PostgreSQL a while of work after its last row arrives (the rows'
index entries, the statement's triggers), which the client would wait out. Within
``copies_unawaited()`` it does not: ``config.rows.insert_rows`` returns once its rows and its end
are sent, and the result (with any error) is taken before the next statement on the connection,
so this process builds its next rows meanwhile (the matching worker's batch, see
``marketplace.services.settle``). What it still has to wait for, it can fill with work of its own
that needs no database (``idle``): the matching worker applies its next batch there."""

import select
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg.copy
from django.db import DatabaseError, connections, router


@contextmanager
def copies_unawaited(model, *, idle: Iterator[None] | None = None):
    """Within, on PostgreSQL: a COPY by ``insert_rows`` returns as soon as its rows and its end
    are sent, and its result is read — its error raised, as Django's — by the next statement on
    ``model``'s connection (any through Django's cursors, ``config.rows``' COPY and pipeline),
    or when the block ends.
    Python work between the two runs while PostgreSQL finishes the COPY. ``idle``: steps of work
    that use no database (each a few milliseconds, the iterator advanced once per step), taken
    while the result is still being worked on instead of waiting for it; what is left of them is
    the caller's (``idle_run``). Elsewhere, nothing."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql" or connection.__dict__.get("_copy_unawaited") is not None:
        yield
        return
    connection.ensure_connection()
    connection._copy_unawaited = False  # on, and no COPY's result outstanding
    connection._copy_idle = idle

    def await_first(execute, sql, params, many, context):
        copy_await(connection)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(await_first):
            yield
            copy_await(connection)
    except BaseException:
        connection._copy_idle = None  # no more of our own work once the block failed
        try:  # the connection must be free of the COPY for the rollback that follows
            copy_await(connection)
        except (DatabaseError, psycopg.Error, OSError):  # noqa: S110 (the error that ended the block is raised)
            pass
        raise
    finally:
        connection._copy_unawaited = connection._copy_idle = None


def idle_run(steps: Iterator[None] | None) -> None:
    """What is left of ``copies_unawaited``'s idle steps, all of it now."""
    for _ in steps or ():
        pass


def statement_unawaited(connection, sql: str, params: list[str]) -> bool:
    """Within ``copies_unawaited``, send a statement that returns nothing (``sql`` with ``%s``
    placeholders, each parameter text, cast in ``sql``) and return before its result, which is
    read as a COPY's is (before the next statement); whether it did (not outside the block)."""
    if connection.__dict__.get("_copy_unawaited") is None:
        return False
    copy_await(connection)
    pgconn = connection.connection.pgconn
    query = sql % tuple(f"${number}" for number in range(1, len(params) + 1))
    with connection.wrap_database_errors:
        pgconn.send_query_params(query.encode(), [param.encode() for param in params])
        send_rest(pgconn)
    connection._copy_unawaited = True
    return True


def copy_await(connection) -> None:
    """Read the result of the COPY that ``copies_unawaited`` left outstanding, if any; raise its
    error as Django's."""
    if not connection.__dict__.get("_copy_unawaited"):
        return
    connection._copy_unawaited = False
    pg = connection.connection
    pgconn, error = pg.pgconn, None
    idle = connection.__dict__.get("_copy_idle")
    while True:
        pgconn.consume_input()
        while pgconn.is_busy():
            try:
                step = NO_STEP if idle is None else next(idle, NO_STEP)
            except BaseException:  # the result is still to read: the block's end drains it
                connection._copy_unawaited, connection._copy_idle = True, None
                raise
            if step is NO_STEP:  # nothing of our own left: wait
                idle = connection._copy_idle = None
                _wait(pgconn.socket, select.POLLIN)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            break
        if result.status != psycopg.pq.ExecStatus.COMMAND_OK and error is None:
            error = psycopg.errors.error_from_result(result, encoding=pg.info.encoding)
    if error is not None:
        with connection.wrap_database_errors:
            raise error


NO_STEP = object()  # what next(steps, NO_STEP) gives once the steps are done


def wait_writable(fd: int) -> None:
    """Until the socket takes more."""
    _wait(fd, select.POLLOUT)


def send_rest(pgconn, steps: Iterator[None] | None = None) -> None:
    """Send what the non-blocking connection still holds, as the socket takes it; between sends,
    a step of ``steps`` while any is left, else a wait until the socket takes more."""
    while pgconn.flush():
        if steps is None or next(steps, NO_STEP) is NO_STEP:
            wait_writable(pgconn.socket)


def _wait(fd: int, event: int) -> None:
    """Until the socket can be read (POLLIN) or written (POLLOUT); poll, as select() cannot
    watch a descriptor past 1023."""
    poller = select.poll()
    poller.register(fd, event)
    poller.poll()


class UnawaitedWriter(psycopg.copy.LibpqWriter):
    """Ends the COPY without waiting for its result (``config.rows.insert_rows`` within
    ``copies_unawaited``)."""

    def __init__(self, cursor, connection):
        super().__init__(cursor)
        self.django_connection = connection

    def finish(self, exc: BaseException | None = None) -> None:
        if exc is not None:
            super().finish(exc)
            return
        pgconn = self._pgconn
        while pgconn.put_copy_end() == 0:  # the connection is non-blocking: 0 is "try again"
            wait_writable(pgconn.socket)
        send_rest(pgconn)
        self.django_connection._copy_unawaited = True
