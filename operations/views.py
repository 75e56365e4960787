"""The queues page: what the broker holds, what the workers run, which jobs are in flight."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from labeling.permissions import can_view_queues

from .selectors import broker_overview, jobs_in_flight


@login_required
@require_GET
def queues(request):
    """Admins and staff; htmx polls `#queues` every few seconds and gets that part only."""
    if not can_view_queues(request.user):
        raise PermissionDenied("The queues page is for admins and staff.")
    now = timezone.now()
    context = {
        "overview": broker_overview(),
        "jobs": jobs_in_flight(now=now),
        "now": now,
    }
    template = "operations/queues.html#queues" if request.htmx else "operations/queues.html"
    return render(request, template, context)
