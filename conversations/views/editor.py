from django.shortcuts import render

from labeling.permissions import LABELER, role_required


# Placeholder until the authoring issue lands: it keeps links to the editor valid.
@role_required(LABELER)
def editor(request, conversation_id: int):
    return render(request, "no_role.html")
