from django.contrib import admin

from labeling.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline

from .models import Conversation, Message, Notification, Review, Revision


class MessageInline(ReadOnlyTabularInline):
    model = Message


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "project", "labeler", "state", "version", "updated_at"]
    list_filter = ["state", "project"]
    inlines = [MessageInline]


admin.site.register(Revision, ReadOnlyModelAdmin)
admin.site.register(Review, ReadOnlyModelAdmin)
admin.site.register(Notification, ReadOnlyModelAdmin)
