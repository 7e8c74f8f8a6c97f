"""The server's TLS context from TLS_CERT_FILE/TLS_KEY_FILE, with client certificates required when
TLS_CLIENT_CA_FILE names the CA that signs them."""

from __future__ import annotations

import ssl

from engine.settings import Settings, SettingsError


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """None without TLS; a file that cannot be loaded is a ``SettingsError`` naming it."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"TLS_CERT_FILE/TLS_KEY_FILE: cannot load {settings.tls_cert_file} with "
                            f"{settings.tls_key_file}: {exc.strerror or exc}", "TLS_CERT_FILE") from None
    if settings.tls_client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"TLS_CLIENT_CA_FILE: cannot load {settings.tls_client_ca_file}: "
                                f"{exc.strerror or exc}", "TLS_CLIENT_CA_FILE") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
