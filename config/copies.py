"""A COPY that does not wait for its result.

A COPY of many rows leaves PostgreSQL a while of work after its last row arrives (the rows'
index entries, the statement's triggers), which the client would wait out. Within
``copies_unawaited()`` it does not: ``config.rows.insert_rows`` returns once its rows and its end
are sent, and the result (with any error) is taken before the next statement on the connection,
so this process builds its next rows meanwhile (the matching worker's batch, see
``marketplace.services.settle``)."""

import select
from contextlib import contextmanager

import psycopg
import psycopg.copy
from django.db import DatabaseError, connections, router


@contextmanager
def copies_unawaited(model):
    """Within, on PostgreSQL: a COPY by ``insert_rows`` returns as soon as its rows and its end
    are sent, and its result is read — its error raised, as Django's — by the next statement on
    ``model``'s connection (any through Django's cursors, ``config.rows``' COPY and pipeline),
    or when the block ends.
    Python work between the two runs while PostgreSQL finishes the COPY. Elsewhere, nothing."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql" or connection.__dict__.get("_copy_unawaited") is not None:
        yield
        return
    connection.ensure_connection()
    connection._copy_unawaited = False  # on, and no COPY's result outstanding

    def await_first(execute, sql, params, many, context):
        copy_await(connection)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(await_first):
            yield
            copy_await(connection)
    except BaseException:
        try:  # the connection must be free of the COPY for the rollback that follows
            copy_await(connection)
        except (DatabaseError, psycopg.Error, OSError):  # noqa: S110 (the error that ended the block is raised)
            pass
        raise
    finally:
        connection._copy_unawaited = None


def copy_await(connection) -> None:
    """Read the result of the COPY that ``copies_unawaited`` left outstanding, if any; raise its
    error as Django's."""
    if not connection.__dict__.get("_copy_unawaited"):
        return
    connection._copy_unawaited = False
    pg = connection.connection
    pgconn, error = pg.pgconn, None
    while True:
        pgconn.consume_input()
        while pgconn.is_busy():
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
            _wait(pgconn.socket, select.POLLOUT)
        while pgconn.flush():
            _wait(pgconn.socket, select.POLLOUT)
        self.django_connection._copy_unawaited = True
