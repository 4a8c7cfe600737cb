"""The project's tests. A regular package, so `tests.*` resolves here and not to the unrelated
`tests` package a dependency (smdebug-rulesconfig) installs into site-packages, also when a test
module runs as a script."""
