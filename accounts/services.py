"""Operations that write accounts data. Pages, API, admin and commands all call these."""

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.keys import NewKey, key_generate
from accounts.models import ApiKey, ApiKeyScope, AuditEvent, Membership, Organisation, User
from config.errors import ExchangeError, NotAllowed

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
        raise NotAllowed("You are not a member of this organisation.", code="not_a_member")
    if administer and not membership.can_administer:
        raise NotAllowed("Only owners and administrators can do this.", code="role_required")
    if not membership.can_write:
        raise NotAllowed("Viewers cannot change anything.", code="role_required")
    return membership


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organisation_create(*, user: User, name: str, is_buyer: bool, is_provider: bool) -> Organisation:
    name = (name or "").strip()
    fields = {}
    if not name:
        fields["name"] = [{"code": "required", "detail": "Give the organisation a name."}]
    elif len(name) > 120:
        fields["name"] = [{"code": "max_length", "detail": "At most 120 characters."}]
    if not (is_buyer or is_provider):
        fields["is_buyer"] = [{"code": "no_role", "detail": "An organisation buys, provides, or both."}]
    if fields:
        raise ExchangeError("The organisation is not valid.", fields=fields)
    org = Organisation.objects.create(name=name, slug=_unique_slug(name), is_buyer=is_buyer, is_provider=is_provider)
    Membership.objects.create(user=user, organisation=org, role=Membership.Role.OWNER)
    audit_record(actor=user, action="organisation.create", organisation=org, target=org.slug)
    return org


@transaction.atomic
def membership_add(*, actor: User, organisation: Organisation, email: str, role: str) -> Membership:
    _require_role(user=actor, organisation=organisation, administer=True)
    if role not in Membership.Role.values:
        raise ExchangeError(
            "Unknown role.",
            fields={"role": [{"code": "invalid_choice", "detail": f"One of {', '.join(Membership.Role.values)}."}]},
        )
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        raise ExchangeError(
            "No user with that e-mail address; ask them to sign up first.",
            fields={"email": [{"code": "user_not_found", "detail": "No user with that e-mail address."}]},
        )
    membership, created = Membership.objects.get_or_create(
        user=user, organisation=organisation, defaults={"role": role}
    )
    if not created:
        raise ExchangeError(
            "Already a member.", fields={"email": [{"code": "already_member", "detail": "Already a member."}]}
        )
    audit_record(
        actor=actor, action="membership.add", organisation=organisation, target=user.email, detail={"role": role}
    )
    return membership


@transaction.atomic
def api_key_create(*, actor: User, organisation: Organisation, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    _require_role(user=actor, organisation=organisation, administer=True)
    fields = {}
    name = (name or "").strip()
    if not name or len(name) > 80:
        fields["name"] = [{"code": "invalid", "detail": "A name of 1 to 80 characters."}]
    scopes = list(dict.fromkeys(scopes or []))
    unknown = [s for s in scopes if s not in ApiKeyScope.values]
    if not scopes:
        fields["scopes"] = [{"code": "required", "detail": "Choose at least one scope."}]
    elif unknown:
        fields["scopes"] = [{"code": "invalid_choice", "detail": f"Unknown scope(s): {', '.join(unknown)}."}]
    elif ApiKeyScope.OPERATOR in scopes and not organisation.is_platform:
        fields["scopes"] = [
            {"code": "operator_scope", "detail": "Only the platform organisation may hold the operator scope."}
        ]
    if fields:
        raise ExchangeError("The API key is not valid.", fields=fields)
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
        raise ExchangeError("No such key.", code="not_found", status=404)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_key.revoke", organisation=organisation, target=key.lookup)
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use, at most once a minute per key, in one statement."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
