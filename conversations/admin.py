from django.contrib import admin

from .models import Conversation, Message, Notification, Review, Revision


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "labeler", "state", "version", "updated_at"]
    list_filter = ["state", "project"]
    inlines = [MessageInline]


admin.site.register(Revision)
admin.site.register(Review)
admin.site.register(Notification)
