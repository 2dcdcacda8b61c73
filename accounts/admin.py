from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Account, ApiKey, User


class UserInline(admin.TabularInline):
    model = User
    fields = ["email", "first_name", "last_name", "is_active", "last_login"]
    readonly_fields = ["last_login"]
    extra = 0
    show_change_link = True


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        # A key made here could never be shown to anyone: use create_account or the app.
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "user_count", "webhook_count", "created_at"]
    search_fields = ["name", "users__email"]
    list_filter = ["created_at"]
    inlines = [UserInline, ApiKeyInline]

    @admin.display(description="users")
    def user_count(self, obj: Account) -> int:
        return obj.users.count()

    @admin.display(description="webhooks")
    def webhook_count(self, obj: Account) -> int:
        return obj.webhooks.count()


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "account", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    list_select_related = ["account"]
    search_fields = ["email", "first_name", "last_name", "account__name"]
    raw_id_fields = ["account"]
    fieldsets = [
        (None, {"fields": ["email", "password", "account"]}),
        ("Personal info", {"fields": ["first_name", "last_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "account", "password1", "password2"]})]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "account", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    list_select_related = ["account"]
    search_fields = ["name", "prefix", "account__name"]
    raw_id_fields = ["account"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
