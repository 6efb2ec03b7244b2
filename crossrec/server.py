"""Where the Prefect API is, and a clear message when it is not there."""

from __future__ import annotations

import httpx

from crossrec.errors import CrossrecError

START_HINT = ("start one with `prefect server start --host 127.0.0.1` and point crossrec at it "
              "with `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`")


class ServerUnavailable(CrossrecError):
    """No Prefect API to talk to."""


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ServerUnavailable(f"no Prefect server is configured (PREFECT_API_URL is unset): "
                                f"{START_HINT}")
    return url.rstrip("/")


def check_server(url: str | None = None, timeout_s: float = 5.0) -> str:
    """The API URL, after a health check; raises :class:`ServerUnavailable` otherwise."""
    url = url or api_url()
    try:
        ok = httpx.get(f"{url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError as exc:
        raise ServerUnavailable(f"the Prefect server at {url} is not reachable ({exc}); "
                                f"{START_HINT}") from None
    if not ok:
        raise ServerUnavailable(f"the Prefect server at {url} is not healthy; {START_HINT}")
    return url
