"""`metrics-service token create` and `metrics-service apikey create|list|revoke`: credentials for a
server with authentication on (README, "Security")."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from console.commands.common import add_settings_options, fail, settings_from

DEFAULT_TTL = "12h"
ROLE_HELP = "viewer, ingest, operator or admin"


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("token", help="make a JWT for a user (signed with JWT_SECRET)",
                       description="Make bearer tokens signed with this server's JWT_SECRET (HS256).")
    t_sub = t.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    c = t_sub.add_parser("create", help="print a new token",
                         description="Print a token for SUB with ROLE, valid for TTL, carrying JWT_ISSUER and "
                                     "JWT_AUDIENCE when they are set.")
    c.add_argument("--role", required=True, help=ROLE_HELP)
    c.add_argument("--sub", required=True, help="who the token is for (recorded on acknowledgements, silences, audit)")
    c.add_argument("--ttl", default=DEFAULT_TTL, help=f"how long it is valid: 30m, 12h, 7d... (default {DEFAULT_TTL})")
    add_settings_options(c)
    c.set_defaults(func=create_token)

    k = sub.add_parser("apikey", help="add, list or revoke API keys (API_KEYS_FILE)",
                       description="Manage the API keys of API_KEYS_FILE (kept hashed; a key is shown once).")
    k_sub = k.add_subparsers(dest="apikey_command", metavar="SUBCOMMAND", required=True)
    a = k_sub.add_parser("create", help="add a key and print it (the only time it is shown)")
    a.add_argument("--role", required=True, help=ROLE_HELP)
    a.add_argument("--name", required=True, help="what uses the key, e.g. booking-svc")
    a.set_defaults(func=create_key)
    ls = k_sub.add_parser("list", help="list the keys' names and roles")
    ls.set_defaults(func=list_keys)
    r = k_sub.add_parser("revoke", help="remove a key (a running server stops accepting it within a second)")
    r.add_argument("--name", required=True)
    r.set_defaults(func=revoke_key)
    for p in (a, ls, r):
        add_settings_options(p)


def create_token(args: argparse.Namespace) -> int:
    from engine.settings import SettingsError, parse_duration
    from server.auth.tokens import TokenError
    from server.auth.tokens import create_token as make

    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        return fail(f"--ttl: {exc}")
    if ttl <= 0:
        return fail(f"--ttl: must be greater than zero, got {args.ttl!r}")
    try:
        print(make(settings_from(args), args.sub, args.role, ttl, time.time()))
    except (SettingsError, TokenError) as exc:
        return fail(str(exc))
    return 0


def _keys_file(args: argparse.Namespace) -> Path:
    """API_KEYS_FILE (SettingsError on bad settings, ApiKeyError when it is not set)."""
    from server.auth.apikeys import ApiKeyError

    path = settings_from(args).api_keys_file
    if path is None:
        raise ApiKeyError("API_KEYS_FILE is not set: it names the file that keeps the keys")
    return path


def create_key(args: argparse.Namespace) -> int:
    from engine.settings import SettingsError
    from engine.timefmt import rfc3339
    from server.auth.apikeys import ApiKeyError, add_key

    try:
        path = _keys_file(args)
        key = add_key(path, args.name, args.role, rfc3339(time.time()))
    except (SettingsError, ApiKeyError) as exc:
        return fail(str(exc))
    print(key)
    print(f"added {args.name} ({args.role}) to {path}; the key is shown this once only", file=sys.stderr)
    return 0


def list_keys(args: argparse.Namespace) -> int:
    from engine.settings import SettingsError
    from server.auth.apikeys import ApiKeyError, read_entries

    try:
        entries = read_entries(_keys_file(args))
    except (SettingsError, ApiKeyError) as exc:
        return fail(str(exc))
    for e in entries:
        print(f"{e['name']}\t{e['role']}\t{e.get('created', '')}")
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    from engine.settings import SettingsError
    from server.auth.apikeys import ApiKeyError, remove_key

    try:
        remove_key(_keys_file(args), args.name)
    except (SettingsError, ApiKeyError) as exc:
        return fail(str(exc))
    print(f"revoked {args.name}", file=sys.stderr)
    return 0
