"""Operations that write accounts data. Pages, API, admin and commands all call these."""

from decimal import Decimal, InvalidOperation

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext

from accounts.keys import NewKey, key_generate
from accounts.models import ApiKey, ApiKeyScope, AuditEvent, CityCore, Invitation, Membership, Organisation, User
from accounts.selectors import api_keys_forget, invitations_for_user
from config.errors import ExchangeError, NotAllowed, required_reason

API_KEY_KIND = "sk"


def audit_record(
    *, actor, action: str, organisation=None, target: str = "", reason: str = "", detail: dict | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=str(actor) if actor is not None and actor.is_authenticated else "system",
        organisation=organisation,
        action=action,
        target=target,
        reason=reason,
        detail=detail or {},
    )


def _require_role(*, user, organisation, administer: bool = False) -> Membership:
    membership = Membership.objects.filter(user=user, organisation=organisation).first()
    if membership is None:
        raise NotAllowed(gettext("You are not a member of this organisation."), code="not_a_member")
    if administer and not membership.can_administer:
        raise NotAllowed(gettext("Only owners and administrators can do this."), code="role_required")
    if not membership.can_write:
        raise NotAllowed(gettext("Viewers cannot change anything."), code="role_required")
    return membership


def require_writer(*, user, organisation) -> Membership:
    """The user's membership, if it may change things for the organisation (not a viewer);
    refused otherwise (``not_a_member``, ``role_required``)."""
    return _require_role(user=user, organisation=organisation)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organisation_create(*, user: User, name: str, is_buyer: bool, is_provider: bool, city: str = "") -> Organisation:
    name = (name or "").strip()
    city = (city or "").strip().upper()
    fields = {}
    if city and city not in CityCore.values:
        fields["city"] = [{"code": "invalid_choice", "detail": gettext("One of BJ, SH, GZ or CD, or none.")}]
    if not name:
        fields["name"] = [{"code": "required", "detail": gettext("Give the organisation a name.")}]
    elif len(name) > 120:
        fields["name"] = [{"code": "max_length", "detail": gettext("At most 120 characters.")}]
    if not (is_buyer or is_provider):
        fields["is_buyer"] = [{"code": "no_role", "detail": gettext("An organisation buys, provides, or both.")}]
    if fields:
        raise ExchangeError(gettext("The organisation is not valid."), fields=fields)
    org = Organisation.objects.create(
        name=name, slug=_unique_slug(name), is_buyer=is_buyer, is_provider=is_provider, city=city
    )
    Membership.objects.create(user=user, organisation=org, role=Membership.Role.OWNER)
    audit_record(actor=user, action="organisation.create", organisation=org, target=org.slug)
    return org


