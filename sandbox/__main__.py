"""``python -m processmaker_prefect.sandbox --port 8080``: serve a ProcessMaker sandbox."""

from __future__ import annotations

import argparse

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import serve


def parse_config(argv: list[str] | None = None) -> SandboxConfig:
    """The sandbox settings named by the command line (defaults: ``SandboxConfig()``)."""
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m processmaker_prefect.sandbox", description=__doc__
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument("--records", type=int, default=defaults.records, help="requests to seed")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--username", default=defaults.username)
    parser.add_argument("--password", default=defaults.password)
    parser.add_argument("--pat", default=defaults.pat, help="personal access token of user 1")
    parser.add_argument("--database", default=None, help="SQLite file (default: temporary)")
    parser.add_argument(
        "--ties", type=int, default=defaults.ties, help="seeded requests per updated_at value"
    )
    parser.add_argument(
        "--distinct-updated-at", type=int, default=0,
        help="only this many updated_at values over all requests (0: off)",
    )  # fmt: skip
    parser.add_argument("--token-ttl", type=int, default=defaults.token_ttl, help="seconds")
    parser.add_argument(
        "--refresh-token-ttl", type=int, default=defaults.refresh_token_ttl, help="seconds"
    )
    parser.add_argument(
        "--personal-token-ttl", type=int, default=defaults.personal_token_ttl, help="seconds"
    )
    parser.add_argument("--certfile", default=None, help="PEM certificate: serve HTTPS")
    parser.add_argument("--keyfile", default=None, help="PEM private key of --certfile")
    parser.add_argument(
        "--hostile-data", action="store_true",
        help="add requests whose data nobody planned for (odd keys, NUL, 1 MB values...)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    config = SandboxConfig(**vars(args))
    if bool(config.certfile) != bool(config.keyfile):
        parser.error("--certfile and --keyfile go together")
    return config


def main(argv: list[str] | None = None) -> None:
    serve(parse_config(argv))


if __name__ == "__main__":
    main()
