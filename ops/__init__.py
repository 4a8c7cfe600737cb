"""Commands run by hand against deployed environments (teardown, diff, versions, invoke)."""


def stage_option(config, name: str):
    """The stage a `--stage NAME` option names, or a one-line UsageError listing the stages."""
    from pipeline_src.cli import UsageError

    if name not in config.stage_names:
        raise UsageError(f"--stage {name!r}: no such stage in config/{config.name}.json; "
                         f"stages: {', '.join(config.stage_names)}")
    return config.stage(name)
