"""Error pages: 403 and 404 in the app's layout with a way back and what to do; a plain,
self-contained 500. Under /api/ the same errors answer in the API's JSON shape."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme

from config.api import error_body

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def _back_url(request) -> str | None:
    """The page the person came from, when it is one of ours and not this one."""
    referer = request.headers.get("referer", "")
    if not referer or referer == request.build_absolute_uri():
        return None
    allowed = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return referer if allowed else None


def permission_denied(request, exception=None) -> HttpResponse:
    """handler403. Our PermissionDenied messages say what was needed; show them."""
    reason = str(exception or "") or "You do not have access to this page."
    if _is_api(request):
        return JsonResponse(error_body(403, "permission_denied", reason), status=403)
    context = {"reason": reason, "back_url": _back_url(request)}
    return render(request, "403.html", context, status=403)


def page_not_found(request, exception=None) -> HttpResponse:
    """handler404. The reason is not shown: a 404 may stand for 'not yours'."""
    if _is_api(request):
        return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
    return render(request, "404.html", {"back_url": _back_url(request)}, status=404)


def server_error(request) -> HttpResponse:
    """handler500: nothing that could fail again (no database, no context processors)."""
    if _is_api(request):
        message = "Something went wrong on our side; try again later."
        return JsonResponse(error_body(500, "server_error", message), status=500)
    return HttpResponse(loader.get_template("500.html").render(), status=500)


class NotFoundPageInDebugMiddleware:
    """With DEBUG on, Django answers a 404 with its technical page (a list of URL patterns)
    instead of handler404. `make run` serves the demo in DEBUG, so people would meet it:
    show them the app's 404 page there too. Listed last in MIDDLEWARE, so the middleware
    above it still adds its headers to the page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return page_not_found(request)
        return response
