from django.shortcuts import render

from labeling.permissions import ADMIN, role_required


# Placeholder until the export issue lands: it keeps the navigation's link valid.
@role_required(ADMIN)
def export_list(request):
    return render(request, "no_role.html")
