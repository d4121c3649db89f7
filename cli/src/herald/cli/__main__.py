"""`herald check-config [PATH]`: validate a configuration file and its secrets."""

from __future__ import annotations

import argparse
import os
import sys

from herald.shared.config import ConfigError, load_config, resolve_secrets_check


def check_config(path: str, *, secrets: bool) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = resolve_secrets_check(config) if secrets else []
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(
        f"{path}: ok ({len(config.services)} services, {len(config.integrations)} integrations, "
        f"{len(config.oncall)} on-call targets, {len(config.channels)} channels)"
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="herald", description="Herald operator tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check-config", help="validate herald.yaml (and that its secrets resolve)"
    )
    check.add_argument(
        "path", nargs="?", default=os.environ.get("HERALD_CONFIG", "examples/herald.yaml")
    )
    check.add_argument("--no-secrets", action="store_true", help="do not try to resolve secrets")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        sys.exit(check_config(args.path, secrets=not args.no_secrets))


if __name__ == "__main__":
    main()
