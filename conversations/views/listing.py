"""The conversations page: every conversation a reviewer or admin may read, filtered."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversations.forms import ConversationFilterForm
from conversations.selectors.listing import conversation_filter_choices, conversation_list
from core.keyset import CursorError, keyset_page
from labeling.permissions import ADMIN, REVIEWER, role_required

PAGE_SIZE = 50


@role_required(ADMIN, REVIEWER)
@require_GET
def conversation_list_page(request):
    form = ConversationFilterForm(
        request.GET, choices=conversation_filter_choices(user=request.user)
    )
    page = None
    if form.is_valid():
        rows = conversation_list(user=request.user, filters=form.filters())
        try:
            page = keyset_page(
                rows, ordering=("-pk",), cursor=request.GET.get("cursor", ""), size=PAGE_SIZE
            )
        except CursorError as error:
            form.add_error(None, error.message)
    query = request.GET.copy()
    query.pop("cursor", None)
    template = "conversations/conversation_list.html"
    if request.htmx:
        template += "#results"
    return render(
        request,
        template,
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if page is not None else 400,
    )
