"""The conversations page: every conversation a reviewer or admin may read, filtered."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversations.forms import ConversationFilterForm
from conversations.selectors.listing import conversation_filter_choices, conversation_list
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
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "conversations/conversation_list.html"
    if request.htmx:
        template += "#results"
    return render(
        request,
        template,
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if page is not None else 400,
    )