@transaction.atomic
def invitation_create(*, actor: User, organisation: Organisation, email: str, role: str) -> Invitation:
    """Invite someone by e-mail. Nothing says whether an account with that address exists."""
    _require_role(user=actor, organisation=organisation, administer=True)
    email = (email or "").strip().lower()
    fields = {}
    if role not in Membership.Role.values:
        fields["role"] = [
            {
                "code": "invalid_choice",
                "detail": gettext("One of %(choices)s.") % {"choices": ", ".join(Membership.Role.values)},
            }
        ]
    if role == Membership.Role.OWNER and not _is_owner(user=actor, organisation=organisation):
        fields["role"] = [{"code": "role_required", "detail": gettext("Only owners can invite owners.")}]
    if not email or "@" not in email:
        fields["email"] = [{"code": "invalid", "detail": gettext("An e-mail address.")}]
    elif Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        fields["email"] = [{"code": "already_member", "detail": gettext("Already a member.")}]
    elif Invitation.objects.for_org(organisation).pending().for_email(email).exists():
        fields["email"] = [{"code": "already_invited", "detail": gettext("An invitation is already pending.")}]
    if fields:
        raise ExchangeError(gettext("The invitation is not valid."), fields=fields)
    invitation = Invitation.objects.create(organisation=organisation, email=email, role=role, invited_by=actor)
    audit_record(
        actor=actor, action="invitation.create", organisation=organisation, target=email, detail={"role": role}
    )
    # worded now, in the inviter's language, while the request's language is active
    subject = gettext("Invitation to %(org)s on Suanli") % {"org": organisation.name}
    message = gettext(
        "%(actor)s invited you to join %(org)s as %(role)s. "
        "Sign in (or sign up with this address) and accept it on your dashboard."
    ) % {"actor": actor, "org": organisation.name, "role": role}
    transaction.on_commit(
        lambda: send_mail(
            subject=subject,
            message=message,
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    )
    return invitation


def _is_owner(*, user, organisation) -> bool:
    return Membership.objects.filter(user=user, organisation=organisation, role=Membership.Role.OWNER).exists()


@transaction.atomic
def invitation_accept(*, user: User, invitation_id: int) -> Membership:
    """The invitee (the user with the invited, verified address) joins the organisation."""
    invitation = invitations_for_user(user=user).select_for_update(of=("self",)).filter(pk=invitation_id).first()
    if invitation is None:
        raise ExchangeError(gettext("No such invitation."), code="not_found", status=404)
    membership, _ = Membership.objects.get_or_create(
        user=user, organisation=invitation.organisation, defaults={"role": invitation.role}
    )
    api_keys_forget()  # a key's creator's role is kept with the key
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(actor=user, action="invitation.accept", organisation=invitation.organisation, target=user.email)
    return membership


@transaction.atomic
def api_key_create(*, actor: User, organisation: Organisation, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    _require_role(user=actor, organisation=organisation, administer=True)
    fields = {}
    name = (name or "").strip()
    if not name or len(name) > 80:
        fields["name"] = [{"code": "invalid", "detail": gettext("A name of 1 to 80 characters.")}]
    scopes = list(dict.fromkeys(scopes or []))
    unknown = [s for s in scopes if s not in ApiKeyScope.values]
    if not scopes:
        fields["scopes"] = [{"code": "required", "detail": gettext("Choose at least one scope.")}]
    elif unknown:
        fields["scopes"] = [
            {
                "code": "invalid_choice",
                "detail": gettext("Unknown scope(s): %(scopes)s.") % {"scopes": ", ".join(unknown)},
            }
        ]
    elif ApiKeyScope.OPERATOR in scopes and not organisation.is_platform:
        fields["scopes"] = [
            {"code": "operator_scope", "detail": gettext("Only the platform organisation may hold the operator scope.")}
        ]
    if fields:
        raise ExchangeError(gettext("The API key is not valid."), fields=fields)
    new: NewKey = key_generate(API_KEY_KIND)
    key = ApiKey.objects.create(
        organisation=organisation,
        name=name,
        lookup=new.lookup,
        digest=new.digest,
        scopes=scopes,
        created_by=actor,
    )
    audit_record(
        actor=actor, action="api_key.create", organisation=organisation, target=key.lookup, detail={"scopes": scopes}
    )
    return key, new.plaintext


@transaction.atomic
def api_key_revoke(*, actor: User, organisation: Organisation, key_id: int) -> ApiKey:
    _require_role(user=actor, organisation=organisation, administer=True)
    key = ApiKey.objects.for_org(organisation).select_for_update().filter(pk=key_id).first()
    if key is None:
        raise ExchangeError(gettext("No such key."), code="not_found", status=404)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_key.revoke", organisation=organisation, target=key.lookup)
        # this process stops at once; others within API_KEY_CACHE_SECONDS (api_key_row)
        api_keys_forget(key.lookup)
        transaction.on_commit(lambda: api_keys_forget(key.lookup))
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use, at most once a minute per key, in one statement."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        api_keys_forget(key.lookup)  # the time kept with the key is now older than this


CREDIT_LIMIT_MAX = Decimal("999999999999999999.99")  # the column's 20 digits, 2 decimals


@transaction.atomic
def credit_limit_set(*, actor: User, organisation_id: int, limit, reason: str) -> Organisation:
    """The operator sets how far below zero an organisation's prepaid funds may go for holds
    (trading standard §4, §11): at least 0, whole fen; a reason is required; audited with the
    old and new limits. Setting the limit it already has changes and records nothing."""
    from accounts.selectors import user_is_operator

    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed(gettext("Only operators set credit limits."), code="operator_required")
    reason = required_reason(reason)
    try:
        limit = Decimal(str(limit).strip())
    except InvalidOperation:
        limit = None
    if limit is None or not limit.is_finite() or limit < 0 or limit > CREDIT_LIMIT_MAX:
        raise ExchangeError.on_field("credit_limit", "invalid", gettext("An amount in CNY, 0 or more."))
    if limit != limit.quantize(Decimal("0.01")):
        raise ExchangeError.on_field("credit_limit", "invalid", gettext("At most two decimals (whole fen)."))
    return _organisation_field_set(actor=actor, organisation_id=organisation_id, field="credit_limit",
                                   value=limit.quantize(Decimal("0.01")), reason=reason, shown=str)  # fmt: skip


def _organisation_field_set(
    *, actor: User, organisation_id: int, field: str, value, reason: str, shown
) -> Organisation:
    """An operator's setting of one organisation field, the value already checked: under the
    organisation's row lock; the same value again changes and records nothing; otherwise saved and
    audited as ``organisation.<field>`` with the old and new values (``shown`` writes them)."""
    org = Organisation.objects.select_for_update().filter(pk=organisation_id).first()
    if org is None:
        raise ExchangeError.on_field("organisation", "not_found", gettext("No such organisation."))
    old = getattr(org, field)
    if old == value:
        return org
    setattr(org, field, value)
    org.save(update_fields=[field])
    audit_record(actor=actor, action=f"organisation.{field}", organisation=org, target=org.slug, reason=reason,
                 detail={"from": shown(old), "to": shown(value)})  # fmt: skip
    return org


SCHEDULING_PRIORITY_MAX = 9


@transaction.atomic
def scheduling_priority_set(*, actor: User, organisation_id: int, priority, reason: str) -> Organisation:
    """The operator sets an organisation's scheduling priority class (trading standard §10: when
    a round's demand exceeds supply, higher classes are served first; 0 is normal): a whole number
    0–9, a reason required, audited with the old and new class. The same class again changes and
    records nothing."""
    from accounts.selectors import user_is_operator

    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed(gettext("Only operators set scheduling priorities."), code="operator_required")
    reason = required_reason(reason)
    try:
        priority = int(str(priority).strip())
    except ValueError:
        priority = None
    if priority is None or not 0 <= priority <= SCHEDULING_PRIORITY_MAX:
        raise ExchangeError.on_field(
            "scheduling_priority",
            "invalid",
            gettext("A whole number from 0 (normal) to %(max)s.") % {"max": SCHEDULING_PRIORITY_MAX},
        )
    return _organisation_field_set(actor=actor, organisation_id=organisation_id, field="scheduling_priority",
                                   value=priority, reason=reason, shown=int)  # fmt: skip
