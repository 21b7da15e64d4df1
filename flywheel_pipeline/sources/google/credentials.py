"""Google credentials for a source, without the key's path or content ever in a message."""

from __future__ import annotations

from collections.abc import Sequence

import google.auth
import google.auth.credentials
import google.auth.exceptions


def google_credentials(
    scopes: Sequence[str],
    api_endpoint: str | None,
    credentials_path: str | None,
    error: type[Exception],
) -> google.auth.credentials.Credentials:
    """The service account of the key file if one is given; anonymous for a plain-HTTP
    endpoint without one (local fakes, authenticating proxies); else Application Default
    Credentials. A failure raises `error` (the source's own) naming the variable only."""
    if credentials_path:
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_file(
                credentials_path, scopes=list(scopes)
            )
        except (OSError, ValueError, KeyError) as exc:
            raise error(
                "GOOGLE_APPLICATION_CREDENTIALS: not a readable service-account key file "
                f"({type(exc).__name__})"
            ) from None
    if api_endpoint and api_endpoint.startswith("http://"):
        return google.auth.credentials.AnonymousCredentials()
    try:
        credentials, _ = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError:
        raise error(
            "GOOGLE_APPLICATION_CREDENTIALS: not set, and no application default credentials "
            "found; point it at a service-account key file with read access"
        ) from None
    return credentials
