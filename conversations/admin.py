from django.contrib import admin

from labeling.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline

from .models import Conversation, Message, Notification, Ranking, Review, Revision


class MessageInline(ReadOnlyTabularInline):
    model = Message


class RankingInline(ReadOnlyTabularInline):
    model = Ranking


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "project", "labeler", "state", "version", "updated_at"]
    list_filter = ["state", "project"]
    inlines = [MessageInline, RankingInline]


admin.site.register(Revision, ReadOnlyModelAdmin)
admin.site.register(Review, ReadOnlyModelAdmin)
admin.site.register(Notification, ReadOnlyModelAdmin)
