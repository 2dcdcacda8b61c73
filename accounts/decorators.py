from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

View = Callable[..., HttpResponse]


def account_required(view: View) -> View:
    """Like login_required, and the user must belong to an account (an operator may not)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.account_id is None:
            return render(request, "accounts/no_account.html", status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapper)
