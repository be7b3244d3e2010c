"""The runtime: job lanes, applying an effect, the effect registry, parameters,
the device, CPU threads, weight files, errors, settings, and the discovery of
features' benchmarks and training commands. Imports no feature by name."""
