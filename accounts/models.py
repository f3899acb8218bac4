from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class EmailUserManager(UserManager):
    def _create_user_object(self, username, email, password, **extra_fields):
        email = self.normalize_email(email or username)
        user = self.model(email=email, **extra_fields)
        user.password = None
        user.set_password(password)
        return user

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        user = self._create_user_object(None, email, password, **extra_fields)
        user.save(using=self._db)
        return user

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person. Logs in by e-mail; belongs to organisations through memberships."""

    username = None
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = EmailUserManager()

    def __str__(self):
        return self.email


class OrganisationQuerySet(models.QuerySet):
    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()


class CityCore(models.TextChoices):
    """The city cores every region publishes a round trip to (data/regions.json's rtt_ms)."""

    BJ = "BJ", _("Beijing")
    SH = "SH", _("Shanghai")
    GZ = "GZ", _("Guangzhou")
    CD = "CD", _("Chengdu")


class Organisation(models.Model):
    """A company on the exchange: a buyer, a provider, both, or the platform operator."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    is_buyer = models.BooleanField(_("buys compute"), default=True)
    is_provider = models.BooleanField(_("provides compute"), default=False)
    is_platform = models.BooleanField(
        _("platform operator"), default=False, help_text=_("Members operate the exchange.")
    )
    credit_limit = models.DecimalField(
        _("credit limit (CNY)"), max_digits=20, decimal_places=2, default=0,
        help_text=_("How far below zero the prepaid funds may go for holds; set by the operator."),
    )  # fmt: skip
    stripe_account_id = models.CharField(
        _("Stripe connected account"),
        max_length=60,
        blank=True,
        validators=[RegexValidator(r"^acct_[A-Za-z0-9]+$", _("A Stripe account id, acct_…"))],
        help_text=_("Where payouts by Stripe Connect go; set by the operator."),
    )
    scheduling_priority = models.PositiveSmallIntegerField(
        _("scheduling priority class"), default=0,
        help_text=_("0 normal; higher classes (e.g. public-service workloads) are served first when a "
                    "scheduling round's demand exceeds supply. Set by the operator."),
    )  # fmt: skip
    city = models.CharField(
        _("nearest city core"), max_length=2, blank=True, choices=CityCore.choices,
        help_text=_("Where the organisation's users and data sit: the shelf shows latency to it by default."),
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_platform"], condition=Q(is_platform=True), name="one_platform_org"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="org_credit_limit_nonnegative"),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Administrator")
        TRADER = "trader", _("Trader")
        VIEWER = "viewer", _("Viewer")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.TRADER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="one_membership_per_org"),
        ]

    def __str__(self):
        return f"{self.user} @ {self.organisation} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role != self.Role.VIEWER

    @property
    def can_administer(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class InvitationQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)

    def pending(self):
        return self.filter(accepted_at__isnull=True, cancelled_at__isnull=True)

    def for_email(self, email: str):
        return self.filter(email__iexact=email)


class Invitation(models.Model):
    """An invitation to join an organisation; it becomes a membership when the invitee accepts."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"],
                condition=Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="one_pending_invitation_per_email",
            ),
        ]

    def __str__(self):
        return f"{self.email} → {self.organisation} ({self.role})"


class ApiKeyScope(models.TextChoices):
    POOLS_READ = "pools:read", _("Read pools, capacity and heartbeats")
    POOLS_WRITE = "pools:write", _("Connect and change pools, manage machine keys")
    CATALOG_READ = "catalog:read", _("Read resource classes, regions, reference prices")
    FUNDS_READ = "funds:read", _("Read balances, holds and the statement of account")
    FUNDS_WRITE = "funds:write", _("Ask for top-up references and payment intents")
    ORDERS_READ = "orders:read", _("Read orders, trades and contracts")
    ORDERS_WRITE = "orders:write", _("Place and cancel orders")
    RETAIL_READ = "retail:read", _("Read retail listings and reservations")
    RETAIL_WRITE = "retail:write", _("List capacity, withdraw listings, reserve and cancel reservations")
    DEMANDS_READ = "demands:read", _("Read scheduling demands and their proposals")
    DEMANDS_WRITE = "demands:write", _("State, confirm and cancel scheduling demands (confirming reserves and orders)")
    OPERATOR = "operator", _("Operator actions (platform organisation only)")


class ApiKeyQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)

    def active(self):
        return self.filter(revoked_at__isnull=True)


class HashedKey(models.Model):
    """A secret shown once at creation and stored only as its SHA-256 digest (see accounts.keys)."""

    name = models.CharField(max_length=80)
    lookup = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.lookup})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiKey(HashedKey):
    """A partner system's key, acting for its organisation within its scopes."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=list)

    objects = ApiKeyQuerySet.as_manager()

    class Meta(HashedKey.Meta):
        pass


class AuditEventQuerySet(models.QuerySet):
    def for_org(self, organisation):
        return self.filter(organisation=organisation)


class AuditEvent(models.Model):
    """Who did what to what, when and why. Written for every operator action and key change."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=120, help_text=_("The actor as shown, e.g. 'system'."))
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=120, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"
