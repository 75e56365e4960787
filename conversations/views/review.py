from django.shortcuts import render

from labeling.permissions import REVIEWER, role_required


# Placeholder until the review issue lands: it keeps the navigation's link valid.
@role_required(REVIEWER)
def review_queue(request):
    return render(request, "no_role.html")
