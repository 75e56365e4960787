from django import forms

from .models import Domain, Role


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    roles = forms.MultipleChoiceField(
        choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    labeler_domains = forms.ModelMultipleChoiceField(
        Domain.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reviewer_domains = forms.ModelMultipleChoiceField(
        Domain.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Leave empty to keep the current password.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class DomainForm(forms.Form):
    name = forms.CharField(max_length=120, label="New domain")
