"""Commands run by hand against deployed environments (teardown, diff, versions, invoke)."""


def stage_option(config, name: str):
    """The stage a `--stage NAME` option names, or a one-line UsageError listing the stages."""
    from pipeline_src.cli import UsageError

    if name not in config.stage_names:
        raise UsageError(f"--stage {name!r}: no such stage in config/{config.name}.json; "
                         f"stages: {', '.join(config.stage_names)}")
    return config.stage(name)


def refused(exc: Exception) -> int:
    """Exit status 2 and one line for input the command cannot act on: a config or usage error,
    or no AWS credentials (aws_clients.NO_CREDENTIALS says how to give them)."""
    from botocore.exceptions import NoCredentialsError

    from aws_clients import NO_CREDENTIALS
    from pipeline_src.cli import print_error

    print_error(NO_CREDENTIALS if isinstance(exc, NoCredentialsError) else exc)
    return 2
