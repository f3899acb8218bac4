"""The one exception type that services raise for a refused operation.

Every interface turns it into its own shape: the API into the error body
``{"code", "detail", "fields"}`` with ``status``, a page into form errors or a message.
"""

from django.utils.translation import gettext


class ExchangeError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, fields=None, status=None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        # {"field": [{"code": ..., "detail": ...}, ...]}
        self.fields = fields or {}

    def body(self) -> dict:
        """The API's error body for this refusal."""
        return {"code": self.code, "detail": self.detail, "fields": self.fields}

    @classmethod
    def on_field(cls, field: str, code: str, detail: str, **kwargs):
        """A refusal about one field: its reason code and what to do."""
        return cls(detail, code=code, fields={field: [{"code": code, "detail": detail}]}, **kwargs)


class Conflict(ExchangeError):
    code = "conflict"
    status = 409


class NotAllowed(ExchangeError):
    code = "permission_denied"
    status = 403


def required_reason(reason: str | None) -> str:
    """The reason an operator gives for an action, stripped; refused (``reason_required``) if empty."""
    reason = (reason or "").strip()
    if not reason:
        raise ExchangeError.on_field("reason", "reason_required", gettext("Say why: a reason is required."))
    return reason
