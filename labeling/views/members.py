from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from core.keyset import keyset_page_or_first
from labeling.forms import DomainForm, MemberForm
from labeling.models import User
from labeling.permissions import ADMIN, home_url_name, member_required, role_required
from labeling.selectors import MEMBER_ORDER, domain_list, member_list
from labeling.services import domain_get_or_create, member_save
from labeling.services.members import MemberError

PAGE_SIZE = 50


@member_required
def home(request):
    return redirect(home_url_name(request.user))


@member_required
def no_role(request):
    return render(request, "no_role.html")


@role_required(ADMIN)
def people(request):
    form = MemberForm(request.POST or None)
    domain_form = DomainForm()
    if request.method == "POST" and form.is_valid():
        return _save_member(request, form, existing=None)
    return render(
        request,
        "labeling/people.html",
        {
            "members": keyset_page_or_first(
                member_list(),
                ordering=MEMBER_ORDER,
                cursor=request.GET.get("cursor", ""),
                size=PAGE_SIZE,
            ),
            "domains": domain_list(),
            "form": form,
            "domain_form": domain_form,
        },
    )


@role_required(ADMIN)
def person_edit(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    initial = {
        "username": person.username,
        "email": person.email,
        "roles": person.roles,
        "labeler_domains": list(person.labeler_domains.all()),
        "reviewer_domains": list(person.reviewer_domains.all()),
        "is_active": person.is_active,
    }
    form = MemberForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        return _save_member(request, form, existing=person)
    return render(request, "labeling/person_edit.html", {"person": person, "form": form})


def _save_member(request, form: MemberForm, existing: User | None):
    data = form.cleaned_data
    if existing and data["username"] != existing.username:
        form.add_error("username", "Usernames cannot be changed.")
        return render(request, "labeling/person_edit.html", {"person": existing, "form": form})
    try:
        user, created = member_save(
            username=data["username"],
            roles=data["roles"],
            labeler_domains=[d.slug for d in data["labeler_domains"]],
            reviewer_domains=[d.slug for d in data["reviewer_domains"]],
            email=data["email"],
            password=data["password"] or None,
            is_active=data["is_active"] if existing else True,
        )
    except MemberError as error:
        messages.error(request, str(error))
        return redirect("labeling:people")
    messages.success(request, f"{'Added' if created else 'Saved'} {user.username}.")
    return redirect("labeling:people")


@role_required(ADMIN)
def domain_create(request):
    form = DomainForm(request.POST)
    if request.method == "POST" and form.is_valid():
        try:
            domain = domain_get_or_create(name=form.cleaned_data["name"])
            messages.success(request, f'Domain "{domain.slug}" is ready.')
        except MemberError as error:
            messages.error(request, str(error))
    return redirect("labeling:people")
